#!/bin/busybox sh
# shellcheck shell=sh
# The kvm engine's guest init (pid 1 of the pod's VM; docs/stage1.md, "The kvm engine").
#
# Loads the virtio and 9p modules, mounts the pod dir (9p tag `rkt`) at /pod, reads the pod's
# settings (conf/pod.env: APPS, T...; conf/app/APP.env: MOUNTS, CMD), and starts every
# app: /proc, /sys, /dev and a /tmp mounted in its rootfs, then CMD (env -i, setpriv, unshare
# --root --wd --setuid, the app: a quoted word list) with its output on the console, which is the
# host's `rkt run` output. Every event is a line on the FIFO /run/ctl: `exit APP` from an app's
# subshell once it recorded the app's code, `stop [S]` read from the console (the host's stop),
# `enter N` read from the console (a `rkt enter` session: enter_session), `timeout` from the stop
# timer. As `rkt run` under the oci engine: one app failing stops the others; the pod's code is
# the first failing app's (143 during a stop counts as 0). The code goes to /pod/out/exit, then
# the VM powers off.
# A sandbox (`rkt app sandbox`, MUTABLE=1) starts with no app and lives until `stop`; its apps are
# independent, and come and go by console lines from the host (src/cli/rkt/pod/app.ts, through the
# engine): `start APP` (its settings conf/app/APP.env and rootfs were put in place by the host),
# `stop-app APP [S]` (TERM, KILL after S seconds), `rm APP` (a stopped app: its guest mounts go).
# The status dir gets APP-started, APP-stopping, APP (the code) and APP-removed as supervisor.sh's.
PATH=/bin
export PATH
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Pseudo-terminals, for `rkt enter` from a terminal (util-linux's script opens /dev/ptmx).
mkdir -p /dev/pts && mount -t devpts -o ptmxmode=0666 devpts /dev/pts
# The apps' memory and cpu limits (MEM, CPU in conf/app/APP.env) are cgroups: /sys/fs/cgroup/APP.
CGROUPS=''
if mount -t cgroup2 cgroup2 /sys/fs/cgroup; then
  CGROUPS=1
  echo '+memory +cpu' >/sys/fs/cgroup/cgroup.subtree_control
fi
stty -F /dev/console -echo -onlcr 2>/dev/null

die() {
  echo "rkt: guest: $*" >/dev/console
  poweroff -f
}

while read -r m; do
  insmod "/lib/modules/$m" || die "cannot load $m"
done </lib/modules/order
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 rkt /pod || die 'cannot mount the pod dir'
# The host shares only this (src/stage1/kvm/engine.ts, innerScript): conf (read-only: settings,
# the loggers' program and clock, the stop marker), status, logs, apps (the rootfs trees), out.
K=/pod/conf
S=/pod/status
APPS='' T=10 LOGMAX=4194304 NETS='' DEFAULT_ROUTE='' HOSTNAME=rkt MUTABLE=''
# shellcheck disable=SC1091
. "$K/pod.env" || die 'no pod settings'
# The loggers' clock: the host's time (centiseconds) when QEMU started, plus the guest's uptime.
LOGEPOCH=0
read -r LOGEPOCH <"$K/epoch"
export LOGMAX LOGEPOCH

ip link set lo up
hostname "$HOSTNAME"
# The pod's CNI addresses: NETS has MAC=ADDRESS/PREFIX=GATEWAY per network, and the NIC with that
# MAC (the CNI interface's) takes the address; the gateway may be off its subnet (ptp).
# DEFAULT_ROUTE (MAC=GATEWAY) is the default route of the pod's network namespace.
nic() {
  for d in /sys/class/net/*; do
    if [ "$(cat "$d/address" 2>/dev/null)" = "$1" ]; then
      echo "${d##*/}"
      return 0
    fi
  done
  return 1
}
for n in $NETS; do
  mac=${n%%=*} rest=${n#*=}
  addr=${rest%%=*} gw=${rest#*=}
  if ! dev=$(nic "$mac") || ! { ip link set "$dev" up && ip addr add "$addr" dev "$dev"; }; then
    die "cannot configure the NIC $mac with $addr"
  fi
  [ -z "$gw" ] || ip route add "$gw" dev "$dev" 2>/dev/null
done
if [ -n "$DEFAULT_ROUTE" ]; then
  gw=${DEFAULT_ROUTE#*=}
  if ! dev=$(nic "${DEFAULT_ROUTE%%=*}") || ! { ip route replace "$gw" dev "$dev" && ip route add default via "$gw" dev "$dev"; }; then
    die "cannot route through $gw"
  fi
fi

mkfifo /run/ctl
exec 9<>/run/ctl
# Console lines are commands from the host.
(while read -r line; do echo "$line" >/run/ctl; done </dev/console) &
reader=$!
# The host sends a sandbox's app commands once this is there (a line sent earlier may be lost).
: >/pod/out/ready

# app_cgroup APP: the app's cgroup with its limits (MEM: memory.max; CPU: cpu.max's quota), if it
# has any; its path on stdout.
app_cgroup() {
  [ -n "$MEM$CPU" ] || return 0
  cg=/sys/fs/cgroup/$1
  mkdir -p "$cg" &&
    { [ -z "$MEM" ] || echo "$MEM" >"$cg/memory.max"; } &&
    { [ -z "$CPU" ] || echo "$CPU 100000" >"$cg/cpu.max"; } &&
    echo "$cg"
}

# run_in_app COMMAND PIDFILE [MARK [IN [OUT [ERR [TTY]]]]]: a command (quoted words: env,
# setpriv, unshare --root... then the app's or a handler's exec) in the app's cgroup, stdin IN
# (default /dev/null), its output to OUT and ERR (opened read-write: attach FIFOs, or /dev/null)
# or else to the app's loggers (fds 5 and 6), its pid in PIDFILE (the app's is the one a stop
# signals), MARK made once it runs; its code. With TTY, on a 24x80 pty of its own (util-linux's
# script between it and IN and OUT; script passes a TERM on and gives the command's code).
run_in_app() {
  {
    exec 0<>"${4:-/dev/null}"
    [ -z "$5" ] || exec 1<>"$5"
    [ -z "$6" ] || exec 2<>"$6"
    # Into the cgroup (0: the writer itself) before the exec, so all it starts is there too.
    [ -z "$cg" ] || echo 0 >"$cg/cgroup.procs" || exit 254
    [ -z "$7" ] || exec /usr/bin/script -q -e -c "stty rows 24 cols 80 2>/dev/null; exec $1" /dev/null
    eval "exec $1"
  } >&5 2>&6 &
  echo $! >"$2"
  [ -z "$3" ] || { : >"$3" && echo up >/run/ctl; }
  wait $!
}

start_app() {
  MOUNTS='' CMD='' MEM='' CPU='' PRE_N=0 POST_N=0 IO_IN='' IO_OUT='' IO_ERR=
  # shellcheck disable=SC1090
  . "$K/app/$1.env"
  if ! cg=$(app_cgroup "$1" 2>/dev/null); then
    echo "rkt: guest: cannot make the cgroup of app $1" >/dev/console
    echo 254 >"$S/$1"
    echo up >/run/ctl
    echo "exit $1" >/run/ctl
    return
  fi
  for m in $MOUNTS; do
    kind=${m%%:*} target=${m#*:}
    mkdir -p "$target"
    case $kind in
    proc) mount -t proc proc "$target" ;;
    # The app sees the guest's cgroups (read-only) in its /sys/fs/cgroup.
    sys) mount -t sysfs sysfs "$target" && { [ -z "$CGROUPS" ] ||
      mount -t cgroup2 -o ro,nosuid,nodev,noexec cgroup2 "$target/fs/cgroup"; } ;;
    dev) mount -o bind /dev "$target" ;;
    tmp) mount -t tmpfs -o mode=1777 tmpfs "$target" ;;
    esac || {
      echo 254 >"$S/$1"
      echo up >/run/ctl
      echo "exit $1" >/run/ctl
      return
    }
  done
  # Two loggers (src/logs/capture.ts's program, busybox awk): each line to the console and,
  # time-stamped, to the app's log in the pod dir. They read to the end of the app's last handler.
  mkfifo "/run/$1.out" "/run/$1.err"
  # --stdin/--stdout/--stderr=stream: a FIFO each in /run/attach/APP, which `rkt attach` reaches
  # (attach_serve); null: /dev/null; else the log.
  ad=/run/attach/$1 io_in='' io_out='' io_err=''
  rm -rf "$ad"
  case " $IO_IN $IO_OUT $IO_ERR " in *" stream "* | *" tty "*)
    mkdir -p "$ad" && mkfifo "$ad/stdin" "$ad/stdout" "$ad/stderr"
    ;;
  esac
  case $IO_IN in stream | tty) io_in=$ad/stdin ;; esac
  case $IO_OUT in stream | tty) io_out=$ad/stdout ;; null) io_out=/dev/null ;; esac
  case $IO_ERR in stream) io_err=$ad/stderr ;; null) io_err=/dev/null ;; esac
  io_tty=''
  [ "$IO_IN" != tty ] || io_tty=1
  (
    LOGF="/pod/logs/$1/stdout.log" LOGSTREAM=stdout awk -f /pod/conf/logger.awk <"/run/$1.out" >/dev/console &
    o=$!
    LOGF="/pod/logs/$1/stderr.log" LOGSTREAM=stderr awk -f /pod/conf/logger.awk <"/run/$1.err" >/dev/console &
    e=$!
    exec 5>"/run/$1.out" 6>"/run/$1.err"
    # The image's pre-start handlers, in the app's context, one after the other until one fails
    # (its code is the app's, which then does not run); post-stop ones after the app, whatever
    # its end. As the oci engine's supervisor.sh runs them.
    rc=0 i=0
    while [ "$rc" = 0 ] && [ "$i" -lt "$PRE_N" ]; do
      eval "run_in_app \"\$PRE_$i\" /run/\$1.handler"
      rc=$?
      i=$((i + 1))
    done
    if [ "$rc" = 0 ] && [ ! -e /run/stopping ] && [ ! -e "$S/$1-stopping" ]; then
      run_in_app "$CMD" "/run/$1.pid" "$S/$1-started" "$io_in" "$io_out" "$io_err" "$io_tty"
      rc=$?
    fi
    i=0
    while [ "$i" -lt "$POST_N" ]; do
      eval "run_in_app \"\$POST_$i\" /run/\$1.handler"
      i=$((i + 1))
    done
    exec 5>&- 6>&-
    wait $o $e
    [ -z "$cg" ] || rmdir "$cg" 2>/dev/null
    echo $rc >"$S/$1"
    # An app that never started (a failing pre-start handler, a stop first) counts for readiness.
    [ -e "$S/$1-started" ] || echo up >/run/ctl
    # Attach readers still waiting for an app that never opened its FIFOs (after the code: an
    # attach registered later sees it and ends itself). Each session's file lives as long as it.
    # shellcheck disable=SC2046 # pids, one word each
    [ ! -d "$ad" ] || kill $(cat "$ad"/readers.* 2>/dev/null) 2>/dev/null
    echo "exit $1" >/run/ctl
  ) 2>/dev/null &
}

# `rkt enter` (src/stage1/kvm/engine.ts, enterScript): the host, connecting to the socket of the
# virtio-serial port rkt.enter.N (a channel it locked), sends `enter N` on the console. Until its
# connection is there a read of the port ends at once, so the agent tries again (for 10 s at most). The request `run APP B64`
# (B64: the command as quoted words) is followed by the host's stdin (`i B64`..., `c` at its end);
# the command runs as APP (its ENTER prefix: env, setpriv, unshare --root --wd --setuid) and its
# stdout and stderr go back as `o B64` and `e B64` lines, then `x CODE`.
enter_port() {
  for n in /sys/class/virtio-ports/*/name; do
    if [ "$(cat "$n" 2>/dev/null)" = "rkt.enter.$1" ]; then
      p=${n%/name}
      echo "/dev/${p##*/}"
      return 0
    fi
  done
  return 1
}

# Base64 lines of at most 2 KB (one write each) tagged $1, from stdin until its end.
chunks() {
  while c=$(dd bs=1536 count=1 2>/dev/null | base64 -w 0) && [ -n "$c" ]; do
    echo "$1 $c"
  done
}

# attach_serve APP STREAMS N: `rkt attach` (engine.ts, attachScript) to the FIFOs of an app started
# with --stdin/--stdout/--stderr=stream (STREAMS: some of stdin,stdout,stderr). Up: the host's stdin
# as `i B64` into the app's stdin (`c`, its end, leaves the app's stdin open, as the oci engine's);
# down: the app's stdout and stderr as `o B64` and `e B64`, then `x 0` once they end (the app
# ended), or, attached to stdin only, once the host's stdin has.
attach_serve() {
  a=/run/attach/$1
  if [ ! -p "$a/stdin" ] || [ -f "$S/$1" ]; then
    echo "e $(echo "rkt: guest: app $1 is not running with attach endpoints" | base64 -w 0)" >&8
    echo 'x 254' >&8
    return 0
  fi
  outs=''
  case ,$2, in *,stdout,*)
    chunks o <"$a/stdout" >&8 &
    outs="$outs $!"
    ;;
  esac
  case ,$2, in *,stderr,*)
    chunks e <"$a/stderr" >&8 &
    outs="$outs $!"
    ;;
  esac
  echo "$outs" >"$a/readers.$3"
  # shellcheck disable=SC2086 # pids, one word each
  [ ! -f "$S/$1" ] || kill $outs 2>/dev/null
  (
    while read -r t data <&8; do
      case $t in
      # Opened read-write: never waits, even for an app that has ended.
      i) case ,$2, in *,stdin,*) printf %s "$data" | base64 -d 1<>"$a/stdin" ;; esac ;;
      c) [ -n "$outs" ] || break ;;
      esac
    done
  ) &
  i=$!
  if [ -n "$outs" ]; then
    # shellcheck disable=SC2086 # pids, one word each
    wait $outs
    kill $i 2>/dev/null
  else
    wait $i
  fi
  rm -f "$a/readers.$3"
  echo 'x 0' >&8
  return 0
}

enter_serve() {
  read -r verb app b64 <&8 || return 3
  if [ "$verb" = attach ]; then
    attach_serve "$app" "$b64" "$1"
    return 0
  fi
  # `tty APP B64 ROWS COLS`: the command on a pseudo-terminal of that size (the host's was one).
  rows=''
  if [ "$verb" = tty ]; then
    rows=${b64#* } b64=${b64%% *}
    cols=${rows#* } rows=${rows%% *}
    case $rows$cols in '' | *[!0-9]*) return 3 ;; esac
  elif [ "$verb" != run ]; then
    return 3
  fi
  ENTER=''
  # shellcheck disable=SC1090
  . "$K/app/$app.env" 2>/dev/null
  if [ -z "$ENTER" ]; then
    echo "e $(echo "rkt: guest: no app $app" | base64 -w 0)" >&8
    echo 'x 254' >&8
    return 0
  fi
  d=/run/enter.$1
  rm -rf "$d"
  mkdir -p "$d" && mkfifo "$d/in" "$d/out" "$d/err" || return 3
  chunks o <"$d/out" >&8 &
  o=$!
  chunks e <"$d/err" >&8 &
  e=$!
  # The host's stdin, to its end (`c`: the FIFO is closed); the port's end is the host gone (a
  # `rkt enter` interrupted), which ends the command.
  (
    while read -r t data <&8; do
      case $t in
      i) printf %s "$data" | base64 -d ;;
      c) exec >/dev/null ;;
      esac
    done
    kill -TERM "$(cat "$d/pid" 2>/dev/null)" 2>/dev/null
  ) >"$d/in" &
  i=$!
  cmd=$(printf %s "$b64" | base64 -d)
  if [ -n "$rows" ]; then
    # util-linux's script: a new session on a pty, the command its controlling terminal's; its code.
    /usr/bin/script -q -e -c "stty rows $rows cols $cols 2>/dev/null; exec $ENTER $cmd" /dev/null <"$d/in" >"$d/out" 2>"$d/err" &
  else
    (eval "exec $ENTER $cmd") <"$d/in" >"$d/out" 2>"$d/err" &
  fi
  echo $! >"$d/pid"
  wait $!
  rc=$?
  wait $o $e
  kill $i 2>/dev/null
  wait $i
  echo "x $rc" >&8
  rm -rf "$d"
  return 0
}

enter_session() {
  port=$(enter_port "$1") || return
  n=0
  while [ "$n" -lt 100 ]; do
    if { enter_serve "$1"; } 8<>"$port" 2>/dev/null; then return; fi
    n=$((n + 1))
    sleep 0.1
  done
}

left=0 stopping='' timer='' code=''
stop_all() {
  [ -n "$stopping" ] && return
  stopping=1
  # An app still in its pre-start handlers does not start.
  : >/run/stopping
  for a in $APPS; do
    [ -f "$S/$a" ] || kill -TERM "$(cat "/run/$a.pid" 2>/dev/null)" 2>/dev/null
  done
  (sleep "${1:-$T}" && echo timeout >/run/ctl) &
  timer=$!
}

# stop_app APP [S]: a sandbox's app, once: TERM now, KILL after S seconds (its own timer).
stop_app() {
  [ -f "/run/$1.pid" ] && [ ! -f "$S/$1" ] && [ ! -e "$S/$1-stopping" ] || return 0
  : >"$S/$1-stopping"
  kill -TERM "$(cat "/run/$1.pid")" 2>/dev/null
  (sleep "${2:-$T}" && echo "timeout $1" >/run/ctl) &
  echo $! >"/run/$1.timer"
}

# rm_app APP: forgets a sandbox's app that has ended: its mounts in the rootfs (the host then
# unmounts the rootfs and removes its files).
rm_app() {
  [ -f "$S/$1" ] || return 0
  MOUNTS=''
  # shellcheck disable=SC1090
  . "$K/app/$1.env"
  for m in $MOUNTS; do
    case $m in sys:*) umount "${m#*:}/fs/cgroup" 2>/dev/null ;; esac
    umount "${m#*:}" 2>/dev/null
  done
  rm -rf "/run/attach/$1"
  rm -f "/run/$1.pid" "/run/$1.handler" "/run/$1.timer" "/run/$1.out" "/run/$1.err" "$S/$1-started" "$S/$1-stopping"
  rest=''
  for a in $APPS; do [ "$a" = "$1" ] || rest="$rest $a"; done
  APPS=$rest
  : >"$S/$1-removed"
}

# A stop sent before the console reader ran is seen by its marker (written before the line).
if [ -e "$K/stopping" ]; then
  echo 0 >/pod/out/exit
  sync
  poweroff -f
fi
# So is an enter sent then (its marker conf/enter-N lives as long as the host's session).
for m in "$K"/enter-*; do
  [ -e "$m" ] && echo "enter ${m##*/enter-}" >/run/ctl
done
# Ready (`rkt status --wait-ready`) once every app has started (an `up` each; a sandbox at once):
# the host's stage1/rootfs/rkt/supervisor-status, bound at /pod/supervisor-status, says `ready`.
unready=0
for a in $APPS; do
  start_app "$a"
  left=$((left + 1))
  unready=$((unready + 1))
done
ready() { [ "$unready" -gt 0 ] || [ -n "$readied" ] || { echo ready >/pod/supervisor-status && readied=1; }; }
readied=''
ready
# A pod of `rkt run` ends when its apps have; a sandbox when it is stopped and its apps have.
while if [ -n "$MUTABLE" ]; then [ -z "$stopping" ] || [ "$left" -gt 0 ]; else [ "$left" -gt 0 ]; fi &&
  read -r cmd arg arg2 <&9; do
  case $cmd in
  up)
    unready=$((unready - 1))
    ready
    ;;
  exit)
    left=$((left - 1))
    rc=254
    read -r rc <"$S/$arg"
    if [ -n "$stopping" ] && [ "$rc" = 143 ]; then rc=0; fi
    if [ -n "$MUTABLE" ]; then
      [ -f "/run/$arg.timer" ] && kill "$(cat "/run/$arg.timer")" 2>/dev/null
    elif [ "$rc" != 0 ] && [ -z "$code" ]; then
      code=$rc
      stop_all
    fi
    ;;
  stop) stop_all "$arg" ;;
  enter)
    case $arg in
    '' | *[!0-9]*) ;;
    *) enter_session "$arg" </dev/null >/dev/null 2>&1 & ;;
    esac
    ;;
  timeout)
    for a in ${arg:-$APPS}; do
      [ -f "$S/$a" ] || kill -KILL "$(cat "/run/$a.pid" 2>/dev/null)" 2>/dev/null
    done
    ;;
  start)
    # A sandbox's app, once: not while stopping, not twice, only with its settings in place.
    case " $APPS " in *" $arg "*) continue ;; esac
    if [ -n "$MUTABLE" ] && [ -z "$stopping" ] && [ -f "$K/app/$arg.env" ]; then
      APPS="$APPS $arg"
      start_app "$arg"
      left=$((left + 1))
    fi
    ;;
  stop-app) [ -n "$MUTABLE" ] && stop_app "$arg" "$arg2" ;;
  rm) [ -n "$MUTABLE" ] && rm_app "$arg" ;;
  esac
done
[ -n "$timer" ] && kill "$timer" 2>/dev/null
kill "$reader" 2>/dev/null
echo "${code:-0}" >/pod/out/exit
sync
poweroff -f
