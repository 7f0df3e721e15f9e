# shellcheck shell=sh
# The launcher's Node-free paths (docs/stage1.md, "Starting an app without Node" and "Running a
# prepared pod without Node"), sourced by bin/rkt:
#   rkt [--dir=DIR] app start UUID --app=NAME   (also `--dir DIR`, `--app NAME`, --app first)
#   rkt [--dir=DIR] run-prepared --net=none UUID (--net=none before or after the UUID)
#   rkt [--dir=DIR] run ARGS...                 (a command line that a run template answers)
# with DIR absolute and UUID a whole lowercase UUID (run-prepared: or a prefix of up to 8 hex
# digits). fast_main returns (and the launcher runs Node)
# for any other form and for every case it does not decide itself, so unusual input gets Node's
# behaviour and messages; what it decides, it answers as Node does (one line, rkt's 254).
# It runs in the launcher's own shell, with no command substitution: the only processes it starts
# are its watchdog (a subshell and its `sleep`, off the path that answers; and a `flock` to tell an
# exited pod); run-prepared execs the pod's supervisor and starts nothing else; run takes a spare
# copy of the template (or starts `cp` and `sed`, and `rm` on a failure), starts the maker of the
# next spare in the background, then execs the supervisor.

# fast_parse ARGS...: the plain form; sets fv (verb), fd (data dir), fu (uuid) or fp (a prefix
# of it), fa (app), or returns 1.
fast_parse() {
	fd=/var/lib/rkt fv='' fu='' fa='' fp=''
	case $1 in
	--dir=/*)
		fd=${1#--dir=}
		shift
		;;
	--dir)
		case $2 in /*) ;; *) return 1 ;; esac
		fd=$2
		shift 2
		;;
	esac
	case $fd in */ | *//* | */./* | */../* | */. | */..) return 1 ;; esac
	case $1 in
	run)
		# Matched whole against a template's argv (fast_run_template).
		fv=run
		return 0
		;;
	app)
		[ "$2" = start ] || return 1
		fv='app start'
		shift 2
		while [ $# -gt 0 ]; do
			case $1 in
			--app=*) fa=${1#--app=} ;;
			--app)
				[ $# -ge 2 ] || return 1
				fa=$2
				shift
				;;
			-*) return 1 ;;
			*)
				[ -z "$fu" ] || return 1
				fu=$1
				;;
			esac
			shift
		done
		# App names are [a-z0-9-] (appc's AC name, as rkt's app names); anything else: Node.
		case $fa in '' | -* | *[!a-z0-9-]*) return 1 ;; esac
		;;
	run-prepared)
		fv=run-prepared
		shift
		fn=''
		while [ $# -gt 0 ]; do
			case $1 in
			--net=none)
				[ -z "$fn" ] || return 1
				fn=1
				;;
			-*) return 1 ;;
			*)
				[ -z "$fu" ] || return 1
				fu=$1
				;;
			esac
			shift
		done
		# Without --net=none the pod's default network (CNI) needs Node.
		[ -n "$fn" ] || return 1
		# A prefix of up to 8 hex digits: what the pods' dir names give by a glob.
		case $fu in
		[0-9a-f] | [0-9a-f][0-9a-f] | [0-9a-f][0-9a-f][0-9a-f] | [0-9a-f][0-9a-f][0-9a-f][0-9a-f] | \
			[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f] | [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f] | \
			[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f] | \
			[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f])
			fp=$fu
			return 0
			;;
		esac
		;;
	*) return 1 ;;
	esac
	fast_is_uuid "$fu"
}

# fast_fail MESSAGE: Node's one-line failure of the verb, rkt's status.
fast_fail() {
	echo "$fv: $1" >&2
	exit 254
}

# fast_nopod: the pod is in no state dir: Node's message for an unknown UUID.
fast_nopod() {
	for d in embryo prepare prepared run exited-garbage garbage; do
		[ -e "$fd/pods/$d/$fu" ] && return 1
	done
	fast_fail "no matches found for \"$fu\""
}

# fast_sup POD_DIR: whether the pod's supervisor runs: the pid in `pid` holds the pod's control
# FIFO on fd 9 (supervisor.sh; what supervisorPid in engine.ts tells from its command line).
fast_sup() {
	sp=''
	[ -p "$1/stage1/ctl" ] && [ -f "$1/pid" ] || return 1
	read -r sp <"$1/pid" || return 1
	case $sp in '' | *[!0-9]*) return 1 ;; esac
	# shellcheck disable=SC3013 # dash (/bin/sh) has -ef
	[ "/proc/$sp/fd/9" -ef "$1/stage1/ctl" ]
}

# fast_app_start: `rkt app start UUID --app=NAME` (src/cli/rkt/pod/app.ts, startCommand).
fast_app_start() {
	r=$fd/pods/run/$fu
	if [ ! -d "$r" ]; then
		fast_nopod
		return 1
	fi
	if ! fast_sup "$r"; then
		# Unlocked: the pod has exited. Locked with no supervisor: Node's to say.
		flock -n -s "$r" true 2>/dev/null && fast_fail "pod $fu is not running"
		return 1
	fi
	# A sandbox: its supervisor's settings say MUTABLE=1 (from the manifest's annotation).
	m=''
	while IFS= read -r l; do
		case $l in MUTABLE=*) m=$l ;; esac
	done <"$r/stage1/sup/pod.env"
	[ "$m" = MUTABLE=1 ] || [ "$m" = "MUTABLE='1'" ] || fast_fail "pod $fu is not a sandbox (rkt app sandbox)"
	# An app of the pod (added: its settings are written); anything else is Node's to say.
	[ -f "$r/stage1/sup/app/$fa.env" ] || return 1
	s=$r/stage1/rootfs/rkt/status
	if [ -e "$s/$fa" ] || [ -e "$s/$fa-started" ]; then
		fast_fail "app \"$fa\" has already been started"
	fi
	# The app's wake FIFO (`rkt app add` made it), held read-write from before the command: the open
	# never waits, and an answer written before the wait below is kept for it. No FIFO: Node's.
	w=$r/stage1/sup/app/$fa.wait
	[ -p "$w" ] || return 1
	{ command exec 7<>"$w"; } 2>/dev/null || return 1
	# Read-write: the open never waits, whoever reads the FIFO.
	echo "start $fa" 1<>"$r/stage1/ctl"
	# The answer: the app's process started (status/APP-started, written by its poststart hook,
	# which then writes to the wake FIFO) or the app ended (status/APP, its exit code; the
	# supervisor then writes to the wake FIFO). A supervisor that dies before it takes the command
	# answers nothing: the watchdog tells (and so does it when another start of the app took the
	# answer).
	fast_watch </dev/null >/dev/null 2>&1 &
	wd=$!
	while [ ! -e "$s/$fa-started" ] && [ ! -e "$s/$fa" ]; do
		if ! fast_sup "$r"; then
			kill "$wd" 2>/dev/null
			fast_fail "pod $fu: the supervisor ended before app $fa started"
		fi
		read -r _ <&7
	done
	kill "$wd" 2>/dev/null
	exit 0
}

# fast_watch (in the background): every 0.1 s, whether the app has started or ended or the
# supervisor is gone; if so, a line on the wake FIFO (fd 7) wakes the launcher's wait, which looks
# again. Killed (TERM) once the wait is over; its sleep goes with it. It also ends if the launcher
# ($$, also in this subshell) is gone (killed while it waited).
fast_watch() {
	ws=''
	trap 'kill "$ws" 2>/dev/null; exit 0' TERM
	while :; do
		sleep 0.1 7>&- &
		ws=$!
		wait "$ws"
		kill -0 "$$" 2>/dev/null || exit 0
		if [ -e "$s/$fa-started" ] || [ -e "$s/$fa" ] || ! fast_sup "$r"; then
			echo watchdog >&7
			exit 0
		fi
	done
}

# fast_run_prepared: `rkt run-prepared --net=none UUID` of a pod whose run `rkt prepare` wrote
# (src/pod/run-pipeline.ts, prepareFastRun): execs its supervisor, as Node's plan would, if the
# stamp stage1/fast-run still holds; returns (Node runs the pod) on any doubt.
fast_run_prepared() {
	# The one pod the UUID or prefix names, and it in prepared/.
	if [ -n "$fp" ]; then
		set -- "$fd"/pods/*/"$fp"*
	else
		set -- "$fd"/pods/*/"$fu"
	fi
	[ $# -eq 1 ] || return 1
	p=$1
	u=${p##*/}
	[ "$p" = "$fd/pods/prepared/$u" ] && fast_is_uuid "$u" || return 1
	st=$p/stage1/fast-run
	[ -f "$st" ] || return 1
	# What changes Node's run: systemd's readiness and socket activation, the engine's debug line.
	[ -z "${NOTIFY_SOCKET+1}${LISTEN_FDS+1}${LISTEN_PID+1}${LISTEN_FDNAMES+1}${RKT_DEBUG_ENGINE+1}" ] || return 1
	# Rocket rebuilt or the supervisor changed since, or the host's resolv.conf (copied in): stale.
	sv=$ROCKET_HOME/src/stage1/oci/supervisor.sh
	for f in "$sv" "$ROCKET_HOME/dist/src/cli/rkt.js" "$ROCKET_HOME/dist/bundle/rkt.blob" /etc/resolv.conf; do
		# shellcheck disable=SC3013 # dash (/bin/sh) has -nt
		[ "$f" -nt "$st" ] && return 1
	done
	b=''
	read -r b </proc/sys/kernel/random/boot_id || return 1
	# Every line must hold: the format, this Rocket, this data dir, this boot (the loggers' clock),
	# the same PATH and runtime and log settings, and each app's tree still in the store.
	k=''
	while IFS= read -r l; do
		case $l in
		RKT_FAST_RUN=1 | "HOME=$ROCKET_HOME" | "DIR=$fd" | "BOOT=$b" | "PATH=$PATH" | \
			"RKT_OCI_RUNTIME=${RKT_OCI_RUNTIME-}" | "RKT_LOG_MAX_SIZE=${RKT_LOG_MAX_SIZE-}")
			k=$k.
			;;
		NEED=/*) [ -d "${l#NEED=}" ] || return 1 ;;
		*) return 1 ;;
		esac
	done <"$st"
	[ "$k" = ....... ] || return 1
	exec /bin/sh "$sv" "$p" "$fd/pods/run/$u"
}

# fast_argv FILE ARGS...: whether FILE holds exactly ARGS, one a line.
fast_argv() {
	fg=$1
	shift
	while IFS= read -r l; do
		[ $# -gt 0 ] || return 1
		case $l in "$1") ;; *) return 1 ;; esac
		shift
	done <"$fg"
	[ $# -eq 0 ]
}

# fast_run_template ARGS...: `rkt [--dir=DIR] run ...` whose whole command line is a run
# template's (src/pod/run-template.ts, written by Node's run of the same command line): takes a
# spare copy of the template's pod under a new UUID (or copies it now) and execs its supervisor, as
# Node's plan would, if the stamp
# still holds; returns (Node runs the command, and writes the template anew) on any doubt.
fast_run_template() {
	[ -z "${NOTIFY_SOCKET+1}${LISTEN_FDS+1}${LISTEN_PID+1}${LISTEN_FDNAMES+1}${RKT_DEBUG_ENGINE+1}" ] || return 1
	tr=$fd/cache/run-template t=''
	for c in "$tr"/t.*; do
		[ -f "$c/argv" ] && fast_argv "$c/argv" "$@" && t=$c && break
	done
	[ -n "$t" ] || return 1
	st=$t/stamp
	[ -f "$st" ] || return 1
	# The stamp must be strictly newer than Rocket's files, the host's resolv.conf (copied in) and
	# the store's database (any fetch, image rm or gc writes it): otherwise the template is stale.
	sv=$ROCKET_HOME/src/stage1/oci/supervisor.sh
	for f in "$sv" "$ROCKET_HOME/src/stage1/oci/fast.sh" "$ROCKET_HOME/dist/src/cli/rkt.js" \
		"$ROCKET_HOME/dist/bundle/rkt.blob" /etc/resolv.conf "$fd"/cas/db/*; do
		[ -e "$f" ] || continue
		# shellcheck disable=SC3013 # dash (/bin/sh) has -nt
		[ "$st" -nt "$f" ] || return 1
	done
	b=''
	read -r b </proc/sys/kernel/random/boot_id || return 1
	# Every line must hold: the format, this Rocket, data dir, boot, the same environment, each
	# app's tree still in the store; UUID is the template pod's, SUB a file that holds it.
	k='' ou=''
	set --
	while IFS= read -r l; do
		case $l in
		RKT_RUN_TEMPLATE=1 | "HOME=$ROCKET_HOME" | "DIR=$fd" | "BOOT=$b" | "PATH=$PATH" | \
			"RKT_OCI_RUNTIME=${RKT_OCI_RUNTIME-}" | "RKT_LOG_MAX_SIZE=${RKT_LOG_MAX_SIZE-}" | \
			"RKT_STOP_TIMEOUT=${RKT_STOP_TIMEOUT-}" | "XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR-}")
			k=$k.
			;;
		UUID=*)
			[ -z "$ou" ] || return 1
			ou=${l#UUID=}
			;;
		NEED=/*) [ -d "${l#NEED=}" ] || return 1 ;;
		SUB=*) set -- "$@" "${l#SUB=}" ;;
		*) return 1 ;;
		esac
	done <"$st"
	[ "$k" = ......... ] && [ $# -gt 0 ] && fast_is_uuid "$ou" || return 1
	# The pod: a spare copy that an earlier run made (fast_spare), claimed by creating its
	# pod-created file (noclobber: O_EXCL, so that two launchers never take the same one; a
	# template and its spares have none, which also dates the pod now); else a copy made now,
	# beside the templates (the same filesystem as pods/: the supervisor renames it into run/). A
	# template being replaced or removed is renamed away first, so cp fails rather than copy half
	# of one. Then the new UUID in the files that held the old.
	s='' u=''
	set -C
	for c in "$t"/spare.*; do
		if [ -d "$c" ] && { true >"$c/pod-created"; } 2>/dev/null; then
			s=$c
			break
		fi
	done
	set +C
	if [ -n "$s" ]; then
		u=${s##*/spare.}
		fast_is_uuid "$u" || return 1
	else
		read -r u </proc/sys/kernel/random/uuid || return 1
		s=$tr/s.$u
		if ! cp -a "$t/pod" "$s" 2>/dev/null || [ ! -f "$s/pod" ] || [ ! -f "$s/stage1/sup/pod.env" ]; then
			rm -rf "$s"
			return 1
		fi
		if ! fast_subst "$s" "$u" "$@" || ! true >"$s/pod-created"; then
			rm -rf "$s"
			return 1
		fi
	fi
	# The next run's spare, made off the path: in a grandchild, which nobody waits for (the
	# supervisor's `wait` would, were it its child), at the lowest priority, so that it takes the
	# CPU that the pod's start leaves.
	# shellcheck disable=SC2016 # the inner sh's own variables
	(nice -n 19 /bin/sh -c '. "$1"; shift; fast_spare "$@"' sh "$ROCKET_HOME/src/stage1/oci/fast.sh" "$t" "$ou" "$@" &) \
		</dev/null >/dev/null 2>&1
	exec /bin/sh "$sv" "$s" "$fd/pods/run/$u"
}

# fast_subst DIR UUID SUB...: the template's UUID ($ou) replaced by UUID in the files SUB of DIR.
fast_subst() {
	fs=$1 fn=$2
	shift 2
	n=$#
	while [ "$n" -gt 0 ]; do
		set -- "$@" "$fs/$1"
		shift
		n=$((n - 1))
	done
	sed -i "s/$ou/$fn/g" "$@" 2>/dev/null
}

# fast_spare TEMPLATE UUID SUB... (in the background): a spare of TEMPLATE (whose pod has UUID in
# its files SUB) for a later run, unless an unclaimed one is there: a copy under a new UUID, made
# beside the templates in m.UUID and renamed into TEMPLATE/spare.UUID once whole (if the template
# has been replaced or removed meanwhile, the rename fails); on any failure, nothing is left.
# `rkt gc` removes an m.* that a killed maker left.
fast_spare() {
	t=$1 ou=$2
	shift 2
	for c in "$t"/spare.*; do
		[ -d "$c" ] && [ ! -e "$c/pod-created" ] && return 0
	done
	v=''
	read -r v </proc/sys/kernel/random/uuid || return 0
	m=${t%/*}/m.$v
	cp -a "$t/pod" "$m" && fast_subst "$m" "$v" "$@" && mv "$m" "$t/spare.$v" && return 0
	rm -rf "$m"
}

# fast_is_uuid S: whether S is a whole lowercase UUID.
fast_is_uuid() {
	case $1 in
	[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) return 0 ;;
	esac
	return 1
}

fast_main() {
	fast_parse "$@" || return 0
	case $fv in
	run) fast_run_template "$@" ;;
	run-prepared) fast_run_prepared ;;
	*) fast_app_start ;;
	esac
	return 0
}
