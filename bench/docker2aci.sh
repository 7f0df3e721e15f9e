#!/usr/bin/env bash
# docker2aci of a 3-layer image of a few hundred MB (the Go toolchain split in three) from a loopback
# registry, against the peer pipeline doing the same job: `skopeo copy` to an OCI layout, then
# `umoci unpack`. Both download all layers and end with the image on disk (ours as a gzip ACI, or
# with BENCH_COMPRESSION=none an uncompressed one). Our layer cache is off (-no-layer-cache), so
# every run downloads everything, like skopeo into an empty layout.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${BENCH_ROOTFS_SRC:-/usr/lib/go-1.19}
runs=${BENCH_RUNS:-3}
port=${BENCH_REGISTRY_PORT:-5077}
compression=${BENCH_COMPRESSION:-gzip}
testenv=$PWD/test/env
work=$(mktemp -d /var/tmp/rocket-bench-d2a.XXXXXX)
export D2A_TESTENV_DIR=$work/testenv
trap 'bash "$testenv/registry-stop.sh" --port "$port" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The image: layer 1 = src/, layer 2 = pkg/, layer 3 = everything else.
umoci init --layout "$work/layout" >/dev/null
umoci new --image "$work/layout:latest" >/dev/null
for part in src pkg rest; do
  mkdir -p "$work/parts/$part/usr/lib/go"
  if [ "$part" = rest ]; then
    (cd "$src" && for f in *; do [ "$f" = src ] || [ "$f" = pkg ] || cp -a "$f" "$work/parts/rest/usr/lib/go/"; done)
  else
    cp -a "$src/$part" "$work/parts/$part/usr/lib/go/"
  fi
  umoci insert --image "$work/layout:latest" "$work/parts/$part" / >/dev/null
done
umoci config --image "$work/layout:latest" --config.cmd /usr/lib/go/bin/go >/dev/null

eval "$(bash "$testenv/registry-start.sh" --port "$port")"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:latest" "docker://$D2A_REGISTRY/bench/go:latest"
ref="$D2A_REGISTRY/bench/go:latest"
echo "image: $src as 3 layers, $(du -sh "$work/layout/blobs" | cut -f1) compressed; $runs runs each; node $(node --version)"

hf() { hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$1" --prepare "$2" "$3" >/dev/null; }
mkdir -p "$work/ours"
hf "$work/ours.json" "rm -rf $work/ours/*" \
  "bin/docker2aci -insecure-allow-http -no-layer-cache -compression=$compression -o $work/ours docker://$ref"
hf "$work/peer.json" "rm -rf $work/peer $work/bundle" \
  "skopeo copy --quiet --src-tls-verify=false docker://$ref oci:$work/peer:latest && umoci unpack --image $work/peer:latest $work/bundle >/dev/null"
node bench/ratios.mjs "docker2aci (squash, $compression) vs skopeo copy + umoci unpack" ours="$work/ours.json" peer="$work/peer.json"
