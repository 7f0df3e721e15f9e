#!/bin/sh
# The oci engine's pod supervisor (docs/stage1.md, "The supervisor"): one fixed POSIX sh program,
# the same for every pod. Stage0 writes the pod's settings and one settings file per app into the
# prepared pod dir (stage1/sup/, see src/stage1/oci/sup-files.ts); the launcher execs this with
#   sh supervisor.sh PREPARED_DIR RUN_DIR
# It takes the pod lock (fd 3; inherited by the app subshells and the runtime monitors, so the pod
# stays "running" exactly while any of them lives), renames the pod into run/, mounts, makes the
# namespaces, and runs the apps. It then reads commands, one a line, from the FIFO stage1/ctl:
#   start APP        start an app whose files are in stage1/sup/app/APP.env
#   stop-app APP [S] stop one app: TERM, KILL after S seconds (default: the pod's stop timeout)
#   rm APP           forget a stopped app: delete its container, unmount its rootfs
#   stop [S]         stop the pod: TERM to every app, KILL after S seconds
# and from itself (its traps and its children write to the FIFO too):
#   exit APP | wake | timeout
# A pod from `rkt run` (MUTABLE empty) stops the other apps when one fails and ends when every app
# has ended; a sandbox (MUTABLE=1) lives until it is stopped, its apps independent of each other.
# BB, when set, is a busybox (src/host/busybox.ts) whose `mv`, `mount`, `umount` and `ln` it runs
# instead of coreutils' and util-linux's: one static binary, each about 0.5-1 ms less to start.
# The nspawn engine runs this as its container's init, with LOCKED=1 (its plan has taken the lock
# and renamed the pod) and RT its chroot launcher (src/stage1/nspawn/chroot.sh) instead of a runtime.
# shellcheck disable=SC2034 # variables set here are read by eval'ed settings and vice versa

P=$1 R=$2
[ -n "${RKT_DEBUG_SUPERVISOR-}" ] && set -x
U=${R##*/}
D=stage1/sup
# Settings: the pod's (written by stage0 with every value quoted).
if [ ! -f "$P/$D/pod.env" ]; then
	echo "rkt: pod $U is not prepared (already running?)" >&2
	exit 254
fi
# shellcheck source=/dev/null
. "$P/$D/pod.env"

# Socket activation: the fds systemd passed (3..) wait at 5.. before fds 3 and 4 are taken.
# Highest first: each move must not overwrite an fd still to be moved.
case ${LISTEN_COUNT:-0} in
1) exec 5<&3 ;;
2) exec 6<&4 5<&3 ;;
3) exec 7<&5 6<&4 5<&3 ;;
4) exec 8<&6 7<&5 6<&4 5<&3 ;;
esac
SDN=${NOTIFY_SOCKET-}
unset NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES

S=$R/stage1/rootfs/rkt/status
M=$R/stage1/stopping
CTL=$R/stage1/ctl
rt() { eval "$RT"' "$@"'; }

# `command`: a failed redirection of the special builtin exec must not end the shell. The
# `2>/dev/null` is on a group: on `exec` itself it would silence the apps' stderr for good.
{ command exec 4<&0; } 2>/dev/null || exec 4</dev/null
if [ -n "${LOCKED-}" ]; then
	# The engine's plan has locked the pod, moved it into run/ and written `pid` (nspawn: this
	# supervisor is the init of the pod's container; the CRI service: it started this itself).
	:
elif ! { command exec 3<"$P"; } 2>/dev/null || ! flock -x -n 3 || ! ${BB:+"$BB"} mv "$P" "$R"; then
	echo "rkt: pod $U is not prepared (already running?)" >&2
	exit 254
else
	echo $$ >"$R/pid"
fi

# The runtime's state dir tells whether a container still exists (`run` deletes it on exit).
del() {
	for id; do [ -d "$ST/$id" ] && rt delete -f "$id" >/dev/null 2>&1; done
	return 0
}

# load APP: the app's settings into ID, BUNDLE, OVL, TARGET, PRE_*, POST_*, NOTIFY, LISTEN_*.
load() {
	ID='' BUNDLE='' OVL='' TARGET='' PRE_N=0 POST_N=0 NOTIFY='' LISTEN_ARGS='' LISTEN_REDIR=''
	IO_TTY='' IO_IN='' IO_OUT='' IO_ERR='' IO_ONCE='' CRILOG=''
	# shellcheck source=/dev/null
	. "$R/$D/app/$1.env"
}

# wake APP WORD: WORD on the app's wake FIFO, if it has one (an added app's, see fast.sh), for a
# waiting `rkt app start`; read-write, so the open never blocks, whoever reads.
wake() {
	[ -p "$R/$D/app/$1.wait" ] && echo "$2" 1<>"$R/$D/app/$1.wait"
	return 0
}

# forget APP: its containers (handlers and the main one) deleted. (No command substitution here or
# in other frequent paths: each is a fork.)
forget() {
	load "$1"
	i=0
	while [ "$i" -lt "$PRE_N" ]; do eval "del \"\$PRE_ID_$i\""; i=$((i + 1)); done
	del "$ID"
	i=0
	while [ "$i" -lt "$POST_N" ]; do eval "del \"\$POST_ID_$i\""; i=$((i + 1)); done
	return 0
}

# release [-n] APP...: unmounts the apps' rootfs (with -n, the namespace files too), then removes
# their log FIFOs and attach endpoints (with -n, the namespace files): one umount and one rm for
# them all.
release() {
	ns=''
	if [ "$1" = -n ]; then
		ns=1
		shift
	fi
	ra=$*
	set --
	for n in $ra; do
		load "$n"
		[ -n "$OVL" ] && set -- "$@" "$TARGET"
	done
	if [ -n "$ns" ]; then for f in $NS_FILES; do set -- "$@" "$R/$f"; done; fi
	[ $# -gt 0 ] && ${BB:+"$BB"} umount "$@" 2>/dev/null
	set --
	for n in $ra; do
		if [ -n "$LOGS" ]; then
			for f in "$R/logs/$n/stdout.fifo" "$R/logs/$n/stderr.fifo"; do [ -p "$f" ] && set -- "$@" "$f"; done
		fi
		[ -e "$R/stage1/attach/$n" ] && set -- "$@" "$R/stage1/attach/$n"
	done
	if [ -n "$ns" ]; then for f in $NS_FILES; do set -- "$@" "$R/$f"; done; fi
	[ $# -gt 0 ] && rm -rf "$@"
	return 0
}

cleanup() {
	[ -n "$MDS_UNREGISTER" ] && eval "$MDS_UNREGISTER"
	for n in $APPS; do forget "$n"; done
	# The pod-wide PID namespace's holder (unshare, which ignores TERM): its init dies with it
	# (--kill-child), and the kernel kills what is left in the namespace.
	[ -n "$pidns" ] && kill -s KILL "$pidns" 2>/dev/null && wait "$pidns"
	[ -z "$cnibg" ] && [ -n "$CNI" ] && [ -f "$R/$CNI_TEARDOWN" ] && RKT_NETNS_MOUNTED=1 sh "$R/$CNI_TEARDOWN" "$R"
	# shellcheck disable=SC2086 # app names, one word each
	release -n $APPS
	rmdir /sys/fs/cgroup/*/"$CGP" "/sys/fs/cgroup/$CGP" 2>/dev/null
	return 0
}

fail() {
	echo "rkt: $*" >&2
	cleanup
	exit 254
}

# key APP: a shell variable suffix for the app (app names are [a-z0-9-]: each - becomes _).
key() {
	k='' r=$1
	while :; do
		case $r in
		*-*)
			k=$k${r%%-*}_
			r=${r#*-}
			;;
		*)
			k=$k$r
			return 0
			;;
		esac
	done
}

# The control FIFO (unless the starter made it: the CRI service, by mknod), and the log FIFOs of
# the apps started at once: one mkfifo, or none.
set --
[ -p "$CTL" ] || set -- "$CTL"
if [ -n "$LOGS" ]; then
	for n in $INITIAL_APPS; do
		[ -d "$R/logs/$n" ] && [ ! -e "$R/logs/$n/stdout.fifo" ] && set -- "$@" "$R/logs/$n/stdout.fifo" "$R/logs/$n/stderr.fifo"
	done
fi
[ $# -eq 0 ] || mkfifo "$@" || fail 'cannot create the control FIFO'
exec 9<>"$CTL"
pidns=''
if [ -n "$NS_CREATE" ]; then eval "$NS_CREATE" || fail 'cannot create the pod namespaces'; fi
# PIDNS (a CRI sandbox whose containers share one PID namespace): the namespace, bound at $R/$PIDNS
# for the apps' configs to join, and its init, which lives as long as the pod and reaps the
# namespace's orphans (the shell's wait reaps any child). Its start is known by the file it makes
# (in its working dir: the containers see its command line, which names no host path). It dies
# with the supervisor, also a killed one (setpriv's parent-death signal).
if [ -n "${PIDNS-}" ]; then
	NS_FILES="$NS_FILES $PIDNS"
	: >"$R/$PIDNS" || fail 'cannot create the pod PID namespace'
	(cd "$R/stage1" && exec setpriv --pdeathsig KILL unshare --pid="$R/$PIDNS" --fork --kill-child sh -c \
		'trap "exit 0" TERM; : >pidns-up; cd /; while :; do sleep infinity & wait; done' rkt-pod) \
		</dev/null >/dev/null 2>&1 3<&- 4<&- 9<&- &
	pidns=$!
	w=0
	while [ ! -e "$R/stage1/pidns-up" ]; do
		if ! kill -0 "$pidns" 2>/dev/null || [ "$w" -ge 1000 ]; then fail 'cannot create the pod PID namespace'; fi
		sleep 0.01
		w=$((w + 1))
	done
fi
if [ -n "$LOGS" ]; then
	export LOGMAX LOGEPOCH
fi
if [ -n "$RELAY_APPS" ]; then
	# shellcheck disable=SC2086 # app names, one word each
	(cd "$R/stage1/notify" && exec perl "$R/stage1/notify-relay.pl" "$S" $$ $RELAY_APPS) </dev/null 3<&- 4<&- 9<&- ||
		fail 'cannot start the sd_notify relay'
fi

# lg APP STREAM: starts the logger of one of the app's streams (it ends at the FIFO's EOF; it ignores
# HUP and TERM); lp=its pid. With CRILOG (an app of the CRI service), it also appends each record to
# that file, the CRI's log_path, both streams into one. An app with a stdin stream (IO_IN: attached
# to, maybe interactively) has a chunker in front (perl, sysread): each read's lines as `F` records,
# and what follows the last newline (a prompt, say) as a `P` record at once (LOGCHUNKS), so that
# an attach, which follows the log, sees it before the newline comes.
lg() {
	(
		trap '' HUP TERM
		# shellcheck disable=SC2030,SC2031 # each logger's own environment
		export LOGF="$R/logs/$1/$2.log" LOGSTREAM="$2" CRILOG
		if [ -n "$IO_IN" ]; then
			export LOGCHUNKS=1
			# shellcheck disable=SC2016 # perl's variables
			set -- "$R/logs/$1/$2.fifo" "$2" \
				'while(sysread(STDIN,$b,65536)){$o="";while($b=~/\G([^\n]*)\n/gc){$o.="F$1\n"}$r=substr($b,pos($b)//0);$o.="P$r\n" if length $r;syswrite(STDOUT,$o)}'
			if [ "$2" = stdout ]; then
				perl -e "$3" <"$1" | mawk -W interactive -f "$R/stage1/logger.awk"
			else
				perl -e "$3" <"$1" | mawk -W interactive -f "$R/stage1/logger.awk" >&2
			fi
			exit
		fi
		if [ "$2" = stdout ]; then
			exec mawk -W interactive -f "$R/stage1/logger.awk" <"$R/logs/$1/stdout.fifo"
		else
			exec mawk -W interactive -f "$R/stage1/logger.awk" <"$R/logs/$1/stderr.fifo" >&2
		fi
	) 3<&- 4<&- 9<&- &
	lp=$!
}

# attach APP: the app's attach endpoints (`rkt attach`), in stage1/attach/APP/, each a socat that
# lives as long as the app: with IO_TTY a pty (its link `tty`) served on tty.sock; else a FIFO per
# stream in IO_IN, IO_OUT, IO_ERR served on <stream>.sock. Sets the runtime's redirections (ai, ao,
# ae; eval'ed), the socat pids (sp) and, with a pty, the pid of its holder (th). A connection to a stream's socket gets what the app writes
# from then on; what it wrote meanwhile waits in the FIFO (or the pty) until its buffer is full.
# Each socat leads a session of its own (setsid), so that endpoints ends it with the
# connections it forked (a pty's would otherwise keep an attach open after the app).
# shellcheck disable=SC2016 # the redirections are expanded by the eval that runs the app
attach() {
	A=$R/stage1/attach/$1 sp='' th=''
	[ -n "$IO_TTY$IO_IN$IO_OUT$IO_ERR" ] || return 0
	mkdir -p "$A" || return 1
	if [ -n "$IO_TTY" ]; then
		# wait-slave: socat keeps no fd of the pty's slave side, so that once the last one closes
		# the process serving an attached client reads what is left and gets EIO (see endpoints).
		# It listens once the slave side is open: the holder (th), until the app has ended.
		setsid socat PTY,link="$A/tty",rawer,wait-slave,pty-interval=0.01 UNIX-LISTEN:"$A/tty.sock",fork,unlink-early \
			</dev/null >/dev/null 2>&1 3<&- 4<&- 9<&- &
		sp=$!
		w=0
		while [ ! -e "$A/tty" ]; do
			kill -0 "$sp" 2>/dev/null && [ "$w" -lt 1000 ] || return 1
			sleep 0.01
			w=$((w + 1))
		done
		sleep infinity <>"$A/tty" >/dev/null 2>&1 3<&- 4<&- 9<&- &
		th=$!
		while [ ! -S "$A/tty.sock" ]; do
			kill -0 "$sp" 2>/dev/null && [ "$w" -lt 1000 ] || return 1
			sleep 0.01
			w=$((w + 1))
		done
		ai='<"$A/tty"' ao='>"$A/tty"' ae='2>"$A/tty"'
		return 0
	fi
	if [ -n "$IO_IN" ] && [ -n "$IO_ONCE" ]; then
		# IO_ONCE (a CRI container with stdin_once): one connection, whose end is the end of the
		# app's stdin. The socat holds the FIFO open for writing (fd 3) from the start, so the app's
		# read-only open does not wait and its reads block until then; when the first connection
		# ends, socat exits and the app reads EOF.
		mkfifo "$A/stdin" || return 1
		setsid socat -u UNIX-LISTEN:"$A/stdin.sock",unlink-early OPEN:"$A/stdin",wronly \
			</dev/null >/dev/null 2>&1 3<>"$A/stdin" 4<&- 9<&- &
		sp=$!
		ai='0<"$A/stdin"'
	elif [ -n "$IO_IN" ]; then
		mkfifo "$A/stdin" || return 1
		setsid socat -u UNIX-LISTEN:"$A/stdin.sock",fork,unlink-early OPEN:"$A/stdin",wronly \
			</dev/null >/dev/null 2>&1 3<&- 4<&- 9<&- &
		sp=$!
		# Read-write: the open does not wait for a writer, and no attach ending closes the app's stdin.
		ai='0<>"$A/stdin"'
	fi
	if [ -n "$IO_OUT" ]; then
		mkfifo "$A/stdout" || return 1
		setsid socat -u OPEN:"$A/stdout",rdonly UNIX-LISTEN:"$A/stdout.sock",fork,unlink-early \
			</dev/null >/dev/null 2>&1 3<&- 4<&- 9<&- &
		sp="$sp $!"
		ao='1<>"$A/stdout"'
	fi
	if [ -n "$IO_ERR" ]; then
		mkfifo "$A/stderr" || return 1
		setsid socat -u OPEN:"$A/stderr",rdonly UNIX-LISTEN:"$A/stderr.sock",fork,unlink-early \
			</dev/null >/dev/null 2>&1 3<&- 4<&- 9<&- &
		sp="$sp $!"
		ae='2<>"$A/stderr"'
	fi
	return 0
}

# endpoints: ends the app's attach endpoints (each socat's process group). With a pty, what the
# app wrote last may still be on its way to an attached client: the holder ends, so that the pty's
# slave side is closed everywhere; the listening socat ends (the socket goes); the socat serving a
# client, in its process group, reads the pty to its end (EIO), passes it on and ends: it is waited
# for (2 s at most, for a process of the app's that still holds the pty) before the group is ended.
endpoints() {
	if [ -n "$th" ]; then
		kill -s KILL "$th" 2>/dev/null # (app ignores TERM, and so does its child)
		wait "$th" 2>/dev/null
		th=''
		kill -s TERM "$sp" 2>/dev/null
		wait "$sp" 2>/dev/null
		w=0
		while kill -0 -- "-$sp" 2>/dev/null && [ "$w" -lt 200 ]; do
			sleep 0.01
			w=$((w + 1))
		done
	fi
	for p in $sp; do kill -s TERM -- "-$p" 2>/dev/null; done
	return 0
}

# handler VAR_PREFIX I: runs an event handler's container to its end; rc=its status.
handler() {
	hid='' hb=''
	eval "hid=\$${1}_ID_$2 hb=\$${1}_B_$2"
	rt run --bundle "$hb" "$hid" </dev/null 4<&- 9<&-
	rc=$?
	del "$hid"
}

# app APP (in a background subshell): pre-start handlers, the main container, post-stop handlers;
# records the exit code and tells the supervisor. It outlives signals sent to the whole process
# group or cgroup (^C, a terminal's HUP, systemd's KillMode=control-group): the supervisor decides
# how to stop. The runtimes reset ignored signals in the container.
app() {
	trap '' INT TERM HUP
	load "$1"
	rc=0 i=0
	while [ "$rc" = 0 ] && [ "$i" -lt "$PRE_N" ]; do handler PRE "$i"; i=$((i + 1)); done
	if [ "$rc" = 0 ] && [ ! -e "$M" ] && [ ! -e "$S/$1-stopping" ]; then
		# shellcheck disable=SC2016 # expanded by the eval below
		if [ -n "$LOGS" ]; then
			ai='</dev/null' ao='>"$R/logs/$1/stdout.fifo"' ae='2>"$R/logs/$1/stderr.fifo"'
		else
			ai='<&4' ao='' ae=''
		fi
		if attach "$1"; then
			lo='' le=''
			if [ -n "$LOGS" ] && [ -z "$IO_TTY$IO_OUT" ]; then lg "$1" stdout && lo=$lp; fi
			if [ -n "$LOGS" ] && [ -z "$IO_TTY$IO_ERR" ]; then lg "$1" stderr && le=$lp; fi
			eval "rt run $LISTEN_ARGS--bundle \"\$BUNDLE\" \"\$ID\" $ai 4<&- 9<&- $ao $ae $LISTEN_REDIR"
			rc=$?
			endpoints
			# shellcheck disable=SC2086 # pids, one word each
			[ -n "$lo$le" ] && wait $lo $le
		else
			echo "rkt: cannot make the attach endpoints of app $1" >&2
			endpoints
			rc=254
		fi
	fi
	del "$ID"
	i=0
	while [ "$i" -lt "$POST_N" ]; do handler POST "$i"; i=$((i + 1)); done
	echo "$rc" >"$S/$1"
	wake "$1" exited
	echo "exit $1" >&9
}

# start APP: mounts its rootfs and starts its subshell. A second start of an app is refused.
start() {
	key "$1"
	if [ ! -f "$R/$D/app/$1.env" ]; then
		echo "rkt: no app $1 in pod $U" >&2
		return 1
	fi
	eval "[ -z \"\$pid_$k\" ]" || return 1
	load "$1"
	if [ -n "$OVL" ] && ! ${BB:+"$BB"} mount -t overlay overlay -o "$OVL" "$TARGET"; then
		echo "rkt: cannot mount the rootfs of app $1" >&2
		echo 254 >"$S/$1"
		wake "$1" exited
		return 1
	fi
	if [ -n "$LOGS" ] && [ ! -p "$R/logs/$1/stdout.fifo" ]; then
		mkfifo "$R/logs/$1/stdout.fifo" "$R/logs/$1/stderr.fifo" || {
			echo 254 >"$S/$1"
			wake "$1" exited
			return 1
		}
	fi
	app "$1" &
	eval "pid_$k=\$!"
	case " $APPS " in *" $1 "*) ;; *) APPS="${APPS:+$APPS }$1" ;; esac
}

T=${RKT_STOP_TIMEOUT:-$STOP_TIMEOUT}
stopping='' requested='' timer='' failed='' ready='' cnibg=''

# term: SIGTERM, once, to each app to be stopped whose process has started (its poststart hook's
# marker): a TERM that reaches a container before its start makes runc fail. Others get it later.
term() {
	for n in $APPS; do
		[ -n "$stopping$requested" ] || [ -e "$S/$n-stopping" ] || continue
		if [ ! -e "$S/$n-started" ] || [ -f "$S/$n" ]; then continue; fi
		key "$n"
		eval "[ -z \"\$tm_$k\" ]" || continue
		eval "tm_$k=1"
		load "$n"
		rt kill "$ID" TERM >/dev/null 2>&1
		reterm "$ID" "$n"
	done
	return 0
}

# caught PID: whether process PID has a handler for TERM (bit 15 of SigCgt in its status).
caught() {
	rt_c=''
	while read -r rt_f rt_v; do [ "$rt_f" = SigCgt: ] && rt_c=$rt_v && break; done 2>/dev/null <"/proc/$1/status"
	[ -n "$rt_c" ] && [ $((0x${rt_c#????????????} & 0x4000)) -ne 0 ]
}

# reterm ID APP: a TERM sent to a container's init before it set a handler for it is dropped (the
# kernel gives an init only the signals it handles), as a stop that comes right after the start
# may be. If the app's process (its pid from the poststart hook, in status/APP-started) has no
# handler now, it is watched for 2 s, and TERMed again once it has one.
reterm() {
	rt_p=''
	read -r rt_p 2>/dev/null <"$S/$2-started"
	[ -n "$rt_p" ] && kill -0 "$rt_p" 2>/dev/null && ! caught "$rt_p" || return 0
	(
		i=0
		while [ "$i" -lt 40 ] && kill -0 "$rt_p" 2>/dev/null; do
			if caught "$rt_p"; then
				rt kill "$1" TERM
				exit 0
			fi
			sleep 0.05
			i=$((i + 1))
		done
	) </dev/null >/dev/null 2>&1 3<&- 4<&- 9<&- &
}

# timer NAME [APP]: after $T seconds, `timeout [APP]` on the FIFO unless cancelled first (cancel).
# A cancelled timer kills its sleep and ends at once: the trap kills the sleep once its pid is
# known, the check after `s=$!` covers a TERM before that, and the cancel file a TERM that came
# before the trap was set (it met the handler this shell had at the fork, and was lost).
timer() {
	[ ! -e "$R/stage1/cancel.$1" ] || rm -f "$R/stage1/cancel.$1"
	(
		x='' s=''
		trap 'x=1; [ -n "$s" ] && kill "$s"' TERM
		[ -e "$R/stage1/cancel.$1" ] && exit 0
		sleep "$T" &
		s=$!
		[ -n "$x" ] && kill "$s"
		wait "$s"
		# Cancelled: the killed sleep is reaped before the timer ends (a signal is delivered after
		# kill returns), so nothing of the timer outlives it.
		if [ -n "$x" ]; then
			while kill -0 "$s" 2>/dev/null; do wait "$s"; done
			exit 0
		fi
		echo "timeout $2" >&9
	) </dev/null >/dev/null 2>&1 3<&- 4<&- &
}

# cancel NAME PID: ends the timer NAME.
cancel() {
	: >"$R/stage1/cancel.$1"
	kill "$2" 2>/dev/null
	return 0
}

sdstop() {
	[ -n "$SDN" ] && NOTIFY_SOCKET=$SDN systemd-notify STOPPING=1 >/dev/null 2>&1
	return 0
}

stop() {
	[ -n "$stopping" ] && return
	stopping=1
	# `rkt stop` may have written the marker with this stop's timeout in it.
	if [ -s "$M" ]; then
		read -r t <"$M"
		case $t in *[!0-9]* | '') ;; *) T=$t ;; esac
	else
		: >"$M"
	fi
	sdstop
	if [ "$T" = 0 ] && [ -n "$MUTABLE" ]; then
		# A sandbox stopped without grace (the CRI's StopPodSandbox, as containerd's): KILL at once,
		# without a TERM first or a timer.
		for n in $APPS; do
			key "$n"
			eval "tm_$k=1"
		done
		echo timeout >&9
		# The networks' CNI DEL meanwhile (the final `wait` waits for it; cleanup does not run it again).
		if [ -n "$CNI" ] && [ -f "$R/$CNI_TEARDOWN" ]; then
			RKT_NETNS_MOUNTED=1 sh "$R/$CNI_TEARDOWN" "$R" </dev/null 3<&- 4<&- 9<&- &
			cnibg=1
		fi
		return
	fi
	term
	timer pod
	timer=$!
}

# stopapp APP [S]: TERM now (or once it has started), KILL after S seconds (its own timer).
stopapp() {
	[ -f "$R/$D/app/$1.env" ] && [ ! -f "$S/$1" ] && [ ! -e "$S/$1-stopping" ] || return 0
	: >"$S/$1-stopping"
	term
	ot=$T
	case $2 in *[!0-9]* | '') ;; *) T=$2 ;; esac
	key "$1"
	timer "a_$k" "$1"
	T=$ot
	eval "at_$k=\$!"
}

# remove APP: forgets an app that has ended (`rkt app rm`); stage0 then removes its files.
remove() {
	[ -f "$S/$1" ] || return 0
	forget "$1"
	release "$1"
	key "$1"
	eval "pid_$k='' tm_$k=''"
	APPS=$(for n in $APPS; do [ "$n" = "$1" ] || printf '%s ' "$n"; done)
	rm -f "$S/$1-started" "$S/$1-stopping" "$S/$1-ready"
	: >"$S/$1-removed"
}

# rdy: announces readiness once (rkt's marker; READY=1 under systemd): a sandbox at once, a pod of
# `rkt run` when every app has started (or sent READY=1, for an app that supports sd_notify).
rdy() {
	[ -n "$ready" ] && return
	if [ -z "$MUTABLE" ]; then
		for n in $APPS; do
			load "$n"
			if [ -n "$NOTIFY" ]; then [ -e "$S/$n-ready" ] || return 0; else [ -e "$S/$n-started" ] || return 0; fi
		done
	fi
	ready=1
	${BB:+"$BB"} ln -sfn ready "$R/stage1/rootfs/rkt/supervisor-status"
	[ -n "$SDN" ] && NOTIFY_SOCKET=$SDN systemd-notify --ready --pid=$$ >/dev/null 2>&1
	return 0
}

# check: reads the apps' exit codes; sets `all` when every app has one.
check() {
	all=1
	[ -e "$M" ] && requested=1
	for n in $APPS; do
		if [ -f "$S/$n" ]; then
			key "$n"
			# An app stopped on its own: its timer goes.
			eval "[ -n \"\$at_$k\" ] && cancel \"a_\$k\" \"\$at_$k\"; at_$k=''"
			c=''
			read -r c <"$S/$n"
			# Made but not written yet (the app's subshell is writing it; its `exit` line on the
			# FIFO follows): not its end yet, or an empty code would end the pod with 0.
			if [ -z "$c" ]; then
				all=''
				continue
			fi
			# During a requested stop, an app ending on the SIGTERM sent to it stopped cleanly.
			if [ "$c" = 143 ] && { [ -n "$stopping$requested" ] || [ -e "$S/$n-stopping" ]; }; then c=0; fi
			if [ -z "$MUTABLE" ] && [ "$c" != 0 ] && [ -z "$failed" ]; then
				failed=$c
				stop
			fi
		else
			all=''
		fi
	done
}

trap 'echo stop >&9' TERM INT HUP
trap 'echo wake >&9' USR1
trap 'echo timeout >&9' USR2
for n in $INITIAL_APPS; do start "$n" || failed=${failed:-254}; done
[ -n "$failed" ] && stop
while :; do
	check
	if [ -n "$MUTABLE" ]; then
		[ -n "$stopping" ] && [ -n "$all" ] && break
	else
		[ -n "$all" ] && break
	fi
	term
	rdy
	read -r cmd a1 a2 <&9 || continue
	case $cmd in
	stop)
		case $a1 in *[!0-9]* | '') ;; *) T=$a1 ;; esac
		stop
		;;
	timeout)
		for n in ${a1:-$APPS}; do
			[ -f "$S/$n" ] && continue
			load "$n"
			# Every process of the container, not only its pid 1: one in the host's or the pod's
			# PID namespace may have ended and left children that keep the runtime waiting.
			rt kill --all "$ID" KILL >/dev/null 2>&1
		done
		;;
	start) [ -z "$stopping" ] && start "$a1" ;;
	stop-app) stopapp "$a1" "$a2" ;;
	rm) remove "$a1" ;;
	esac
done
# Nothing outlives the pod: cancel the timer, and wait for it and for the app subshells (which may
# still be writing to the FIFO) with every trap off, so that no wake-up ends the wait early.
trap '' TERM INT HUP USR1 USR2
[ -n "$timer" ] && cancel pod "$timer"
for n in $APPS; do
	key "$n"
	eval "[ -n \"\$at_$k\" ] && cancel \"a_\$k\" \"\$at_$k\""
done
[ -n "$pidns" ] && kill -s KILL "$pidns" 2>/dev/null
wait
# A pod of `rkt run`: its exit status goes to the caller first, and the teardown (unmounts, the
# namespace files, the cgroups; with CNI networks the DELs, most of it) goes on in a subshell that
# keeps the pod lock (fd 3), so that the pod counts as running until it ends (gc, rm and status
# never race it); without the caller's fds (its pipes close now), its messages in
# stage1/teardown.log. The marker says which: `local` (no CNI: only this machine's unmounts and
# removals, which `rkt status` and `rkt export` wait for) or empty (CNI: only rm and gc wait). Not
# for a sandbox, a container's init (LOCKED) or a systemd service (which would kill the subshell
# with the unit).
if [ -z "$MUTABLE" ] && [ -z "${LOCKED-}" ] && [ -z "${INVOCATION_ID-}" ]; then
	# The metadata service forgets the pod before its status is out, as before.
	[ -n "$MDS_UNREGISTER" ] && eval "$MDS_UNREGISTER"
	MDS_UNREGISTER=''
	# The apps have ended: `rkt rm` and `rkt gc` wait for the lock of a pod so marked.
	if [ -n "$CNI" ]; then : >"$R/stage1/tearing-down"; else echo local >"$R/stage1/tearing-down"; fi
	# The control FIFO closed first: from now on nobody reads it, and a command sent fails at once.
	exec 9<&-
	# (`exec`: a function's own redirections would keep the caller's fds saved above 9.)
	(
		exec </dev/null >>"$R/stage1/teardown.log" 2>&1 4<&- 5<&- 6<&- 7<&- 8<&-
		cleanup
	) &
	exit "${failed:-0}"
fi
cleanup
exit "${failed:-0}"
