#!/bin/sh
# The nspawn engine's app "runtime" (docs/stage1.md, "The nspawn engine"): what the shared pod
# supervisor (src/stage1/oci/supervisor.sh) calls as `rt` inside the pod, where the oci engine has
# crun or runc. It runs in the systemd-nspawn container, whose init is the supervisor:
#   chroot.sh STATE run [--preserve-fds N] --bundle BUNDLE ID   runs BUNDLE/launch.sh to its end
#   chroot.sh STATE kill ID SIGNAL                              signals the app's process
#   chroot.sh STATE delete [-f] ID                              forgets the app's state
# STATE/ID/pid holds the app's pid while it runs: `run` records its own pid, then execs
# `unshare --mount` and the bundle's launch.sh, which mounts the app's /dev, /proc, /sys, hosts,
# resolv.conf and volumes in that private mount namespace and ends by exec'ing the app chrooted into
# its rootfs, so every step keeps the pid. The mounts vanish with the app's namespace.
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
	echo $$ >"$ST/$ID/pid"
	# fd 3 (the pod lock, a directory outside the app's root) stays with the supervisor.
	exec unshare --mount --propagation private -- /bin/sh "$B/launch.sh" 3<&-
	;;
kill)
	p=''
	[ -f "$ST/$1/pid" ] && read -r p <"$ST/$1/pid"
	[ -n "$p" ] && kill -s "$2" "$p" 2>/dev/null
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
