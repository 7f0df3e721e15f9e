#!/usr/bin/env bash
# The main job on a built-in example: lay out a busybox rootfs, build an ACI with our actool,
# validate it with ours and the reference actool, sign it with a throwaway GnuPG key, trust that key
# for the image's prefix, fetch the image into a store with its signature verified, list and render
# it, then run it as a pod (as root) and collect the pod. Everything lives in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/rocket-demo.XXXXXX)
export GNUPGHOME=$work/gnupg
trap 'gpgconf --kill gpg-agent 2>/dev/null || true; rm -rf "$work"' EXIT

layout=$work/busybox-layout
mkdir -p "$layout/rootfs/bin" "$layout/rootfs/etc" "$layout/rootfs/tmp"
cp /bin/busybox "$layout/rootfs/bin/busybox"
for applet in sh echo ls cat true sleep; do ln -s busybox "$layout/rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/:/bin/sh' >"$layout/rootfs/etc/passwd"
echo 'root:x:0:' >"$layout/rootfs/etc/group"
cp examples/busybox/manifest "$layout/manifest"

aci=$work/busybox.aci
bin/actool build --owner-root "$layout" "$aci"
bin/actool validate "$aci" && echo "actool validate: $aci is a valid ACI"
if [ -x .cache/tools/actool ]; then
  .cache/tools/actool validate "$aci" && echo "reference actool validate: valid"
fi
bin/actool cat-manifest --pretty-print "$aci"
echo "image ID: sha512-$(gzip -dc "$aci" | sha512sum | cut -c1-128)"

echo "--- sign, trust, fetch"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-gen-key 'Rocket Demo <demo@example.com>' ed25519 sign never 2>/dev/null
gpg --batch --quiet --armor --export demo@example.com >"$work/demo.asc"
gpg --batch --quiet --armor --detach-sign --output "$aci.asc" "$aci"
rkt=(bin/rkt --dir "$work/store" --local-config "$work/config" --system-config "$work/system")
"${rkt[@]}" trust --prefix example.com/busybox --skip-fingerprint-review "$work/demo.asc"
"${rkt[@]}" fetch "$aci"
"${rkt[@]}" image list
"${rkt[@]}" image render --rootfs-only example.com/busybox:1.0.0 "$work/rendered"
echo "rendered rootfs: $(ls "$work/rendered" | tr '\n' ' ')"

echo "--- run a pod (oci engine: $(command -v crun >/dev/null && echo crun || echo runc))"
"${rkt[@]}" run --uuid-file-save="$work/uuid" example.com/busybox:1.0.0
"${rkt[@]}" status "$(cat "$work/uuid")"
"${rkt[@]}" gc --grace-period=0s >/dev/null
