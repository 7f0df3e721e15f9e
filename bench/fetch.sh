#!/usr/bin/env bash
# rkt fetch + import of a large gzip ACI (the Go toolchain, ~300 MB of rootfs) against the coreutils
# pipelines doing the comparable work on the same file:
#   fetch FILE                  vs  gzip -dc FILE | sha512sum
#   fetch http://127.0.0.1/...  vs  curl -s URL | gzip -dc | tar -x -C DIR
# Verification is off (--insecure-options=image[,http]): the peers check no signature either.
# BENCH_FETCH_MB=N: instead of the Go toolchain, a rootfs of N MB made here from local data, 1 MB
# files, half of them random (incompressible) and half text (compressible): e.g. 1024 for the 1 GB
# image of issue 13. BENCH_RSS=1: each side of `fetch FILE` also run once under /usr/bin/time, its
# peak RSS printed (goal for ours: under 150 MB, whatever the image's size).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${BENCH_ROOTFS_SRC:-/usr/lib/go-1.19}
runs=${BENCH_RUNS:-3}
work=$(mktemp -d /var/tmp/rocket-bench-fetch.XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
unset NODE_EXTRA_CA_CERTS

mkdir -p "$work/layout" "$work/www"
if [ -n "${BENCH_FETCH_MB-}" ]; then
  src="$BENCH_FETCH_MB MB of 1 MB files, half random, half text"
  mkdir -p "$work/layout/rootfs"
  # One text MB (manual pages, decompressed), repeated with a counter so no two files are equal.
  (
    set +o pipefail
    find /usr/share/man /usr/share/doc -name '*.gz' | xargs zcat 2>/dev/null | head -c 1048576
  ) >"$work/text" || true
  for i in $(seq "$BENCH_FETCH_MB"); do
    d=$work/layout/rootfs/d$((i / 100))
    mkdir -p "$d"
    if [ $((i % 2)) = 0 ]; then
      head -c 1048576 /dev/urandom >"$d/f$i"
    else
      { echo "$i"; head -c 1048570 "$work/text"; } >"$d/f$i"
    fi
  done
  rm -f "$work/text"
else
  cp -a "$src" "$work/layout/rootfs"
fi
cat >"$work/layout/manifest" <<JSON
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench"}
JSON
bin/actool build --overwrite "$work/layout" "$work/www/bench.aci"
rm -rf "$work/layout"
echo "rootfs: $src; ACI $(du -h "$work/www/bench.aci" | cut -f1) gzip; $runs runs each; node $(node --version)"

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
# A small keep-alive HTTP/1.1 static server on loopback.
node -e '
const [dir, port] = process.argv.slice(1);
const fs = require("fs");
require("http").createServer((q, s) => {
  const f = dir + decodeURIComponent(q.url.split("?")[0]);
  fs.stat(f, (e, st) => {
    if (e || !st.isFile()) return s.writeHead(404).end();
    s.writeHead(200, { "content-length": st.size });
    fs.createReadStream(f).pipe(s);
  });
}).listen(Number(port), "127.0.0.1");
' "$work/www" "$port" &
server_pid=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
url="http://127.0.0.1:$port/bench.aci"

hf() { hyperfine --style basic --runs "$runs" --export-json "$1" --prepare "$2" "$3" >/dev/null; }
fresh="rm -rf $work/data $work/out; mkdir -p $work/out"

hf "$work/file-ours.json" "$fresh" "bin/rkt --dir $work/data --insecure-options=image fetch $work/www/bench.aci"
hf "$work/file-peer.json" "$fresh" "gzip -dc $work/www/bench.aci | sha512sum"
node bench/ratios.mjs "rkt fetch FILE vs gzip -dc | sha512sum" ours="$work/file-ours.json" peer="$work/file-peer.json"
if [ "${BENCH_RSS:-0}" = 1 ]; then
  # GNU time's %M: the largest peak RSS of the command and the processes it waited for.
  rss() { /usr/bin/time -f %M bash -c "$1" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f MB", $1 / 1024}'; }
  rm -rf "$work/data"
  r_ours=$(rss "bin/rkt --dir $work/data --insecure-options=image fetch $work/www/bench.aci")
  r_peer=$(rss "gzip -dc $work/www/bench.aci | sha512sum")
  echo "peak RSS (largest single process): ours $r_ours, gzip -dc | sha512sum $r_peer"
fi

hf "$work/http-ours.json" "$fresh" "bin/rkt --dir $work/data --insecure-options=image,http fetch $url"
hf "$work/http-peer.json" "$fresh" "curl -s $url | gzip -dc | tar -x -C $work/out"
node bench/ratios.mjs "rkt fetch http:// vs curl | gzip -dc | tar -x" ours="$work/http-ours.json" peer="$work/http-peer.json"

# Rendering the stored image as a pod's filesystem (`rkt image render`, the tree a pod starts from)
# against unpacking the same image with tar.
bin/rkt --dir "$work/data" --insecure-options=image fetch "$work/www/bench.aci" >/dev/null
id=$(bin/rkt --dir "$work/data" image list --no-legend --full | cut -f1 | head -1)
hf "$work/render-ours.json" "rm -rf $work/out" "bin/rkt --dir $work/data image render --rootfs-only $id $work/out"
hf "$work/render-peer.json" "rm -rf $work/out; mkdir -p $work/out" "gzip -dc $work/www/bench.aci | tar -x -C $work/out"
node bench/ratios.mjs "rkt image render vs gzip -dc | tar -x" ours="$work/render-ours.json" peer="$work/render-peer.json"
