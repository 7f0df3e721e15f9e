#!/usr/bin/env bash
# actool build and validate of a large rootfs against the coreutils pipelines doing the same work:
#   build    vs  tar -c | gzip
#   validate vs  gzip -dc | sha512sum
# The rootfs is a copy of a real tree (default: the Go toolchain, ~300 MB) so compression is realistic.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${BENCH_ROOTFS_SRC:-/usr/lib/go-1.19}
runs=${BENCH_RUNS:-5}
work=$(mktemp -d /var/tmp/rocket-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/layout"
cp -a "$src" "$work/layout/rootfs"
cat >"$work/layout/manifest" <<JSON
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench"}
JSON
echo "rootfs: $src, $(du -sh "$work/layout/rootfs" | cut -f1); $runs runs each; node $(node --version)"
unset NODE_EXTRA_CA_CERTS

hf() { hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$1" "$2" >/dev/null; }
hf "$work/build-ours.json" "bin/actool build --overwrite $work/layout $work/ours.aci"
hf "$work/build-peer.json" "tar -C $work/layout -c . | gzip > $work/peer.tar.gz"
node bench/ratios.mjs "actool build vs tar -c | gzip" ours="$work/build-ours.json" peer="$work/build-peer.json"

hf "$work/validate-ours.json" "bin/actool validate $work/ours.aci"
hf "$work/validate-peer.json" "gzip -dc $work/ours.aci | sha512sum"
node bench/ratios.mjs "actool validate vs gzip -dc | sha512sum" ours="$work/validate-ours.json" peer="$work/validate-peer.json"
