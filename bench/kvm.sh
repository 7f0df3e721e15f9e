#!/usr/bin/env bash
# The kvm engine: start-to-exit time of /bin/true in a VM, and the host memory of a running VM pod.
#   rkt run --engine=kvm --net=none IMAGE   (QEMU microvm, the guest kernel, the engine's initramfs)
#   rkt run --net=none IMAGE                (the oci engine, the same image, side by side)
# The accelerator is the engine's own choice (TCG where /dev/kvm cannot boot the guest; it says
# which). Memory: RSS and PSS (/proc/PID/smaps_rollup) of QEMU and of the plan's shell, for a pod
# whose app runs `sleep` (its memory is inside the guest's, i.e. inside QEMU's).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peers=${PEERS_DIR:-$root/bench/peers}
runs=${BENCH_RUNS:-5}
. "$peers/00-env.sh"
[ -x "$ROOTFS/bin/busybox" ] || bash "$peers/02-make-bundle.sh" >/dev/null
work=$(mktemp -d /var/tmp/rocket-bench-kvm.XXXXXX)
data=$work/data
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true
  bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
unset NODE_EXTRA_CA_CERTS

. bench/lib.sh
bench_busybox_image

# A first run builds the initramfs and probes /dev/kvm (cached under the data dir): not timed.
RKT_DEBUG_ENGINE=1 bin/rkt --dir "$data" run --engine=kvm --net=none "$image" 2>&1 >/dev/null | grep 'kvm engine' || true

hf() { hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$1" "$2" >/dev/null; }
hf "$work/kvm.json" "bin/rkt --dir $data run --engine=kvm --net=none $image"
hf "$work/oci.json" "bin/rkt --dir $data run --net=none $image"
node bench/ratios.mjs "rkt run /bin/true: kvm engine vs oci engine" ours="$work/kvm.json" oci="$work/oci.json"
bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true

mem() {
  local rss=0 pss=0 p r s
  for p in "$@"; do
    r=$(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    s=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0}))
  done
  awk -v r="$rss" -v s="$pss" 'BEGIN{printf "RSS %.1f MB  PSS %.1f MB", r/1024, s/1024}'
}

echo
echo "## host memory per running kvm sleep pod"
uuidf=$work/uuid-sleep
bin/rkt --dir "$data" run --engine=kvm --net=none --uuid-file-save="$uuidf" "$image" \
  --exec /bin/sh -- -c 'echo up; exec sleep 1000' </dev/null >/dev/null 2>&1 &
pids+=("$!")
uuid='' log=''
for _ in $(seq 1200); do
  [ -s "$uuidf" ] && uuid=$(cat "$uuidf") && log=$data/pods/run/$uuid/logs/bench-busybox/stdout.log &&
    [ -s "$log" ] && break
  sleep 0.1
done
[ -s "$log" ] || { echo "the kvm pod did not start"; exit 1; }
qemu=$(cat "$data/pods/run/$uuid/stage1/kvm/qemu.pid")
plan=$(cat "$data/pods/run/$uuid/pid")
echo "QEMU: $(mem "$qemu")"
echo "plan (dash): $(mem "$plan")"
echo "everything per pod: $(mem "$qemu" "$plan")"
bin/rkt --dir "$data" stop --force "$uuid" >/dev/null
wait 2>/dev/null || true
