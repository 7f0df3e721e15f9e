#!/usr/bin/env bash
# docker2aci of a realistic multi-layer image from a loopback registry, against the peer pipeline
# doing the same job: `skopeo copy` to an OCI layout, then `umoci unpack`. Both download all layers
# and end with the image on disk (ours as a gzip ACI, or with BENCH_COMPRESSION=none an uncompressed
# one). Our layer cache is off (-no-layer-cache), so every run downloads everything, like skopeo into
# an empty layout.
#
# The image (BENCH_IMAGE=debian, the default): Debian packages from /var/cache/apt/archives unpacked
# with `dpkg-deb -x` into BENCH_LAYERS layers (default 4) of about equal size, BENCH_IMAGE_MB MB of
# .deb files in all (default 60: a base-image-sized rootfs of ~180 MB and ~10k files); each layer
# also rewrites the previous layer's var/lib/dpkg/status (as every `apt-get install` layer does).
# Packages are taken in name order, skipping any .deb over 8 MB, so the mix of small libraries,
# binaries, docs and data is the archive's own. BENCH_IMAGE=go: the Go toolchain split in three.
# With BENCH_RSS=1 each side is also run once under /usr/bin/time -v and its peak RSS printed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-3}
port=${BENCH_REGISTRY_PORT:-5077}
compression=${BENCH_COMPRESSION:-gzip}
kind=${BENCH_IMAGE:-debian}
testenv=$PWD/test/env
work=$(mktemp -d /var/tmp/rocket-bench-d2a.XXXXXX)
export D2A_TESTENV_DIR=$work/testenv
trap 'bash "$testenv/registry-stop.sh" --port "$port" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

umoci init --layout "$work/layout" >/dev/null
umoci new --image "$work/layout:latest" >/dev/null
if [ "$kind" = go ]; then
  # layer 1 = src/, layer 2 = pkg/, layer 3 = everything else.
  src=${BENCH_ROOTFS_SRC:-/usr/lib/go-1.19}
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
  what="$src as 3 layers"
else
  layers=${BENCH_LAYERS:-4}
  budget=$((${BENCH_IMAGE_MB:-60} * 1024 * 1024))
  per=$((budget / layers))
  mapfile -t debs < <(find /var/cache/apt/archives -maxdepth 1 -name '*.deb' -size -8M | sort)
  [ "${#debs[@]}" -gt 0 ] || { echo "no .deb files in /var/cache/apt/archives" >&2; exit 1; }
  layer=1 used=0 total=0 i=0
  mkdir -p "$work/parts/1/var/lib/dpkg"
  while [ "$layer" -le "$layers" ] && [ "$i" -lt "${#debs[@]}" ]; do
    deb=${debs[$i]}
    i=$((i + 1))
    size=$(stat -c %s "$deb")
    dpkg-deb -x "$deb" "$work/parts/$layer"
    dpkg-deb -f "$deb" >>"$work/status"
    echo >>"$work/status"
    used=$((used + size))
    total=$((total + size))
    if [ "$used" -ge "$per" ] || [ "$i" -eq "${#debs[@]}" ]; then
      mkdir -p "$work/parts/$layer/var/lib/dpkg"
      cp "$work/status" "$work/parts/$layer/var/lib/dpkg/status"
      umoci insert --image "$work/layout:latest" "$work/parts/$layer" / >/dev/null
      rm -rf "$work/parts/$layer"
      layer=$((layer + 1))
      used=0
      mkdir -p "$work/parts/$layer"
    fi
  done
  umoci config --image "$work/layout:latest" --config.cmd /bin/sh >/dev/null
  what="$i Debian packages ($((total / 1048576)) MB of .deb) as $((layer - 1)) layers"
fi

eval "$(bash "$testenv/registry-start.sh" --port "$port")"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:latest" "docker://$D2A_REGISTRY/bench/img:latest"
ref="$D2A_REGISTRY/bench/img:latest"
rm -rf "$work/layout/blobs" "$work/parts"
# shellcheck disable=SC2016 # the node script is single-quoted on purpose
echo "image: $what; $(skopeo inspect --raw --tls-verify=false "docker://$ref" | node -e '
  const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const c = m.layers.reduce((a, l) => a + l.size, 0);
  console.log(`${(c / 1048576).toFixed(0)} MB compressed`);
'); $runs runs each; node $(node --version); $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"

ours="bin/docker2aci -insecure-allow-http -no-layer-cache -compression=$compression -o $work/ours docker://$ref"
peer="skopeo copy --quiet --src-tls-verify=false docker://$ref oci:$work/peer:latest && umoci unpack --image $work/peer:latest $work/bundle >/dev/null"
hf() { hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$1" --prepare "$2" "$3" >/dev/null; }
mkdir -p "$work/ours"
hf "$work/ours.json" "rm -rf $work/ours/*" "$ours"
hf "$work/peer.json" "rm -rf $work/peer $work/bundle" "$peer"
node bench/ratios.mjs "docker2aci (squash, $compression) vs skopeo copy + umoci unpack" ours="$work/ours.json" peer="$work/peer.json"
echo "output: $(du -sh "$work"/ours/*.aci | cut -f1) ACI; unpacked rootfs $(du -sh "$work/bundle/rootfs" | cut -f1), $(find "$work/bundle/rootfs" | wc -l) entries"
if [ -n "${BENCH_HOLD:-}" ]; then
  echo "registry at $ref held until $BENCH_HOLD exists"
  while [ ! -e "$BENCH_HOLD" ]; do sleep 1; done
fi
if [ "${BENCH_RSS:-0}" = 1 ]; then
  rss() { /usr/bin/time -v bash -c "$1" 2>&1 >/dev/null | awk '/Maximum resident/ {printf "%.0f MB", $6 / 1024}'; }
  rm -rf "$work"/ours/*
  r_ours=$(rss "$ours")
  rm -rf "$work/peer" "$work/bundle"
  r_peer=$(rss "$peer")
  echo "peak RSS (largest single process): ours $r_ours, skopeo/umoci $r_peer"
fi
