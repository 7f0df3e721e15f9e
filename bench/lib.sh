# shellcheck shell=bash
# Shared by the pod benchmarks (sourced, from the repository's root, after `set -euo pipefail`).

# bench_setup NAME DEFAULT_RUNS: the peers' settings (bench/peers/00-env.sh) and their busybox
# rootfs, a work dir /var/tmp/rocket-bench-NAME.* with the store at $data; $runs from BENCH_RUNS.
# Sets root, peers, runs, work, data; NODE_EXTRA_CA_CERTS is unset (every Node start pays for it).
bench_setup() {
  root=$(pwd)
  peers=${PEERS_DIR:-$root/bench/peers}
  runs=${BENCH_RUNS:-$2}
  . "$peers/00-env.sh"
  [ -x "$ROOTFS/bin/busybox" ] || bash "$peers/02-make-bundle.sh" >/dev/null
  work=$(mktemp -d "/var/tmp/rocket-bench-$1.XXXXXX")
  data=$work/data
  unset NODE_EXTRA_CA_CERTS
}

# The pods left in $data collected (twice: the second takes what the first only marked).
bench_gc() {
  bin/rkt --dir "$data" gc --grace-period=0s >/dev/null 2>&1 || true
}

# The end of a benchmark's EXIT trap: its pods collected, the work dir removed.
bench_remove_work() {
  bench_gc
  bench_gc
  rm -rf "$work"
}

# bench_hf JSON COMMAND [NAME]: hyperfine, $runs runs after $warmup (2) warm-ups, into JSON.
bench_hf() {
  hyperfine --style basic --warmup "${warmup:-2}" --runs "$runs" --export-json "$1" ${3:+-n "$3"} "$2" >/dev/null
}

# bench_mem PID...: the sum of their RSS and PSS (/proc/PID/smaps_rollup), as "RSS x MB  PSS y MB".
bench_mem() {
  local rss=0 pss=0 p r s
  for p in "$@"; do
    r=$(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    s=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    rss=$((rss + ${r:-0}))
    pss=$((pss + ${s:-0}))
  done
  awk -v r="$rss" -v s="$pss" 'BEGIN{printf "RSS %.1f MB  PSS %.1f MB", r/1024, s/1024}'
}

# The busybox ACI from the peers' rootfs, fetched into the store at $data so the benchmark runs it
# by image ID (no fetch in the timed part). Sets $image.
bench_busybox_image() {
  mkdir -p "$work/layout"
  cp -a "$ROOTFS" "$work/layout/rootfs"
  local arch
  arch=$(node -p 'process.arch === "x64" ? "amd64" : process.arch')
  printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench-busybox","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"%s"}],"app":{"exec":["/bin/true"],"user":"0","group":"0"}}\n' "$arch" >"$work/layout/manifest"
  bin/actool build "$work/layout" "$work/bb.aci"
  image=$(bin/rkt --dir "$data" --insecure-options=image fetch "$work/bb.aci" 2>/dev/null)
  echo "image $image; $runs runs each; node $(node --version); $(crun --version | head -1)"
}
