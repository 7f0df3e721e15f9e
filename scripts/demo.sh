#!/usr/bin/env bash
# The README's main job: the App Container walkthrough, end to end, on this machine only. Build a
# busybox ACI with our actool, sign it with GnuPG, publish it with meta discovery and its public key
# over HTTPS on a loopback address (a throwaway CA made with openssl), `rkt trust --prefix` (the key
# found by discovery), `rkt fetch` by name, `rkt image list`, `rkt run` with a host volume and app
# arguments after `--`, `rkt list`, `rkt gc`; then docker2aci from a local Docker registry
# (test/env) and `rkt run docker://...`. Needs root (pods). Everything lives in a temp dir
# (its own --dir and config dirs); servers are stopped by pid and the dir removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
testenv=${ROCKET_TESTENV:-$root/test/env}
work=$(mktemp -d "${TMPDIR:-/tmp}/rocket-demo.XXXXXX")
export GNUPGHOME=$work/gnupg XDG_CACHE_HOME=$work/cache SSL_CERT_FILE=$work/tls/ca.pem NODE_EXTRA_CA_CERTS=
rkt=(bin/rkt --dir="$work/store" --local-config="$work/config" --system-config="$work/system"
  --user-config="$work/user")
server_pid= registry_port=
cleanup() {
  set +e
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; fi
  if [ -n "$registry_port" ]; then
    D2A_TESTENV_DIR=$work/testenv bash "$testenv/registry-stop.sh" --port "$registry_port" >/dev/null 2>&1
  fi
  # Collects any pod a failed step left (its mounts and cgroups) before the dir goes.
  "${rkt[@]}" gc --grace-period=0s >/dev/null 2>&1
  gpgconf --kill gpg-agent 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n=== %s\n' "$*"; }
# A random loopback address (a whole /8 is ours) and a free port, so demos and tests can overlap.
ip=127.78.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
free_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % 9000)) # below the test registries' ports (21000-61000)
    [ -z "$(ss -Hltn "( sport = :$p )")" ] && echo "$p" && return
  done
}
name=$ip/busybox
echo "demo dir: $work"

step "1. build an ACI with actool: $name"
layout=$work/busybox-layout
mkdir -p "$layout/rootfs/bin" "$layout/rootfs/etc" "$layout/rootfs/tmp"
cp /bin/busybox "$layout/rootfs/bin/busybox"
for applet in sh echo ls cat true sleep; do ln -s busybox "$layout/rootfs/bin/$applet"; done
install -m 755 examples/busybox/greet "$layout/rootfs/bin/greet"
echo 'root:x:0:0:root:/:/bin/sh' >"$layout/rootfs/etc/passwd"
echo 'root:x:0:' >"$layout/rootfs/etc/group"
jq --arg name "$name" '.name = $name' examples/busybox/manifest >"$layout/manifest"
aci=$work/busybox.aci
bin/actool build --owner-root "$layout" "$aci"
bin/actool validate "$aci" && echo "actool validate: $aci is a valid ACI"
if [ -x .cache/tools/actool ]; then
  .cache/tools/actool validate "$aci" && echo "reference actool validate: valid"
fi
bin/actool cat-manifest --pretty-print "$aci"
echo "image ID: sha512-$(gzip -dc "$aci" | sha512sum | cut -c1-128)"

step "2. sign it with GnuPG"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-gen-key 'Rocket Demo <demo@example.com>' ed25519 sign never 2>/dev/null
gpg --batch --quiet --armor --detach-sign --output "$aci.asc" "$aci"
gpg --batch --with-colons --fingerprint demo@example.com 2>/dev/null | awk -F: '$1 == "fpr" { print "key fingerprint: " $10; exit }'
gpg --batch --verify "$aci.asc" "$aci" 2>&1 | grep -o 'Good signature from "[^"]*"'

step "3. publish it on https://$ip/ with meta discovery and a pubkeys file"
mkdir -p "$work/tls" "$work/www/busybox" "$work/www/images"
(
  cd "$work/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj '/CN=Rocket demo CA' 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=$ip" 2>/dev/null
  echo "subjectAltName=IP:$ip" >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 \
    -extfile ext.cnf 2>/dev/null
)
cp "$aci" "$work/www/images/busybox-1.0.0-linux-amd64.aci"
cp "$aci.asc" "$work/www/images/busybox-1.0.0-linux-amd64.aci.asc"
gpg --batch --quiet --armor --export demo@example.com >"$work/www/pubkeys.gpg"
cat >"$work/www/busybox/index.html" <<EOF
<html><head>
<meta name="ac-discovery" content="$name https://$ip/images/busybox-{version}-{os}-{arch}.{ext}">
<meta name="ac-discovery-pubkeys" content="$name https://$ip/pubkeys.gpg">
</head></html>
EOF
node scripts/demo-server.mjs "$ip" 443 "$work/tls/server.pem" "$work/tls/server.key" "$work/www" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening' "$work/server.log" && break; sleep 0.05; done
grep '^listening' "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
bin/actool discover "$name:1.0.0"

step "4. rkt trust --prefix $name (the key found by discovery)"
"${rkt[@]}" trust --prefix="$name" --skip-fingerprint-review

step "5. rkt fetch $name:1.0.0 (by name: discovery, download, signature check)"
id=$("${rkt[@]}" fetch "$name:1.0.0")
echo "fetched: $id"

step "6. rkt image list"
"${rkt[@]}" image list

step "7. rkt run with a host volume and app arguments after --"
mkdir "$work/host-data"
echo "greetings from the host" >"$work/host-data/from-host.txt"
"${rkt[@]}" run --net=none --uuid-file-save="$work/uuid" \
  --volume=data,kind=host,source="$work/host-data" "$name:1.0.0" -- first-arg 'second arg'
echo "the app left in the host volume: $(cat "$work/host-data/from-app.txt")"

step "8. rkt list"
"${rkt[@]}" list
"${rkt[@]}" status "$(cat "$work/uuid")"

step "9. rkt gc"
"${rkt[@]}" gc --grace-period=0s
"${rkt[@]}" list --no-legend | grep -c . | sed 's/^/pods left: /' || true

step "10. docker2aci from a local Docker registry"
registry_port=$(free_port)
export D2A_TESTENV_DIR=$work/testenv
bash "$testenv/registry-start.sh" --port "$registry_port" >/dev/null
bash "$testenv/build-images.sh" --registry "127.0.0.1:$registry_port" >/dev/null
unset D2A_TESTENV_DIR
docker_image=docker://127.0.0.1:$registry_port/test/busybox:latest
mkdir "$work/d2a"
bin/docker2aci -insecure-allow-http -o "$work/d2a" "$docker_image"
bin/actool cat-manifest "$work/d2a"/*.aci | jq -c '{name, exec: .app.exec, user: .app.user}'

step "11. rkt run $docker_image"
"${rkt[@]}" --insecure-options=image,http run --net=none "$docker_image"
"${rkt[@]}" image list --fields=name,size
"${rkt[@]}" gc --grace-period=0s

step "what the web server on $ip saw"
tail -n +2 "$work/server.log"
