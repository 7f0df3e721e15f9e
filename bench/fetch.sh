#!/usr/bin/env bash
# rkt fetch + import of a large gzip ACI (the Go toolchain, ~300 MB of rootfs) against the coreutils
# pipelines doing the comparable work on the same file:
#   fetch FILE                  vs  gzip -dc FILE | sha512sum
#   fetch http://127.0.0.1/...  vs  curl -s URL | gzip -dc | tar -x -C DIR
# Verification is off (--insecure-options=image[,http]): the peers check no signature either.
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
cp -a "$src" "$work/layout/rootfs"
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
