#!/usr/bin/env bash
# The kvm engine: start-to-exit time of /bin/true in a VM, and the host memory of a running VM pod.
#   rkt run --engine=kvm --net=none IMAGE   (QEMU microvm, the guest kernel, the engine's initramfs)
#   rkt run --net=none IMAGE                (the oci engine, the same image, side by side)
# The accelerator is the engine's own choice (TCG where /dev/kvm cannot boot the guest; it says
# which). Memory: RSS and PSS (/proc/PID/smaps_rollup) of QEMU and of the plan's shell, for a pod
# whose app runs `sleep` (its memory is inside the guest's, i.e. inside QEMU's).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup kvm 5
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bench_remove_work
}
trap cleanup EXIT
bench_busybox_image

# A first run builds the initramfs and probes /dev/kvm (cached under the data dir): not timed.
RKT_DEBUG_ENGINE=1 bin/rkt --dir "$data" run --engine=kvm --net=none "$image" 2>&1 >/dev/null | grep 'kvm engine' || true

warmup=1
bench_hf "$work/kvm.json" "bin/rkt --dir $data run --engine=kvm --net=none $image"
bench_hf "$work/oci.json" "bin/rkt --dir $data run --net=none $image"
node bench/ratios.mjs "rkt run /bin/true: kvm engine vs oci engine" ours="$work/kvm.json" oci="$work/oci.json"
bench_gc

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
echo "QEMU: $(bench_mem "$qemu")"
echo "plan (dash): $(bench_mem "$plan")"
echo "everything per pod: $(bench_mem "$qemu" "$plan")"
bin/rkt --dir "$data" stop --force "$uuid" >/dev/null
wait 2>/dev/null || true
