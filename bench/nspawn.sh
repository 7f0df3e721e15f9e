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
command -v systemd-nspawn >/dev/null || {
  echo "systemd-nspawn is not installed; skipping"
  exit 0
}
. bench/lib.sh
bench_setup nspawn 20
launcher=
cleanup() {
  [ -n "$launcher" ] && kill "$launcher" 2>/dev/null
  bench_remove_work
}
trap cleanup EXIT
bench_busybox_image

bench_hf "$work/nspawn.json" "bin/rkt --dir $data run --engine=nspawn --net=none $image"
bench_hf "$work/oci.json" "bin/rkt --dir $data run --engine=oci --net=none $image"
bench_hf "$work/fly.json" "bin/rkt --dir $data run --engine=fly $image"
node bench/ratios.mjs "rkt run /bin/true: nspawn engine vs oci engine" ours="$work/nspawn.json" oci="$work/oci.json"
node bench/ratios.mjs "rkt run /bin/true: fly engine vs oci engine" ours="$work/fly.json" oci="$work/oci.json"
bench_gc

# ---- resident memory of a running sleep pod ----
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
echo "rkt run --engine=nspawn: $(bench_mem $resident)   [$(for p in $resident; do printf '%s, ' "$(tr '\0' ' ' </proc/$p/cmdline | cut -c1-30 | sed 's/ *$//')"; done)]"
bin/rkt --dir "$data" stop --force "$uuid" >/dev/null
wait "$launcher" 2>/dev/null || true
launcher=
