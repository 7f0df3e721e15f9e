#!/bin/sh
# The nspawn engine's app "runtime" (docs/stage1.md, "The nspawn engine"): what the shared pod
# supervisor (src/stage1/oci/supervisor.sh) calls as `rt` inside the pod, where the oci engine has
# crun or runc. It runs in the systemd-nspawn container, whose init is the supervisor:
#   chroot.sh STATE run [--preserve-fds N] --bundle BUNDLE ID   runs BUNDLE/launch.sh to its end
#   chroot.sh STATE kill ID SIGNAL                              signals the app's process
#   chroot.sh STATE delete [-f] ID                              forgets the app's state
# STATE/ID/pid holds the app's pid: `run` starts `setsid unshare --mount` on the bundle's launch.sh,
# which mounts the app's /dev, /proc, /sys, hosts, resolv.conf and volumes in that private mount
# namespace and ends by exec'ing the app chrooted into its rootfs, so every step keeps the pid;
# `run` waits for it and exits with its status. The mounts vanish with the app's namespace.
ST=$1
shift
cmd=$1
shift
case $cmd in
run)
	B=''
	while [ $# -gt 1 ]; do
		case $1 in
		--bundle)
			B=$2
			shift 2
			;;
		--preserve-fds)
			shift 2
			;;
		*) shift ;;
		esac
	done
	ID=$1
	if [ -z "$B" ] || [ -z "$ID" ] || [ ! -f "$B/launch.sh" ]; then
		echo "rkt: chroot.sh: no bundle for $ID" >&2
		exit 254
	fi
	mkdir -p "$ST/$ID" || exit 254
	# The app leads a process group of its own (setsid; not a group leader here, so it does not
	# fork); when it ends, what it left in that group is killed, as its own pid namespace would be
	# under the oci engine, so that nothing holds its log FIFOs. fd 3 (the pod lock, a directory
	# outside the app's root) stays with the supervisor. An asynchronous list's stdin is /dev/null
	# unless redirected: the app's comes through fd 5.
	# An app with a terminal (`--stdin=tty`: the supervisor's redirections give it the pty of its
	# attach endpoint, stage1/attach/APP/tty) gets it as its controlling terminal (setsid -c), as a
	# runtime gives one; any other stdin (the console under --interactive) is left as it is.
	set -- setsid
	# shellcheck disable=SC3013 # -ef: dash's, bash's and busybox's test have it
	[ -t 0 ] && [ /dev/stdin -ef "${B%/apps/*}/stage1/attach/${B##*/apps/}/tty" ] && set -- setsid -c
	exec 5<&0
	"$@" unshare --mount --propagation private -- /bin/sh "$B/launch.sh" <&5 3<&- 5<&- &
	p=$!
	exec 5<&-
	echo "$p" >"$ST/$ID/pid"
	wait "$p"
	rc=$?
	kill -s KILL -- "-$p" 2>/dev/null
	exit "$rc"
	;;
kill)
	# TERM to the app's process (as a runtime signals a container's pid 1), KILL to its group
	# (with or without --all).
	[ "$1" = --all ] && shift
	p=''
	[ -f "$ST/$1/pid" ] && read -r p <"$ST/$1/pid"
	[ -z "$p" ] && exit 0
	if [ "$2" = KILL ] || [ "$2" = SIGKILL ] || [ "$2" = 9 ]; then
		kill -s KILL -- "-$p" 2>/dev/null || kill -s KILL "$p" 2>/dev/null
	else
		kill -s "$2" "$p" 2>/dev/null
	fi
	exit 0
	;;
delete)
	[ "$1" = -f ] && shift
	rm -rf "${ST:?}/$1"
	exit 0
	;;
*)
	echo "rkt: chroot.sh: unknown command $cmd" >&2
	exit 254
	;;
esac
