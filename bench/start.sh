#!/usr/bin/env bash
# Node's start from stage0's startup snapshot (docs/stage1.md, "Start time"): `rkt version` and
# `rkt list` of an empty data dir, each against the floor, Node started from an empty user snapshot
# (a main function only) by the same node binary, as a user would start it (bin/rkt adds its malloc
# tunables). The ratio is what our blob, the launcher and the command line cost on top of Node's own
# start. With perf, also the CPU (task-clock) of each, the runs interleaved, which says more than
# wall time on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-30}
work=$(mktemp -d /tmp/rocket-bench-start.XXXXXX)
trap 'rm -rf "$work"' EXIT
unset NODE_EXTRA_CA_CERTS
echo "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});" >"$work/empty.cjs"
node --snapshot-blob "$work/empty.blob" --build-snapshot "$work/empty.cjs"
mkdir "$work/data"
echo "blob $(stat -c %s dist/bundle/rkt.blob) bytes, empty snapshot $(stat -c %s "$work/empty.blob"); $runs runs each; node $(node --version)"

hf() { hyperfine -N --style basic --warmup 3 --runs "$runs" --export-json "$1" "$2" >/dev/null; }
hf "$work/floor.json" "node --snapshot-blob $work/empty.blob"
hf "$work/version.json" "bin/rkt version"
hf "$work/list.json" "bin/rkt --dir $work/data list"
node bench/ratios.mjs 'rkt version, against Node from an empty snapshot' \
  ours="$work/version.json" floor="$work/floor.json"
node bench/ratios.mjs 'rkt list (empty dir), against Node from an empty snapshot' \
  ours="$work/list.json" floor="$work/floor.json"

if command -v perf >/dev/null 2>&1 && perf stat -x, -e task-clock true >/dev/null 2>&1; then
  cpu() { perf stat -x, -e task-clock "$@" 2>&1 >/dev/null | grep task-clock | cut -d, -f1 >>"$work/cpu.$label"; }
  for _ in $(seq "$runs"); do
    label=floor cpu node --snapshot-blob "$work/empty.blob"
    label=version cpu bin/rkt version
    label=list cpu bin/rkt --dir "$work/data" list
  done
  echo
  echo "## CPU (perf stat task-clock, interleaved, medians)"
  for label in floor version list; do
    printf '%-8s %s ms\n' "$label" "$(sort -n "$work/cpu.$label" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  done
fi
