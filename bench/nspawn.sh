#!/usr/bin/env bash
# The nspawn engine against the oci and fly engines, side by side (docs/stage1.md, "The engines side
# by side"): start-to-exit time of /bin/true,
#   rkt run --engine=nspawn --net=none IMAGE --exec /bin/true
#   rkt run --engine=oci    --net=none IMAGE --exec /bin/true   (the peer)
#   rkt run --engine=fly               IMAGE --exec /bin/true
# and the host memory that stays resident for a running `sleep` pod under nspawn: RSS and PSS of every
# process of the pod but the app (the plan, systemd-nspawn, the supervisor, the app's subshell,
# chroot.sh and the loggers).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peers=${PEERS_DIR:-$root/bench/peers}
runs=${BENCH_RUNS:-20}
. "$peers/00-env.sh"
[ -x "$ROOTFS/bin/busybox" ] || bash "$peers/02-make-bundle.sh" >/dev/null
command -v systemd-nspawn >/dev/null || {
  echo "systemd-nspawn is not installed; skipping"
  exit 0
}
work=$(mktemp -d /var/tmp/rocket-bench-nspawn.XXXXXX)
data=$work/data
launcher=
cleanup() {
  [ -n "$launcher" ] && kill "$launcher" 2>/dev/null
  bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true
  bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
unset NODE_EXTRA_CA_CERTS

. bench/lib.sh
bench_busybox_image

hf() { hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$1" "$2" >/dev/null; }
hf "$work/nspawn.json" "bin/rkt --dir $data run --engine=nspawn --net=none $image"
hf "$work/oci.json" "bin/rkt --dir $data run --engine=oci --net=none $image"
hf "$work/fly.json" "bin/rkt --dir $data run --engine=fly $image"
node bench/ratios.mjs "rkt run /bin/true: nspawn engine vs oci engine" ours="$work/nspawn.json" oci="$work/oci.json"
node bench/ratios.mjs "rkt run /bin/true: fly engine vs oci engine" ours="$work/fly.json" oci="$work/oci.json"
bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true

# ---- resident memory of a running sleep pod ----
mem() {
  local rss=0 pss=0 p r s
  for p in "$@"; do
    r=$(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    s=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    rss=$((rss + ${r:-0}))
    pss=$((pss + ${s:-0}))
  done
  awk -v r="$rss" -v s="$pss" 'BEGIN{printf "RSS %.1f MB  PSS %.1f MB", r/1024, s/1024}'
}
# Descendants of $1 (itself included) whose command is not the app's ($2).
tree() {
  ps -e -o pid=,ppid=,args= | awk -v top="$1" -v app="$2" '
    { parent[$1]=$2; pids[NR]=$1; cmd[$1]=$0; sub(/^ *[0-9]+ +[0-9]+ +/, "", cmd[$1]) }
    END { for (i in pids) { p=pids[i]; q=p; keep=0
            while (q != "" && q != 0 && q != 1) { if (q == top) { keep=1; break } q=parent[q] }
            if (keep && cmd[p] != app) print p } }'
}
uuidf=$work/uuid
bin/rkt --dir "$data" run --engine=nspawn --net=none --uuid-file-save="$uuidf" "$image" --exec /bin/sleep -- 1000 </dev/null >/dev/null 2>&1 &
launcher=$!
uuid=
for _ in $(seq 200); do
  [ -s "$uuidf" ] && uuid=$(cat "$uuidf") && [ -e "$data/pods/run/$uuid/stage1/rootfs/rkt/status/bench-busybox-started" ] && break
  sleep 0.05
done
sleep 0.3
resident=$(tree "$launcher" "/bin/sleep 1000" | sort -n | tr '\n' ' ')
# shellcheck disable=SC2086
echo
echo "## host memory per running sleep pod (nspawn engine)"
# shellcheck disable=SC2086
echo "rkt run --engine=nspawn: $(mem $resident)   [$(for p in $resident; do printf '%s, ' "$(tr '\0' ' ' </proc/$p/cmdline | cut -c1-30 | sed 's/ *$//')"; done)]"
bin/rkt --dir "$data" stop --force "$uuid" >/dev/null
wait "$launcher" 2>/dev/null || true
launcher=
