#!/usr/bin/env bash
# Pods: start-to-exit time of /bin/true and the host memory that stays resident per running pod.
#   rkt run --net=none IMAGE --exec /bin/true   (bin/rkt: launcher + stage0 + exec plan)
#   crun run of the same rootfs                 (bench/peers: 02-make-bundle.sh, crun-hybrid.sh)
#   podman run --rm --net=none localhost/busybox true   (04-podman-setup.sh; skipped if unavailable)
# Times with NODE_EXTRA_CA_CERTS unset, and with it set (every Node start pays for it).
# Memory: RSS and PSS (/proc/PID/smaps_rollup) of every host process that stays resident for a
# running `sleep` pod (the supervisor tree: everything but the container's own processes), for a
# foreground `rkt run` and for one started in the background (setsid), against crun's monitor.
set -euo pipefail
cd "$(dirname "$0")/.."
extra_ca=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
. bench/lib.sh
bench_setup pods 20
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  crun_h delete -f "rocket-bench-sleep-$$" >/dev/null 2>&1 || true
  bench_remove_work
}
trap cleanup EXIT
crun_h() { "$peers/crun-hybrid.sh" "$@"; }
bench_busybox_image

podman_ok=
if command -v podman >/dev/null 2>&1; then
  if bash "$peers/04-podman-setup.sh" >/dev/null 2>&1 && podman run --rm --net=none localhost/busybox true >/dev/null 2>&1; then
    podman_ok=1
  else
    echo "podman: set-up or a trial run failed; skipping podman"
  fi
else
  echo "podman is not installed; skipping podman"
fi

rkt_true="bin/rkt --dir $data run --net=none $image"
bench_hf "$work/rkt.json" "$rkt_true"
bench_hf "$work/rkt-ca.json" "env NODE_EXTRA_CA_CERTS=$extra_ca $rkt_true"
bench_hf "$work/crun.json" "$peers/crun-hybrid.sh run --bundle $BUNDLE rocket-bench-true"
node bench/ratios.mjs "rkt run /bin/true vs crun run (NODE_EXTRA_CA_CERTS unset)" ours="$work/rkt.json" crun="$work/crun.json"
node bench/ratios.mjs "rkt run /bin/true vs crun run (NODE_EXTRA_CA_CERTS=$extra_ca)" ours="$work/rkt-ca.json" crun="$work/crun.json"
if [ -n "$podman_ok" ]; then
  bench_hf "$work/podman.json" "podman run --rm --net=none localhost/busybox true"
  node bench/ratios.mjs "rkt run /bin/true vs podman run (NODE_EXTRA_CA_CERTS unset; goal <= 0.35x)" ours="$work/rkt.json" podman="$work/podman.json"
  node bench/ratios.mjs "rkt run /bin/true vs podman run (NODE_EXTRA_CA_CERTS set)" ours="$work/rkt-ca.json" podman="$work/podman.json"
fi
env -u NODE_EXTRA_CA_CERTS bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true

# ---- resident memory ----
# Descendants of $1 (itself included), minus the subtree rooted at $2 (the container).
tree() {
  ps -e -o pid=,ppid= | awk -v top="$1" -v cut="$2" '
    { parent[$1]=$2; pids[NR]=$1 }
    END { for (i in pids) { p=pids[i]; q=p; keep=0
            while (q != "" && q != 0 && q != 1) { if (q == cut) { keep=0; break } if (q == top) keep=1; q=parent[q] }
            if (keep) print p } }'
}
names() { for p in "$@"; do printf '%s ' "$(tr '\0' ' ' </proc/$p/cmdline | cut -c1-40 | sed 's/ *$//')"; done; }

measure_rkt() { # $1: label, $2...: how to start
  local label=$1; shift
  local uuidf=$work/uuid-$label
  rm -f "$uuidf"
  "$@" bin/rkt --dir "$data" run --net=none --uuid-file-save="$uuidf" "$image" --exec /bin/sleep -- 1000 </dev/null >/dev/null 2>&1 &
  local launcher=$!
  pids+=("$launcher")
  local uuid="" sup="" cpid=""
  for _ in $(seq 200); do
    [ -s "$uuidf" ] && uuid=$(cat "$uuidf") && [ -s "$data/pods/run/$uuid/pid" ] && sup=$(cat "$data/pods/run/$uuid/pid") &&
      cpid=$(runc_state_pid "rkt-$uuid-bench-busybox") && [ -n "$cpid" ] && break
    sleep 0.05
  done
  sleep 0.3
  local resident
  resident=$(tree "$sup" "$cpid" | sort -n | tr '\n' ' ')
  # shellcheck disable=SC2086
  echo "rkt run ($label): $(bench_mem $resident)   [$(names $resident)]"
  env -u NODE_EXTRA_CA_CERTS bin/rkt --dir "$data" stop --force "$uuid" >/dev/null
  wait "$launcher" 2>/dev/null || true
}
runc_state_pid() { crun_h state "$1" 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).pid||"")}catch{}})'; }

echo
echo "## host memory per running sleep pod"
measure_rkt foreground
measure_rkt background setsid
crun_h run --bundle "$BENCH_ROOT/bundle-sleep" "rocket-bench-sleep-$$" </dev/null >/dev/null 2>&1 &
pids+=("$!")
for _ in $(seq 100); do cpid=$(runc_state_pid "rocket-bench-sleep-$$") && [ -n "$cpid" ] && break; sleep 0.05; done
sleep 0.3
mon=$(ps -o ppid= -p "$cpid" | tr -d ' ')
echo "crun run (its monitor): $(bench_mem "$mon")   [$(names "$mon")]"
crun_h kill "rocket-bench-sleep-$$" KILL >/dev/null 2>&1 || true
wait 2>/dev/null || true
