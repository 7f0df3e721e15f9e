#!/usr/bin/env bash
# One-step set-up of a fresh Debian 12 machine for Rocket: Debian packages, npm dependencies, the
# TypeScript build, and the reference Go actool used as a test oracle. Idempotent and quick when
# everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

# Programs the tools and tests use: busybox-static (example rootfs), compressors, gpg and openssl
# (signing, test CAs), attr (xattr checks), golang + appc spec sources (reference actool oracle),
# the Docker test environment of test/env (docker-registry, skopeo, umoci, jq, htpasswd,
# curl), the OCI runtimes pods run on (crun, runc) and iproute2, hyperfine (benchmarks), mawk (the
# pod loggers), systemd (systemd-notify for readiness; systemd-socket-activate in tests), python3
# (tests' NOTIFY_SOCKET receiver and pty driver), the CNI plugins and iptables (pod networks),
# shellcheck (`make lint` checks the pod supervisor, src/stage1/oci/supervisor.sh), socat (the CRI
# streaming server's port forwarding into pod network namespaces; the supervisor's attach
# endpoints, a pty or a stream per app, for `rkt attach`), systemd-container (systemd-nspawn, the
# nspawn engine), qemu-system-x86 (the kvm engine's VMs).
packages=(busybox-static gzip bzip2 xz-utils zstd gnupg openssl attr golang-go golang-github-appc-spec-dev
  docker-registry skopeo umoci jq apache2-utils curl ca-certificates hyperfine crun runc iproute2
  mawk systemd python3 containernetworking-plugins iptables zsh shellcheck socat systemd-container qemu-system-x86)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_get=(apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 -q)
  "${apt_get[@]}" update >/dev/null
  "${apt_get[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's dynamic busybox package, kept as a .deb only (it conflicts with busybox-static): its shell
# runs commands through PATH, as the upstream busybox image's does, and test/env/cri-images.sh makes it
# the /bin/sh of the CRI validation suite's stand-in images.
if ! ls .cache/debs/busybox_*.deb >/dev/null 2>&1; then
  mkdir -p .cache/debs
  (cd .cache/debs && apt-get -o Acquire::Retries=3 -q download busybox >/dev/null)
fi

# The kvm engine's guest kernel: the package linux-image-amd64 depends on, unpacked (not installed:
# the host's boot is not touched) into /var/lib/rkt/kvm/kernel (boot/vmlinuz-*, lib/modules/*).
kernel_root=/var/lib/rkt/kvm/kernel
if ! compgen -G "$kernel_root/boot/vmlinuz-*" >/dev/null; then
  kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
  echo "setup: unpacking $kernel_pkg into $kernel_root" >&2
  kernel_tmp=$(mktemp -d)
  chmod 755 "$kernel_tmp"
  (cd "$kernel_tmp" && apt-get -q -o APT::Sandbox::User=root download "$kernel_pkg" >/dev/null)
  mkdir -p "$kernel_root.tmp"
  dpkg-deb -x "$kernel_tmp"/*.deb "$kernel_root.tmp"
  rm -rf "$kernel_tmp" "$kernel_root"
  mv "$kernel_root.tmp" "$kernel_root"
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.rocket-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

# tsc, then stage0's startup snapshot (scripts/bundle.mjs).
npm run --silent build

# The reference actool from Debian's appc sources (GOPATH mode), our validation oracle.
if [ ! -x .cache/tools/actool ]; then
  mkdir -p .cache/tools .cache/go-build
  (cd .cache/tools && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/../go-build" \
    go build github.com/appc/spec/actool)
fi
# appc's ACE validator (the spec's conformance test, run as a pod by test/integration/ace), static so
# it runs alone in an ACI's rootfs.
if [ ! -x .cache/tools/ace-validator ]; then
  mkdir -p .cache/tools .cache/go-build
  (cd .cache/tools && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/../go-build" CGO_ENABLED=0 \
    go build -o ace-validator github.com/appc/spec/ace)
fi
