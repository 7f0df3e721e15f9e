#!/bin/bash
# `make deb`: a Debian package (dist/deb/rocket_VERSION_ARCH.deb) of `make install PREFIX=/usr`,
# built with dpkg-deb. Runs after `npm run build`.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
out=${DEBDIR:-dist/deb}
stage=$out/root
rm -rf "$stage"
mkdir -p "$stage"
node scripts/install.mjs install --destdir="$stage" --prefix=/usr --zshdir=/usr/share/zsh/vendor-completions \
	--unitdir=/usr/lib/systemd/system >/dev/null
# dpkg keeps its own list of the package's files.
rm "$stage/usr/lib/rocket/install-manifest.json"
# Debian compresses man pages.
gzip -9n "$stage"/usr/share/man/man1/*.1

mkdir -p "$stage/DEBIAN"
install -m 0755 packaging/deb/postinst "$stage/DEBIAN/postinst"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: rocket
Version: $version
Architecture: $arch
Maintainer: Rocket developers <rocket@localhost>
Installed-Size: $size
Depends: nodejs (>= 20.19), crun | runc, containernetworking-plugins, iproute2, iptables, mawk, util-linux, mount, tar
Section: admin
Priority: optional
Homepage: https://github.com/rkt/rkt
Description: App Container (appc) toolchain and rkt-compatible pod runtime
 Rocket implements rkt, the App Container runtime, in TypeScript on Node.js: an image store,
 fetching and trust of ACI and Docker images, and pods run by an OCI runtime (crun or runc)
 with CNI networking, plus actool and docker2aci.
CONTROL
deb=$out/rocket_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb.tmp" >/dev/null
mv "$deb.tmp" "$deb"
echo "$deb"
