#!/usr/bin/env bash
# The main job on a built-in example: lay out a busybox rootfs, build an ACI from it with our actool,
# validate it with ours and with the reference actool, and show its manifest and image ID.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/rocket-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

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
