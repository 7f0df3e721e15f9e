#!/usr/bin/env bash
# Stand-ins for the images the CRI validation suite (critest v1.29, kubernetes-sigs/cri-tools) pulls,
# pushed to a plain-http registry of registry-start.sh under the upstream repository names, so that a
# CRI runtime given --registry-mirror=registry.k8s.io=http://HOST:PORT and
# --registry-mirror=gcr.io=http://HOST:PORT finds them. Made without Docker from this machine's files:
# Debian's busybox-static, and one small static Go program (standins/standin.go, built with Debian's
# Go) for what a shell cannot do.
#
# Usage: cri-images.sh --registry HOST:PORT [--no-push]
#   --no-push   only build the OCI layout ($D2A_TESTENV_DIR/images/cri-oci, tags as below)
#
# Image specs (made from the test layout of build-images.sh; repository prefix k8s-staging-cri-tools/):
#   test-image-latest:latest  test-image-tag:test  test-image-tag:all  test-image-tags:1/2/3
#                                  the layout's `latest` (one image under all these names)
#   test-image-1/2/3:latest        three different images (a label n=1/2/3)
#   test-image-user-uid            User 1002            test-image-user-username        User www-data
#   test-image-user-uid-group      User 1003:1003       test-image-user-username-group  User www-data:www-data
# Not made: test-image-digest@sha256:9700f9a2...: the suite wants that exact upstream digest.
#
# Runtime specs (layout tag in brackets; the registry.k8s.io ones are manifest lists, as upstream,
# with one linux/amd64 entry). Every image but pause has busybox-static with all its applets in /bin
# (hard links) but the shell: /bin/sh is Debian's dynamic busybox (its .deb, from scripts/setup.sh),
# whose shell, like upstream's, runs commands through PATH; plus shell stand-ins for the two applets
# the suite runs that Debian's busybox lacks (pgrep, ipcs -m), and an /etc/passwd and /etc/group with
# root, www-data (33) and nobody (65534):
#   pause:3.6 [pause]              /pause only (User 65535:65535): sleeps until SIGTERM/SIGINT, exits 0
#   e2e-test-images/busybox:1.29-2 [busybox]   Cmd ["sh"]
#   e2e-test-images/nginx:1.14-2 [nginx]       Cmd ["nginx","-g","daemon off;"]: /usr/sbin/nginx runs
#                                  as "nginx: master process ...", writes /var/run/nginx.pid and
#                                  serves /usr/share/nginx/html on the `listen` port of
#                                  /etc/nginx/conf.d/default.conf (80) with busybox httpd
#   e2e-test-images/httpd:2.4.39-4 [httpd]     Cmd ["httpd-foreground"]: logs apache's
#                                  "Command line: 'httpd -D FOREGROUND'" line, serves port 80
#   e2e-test-images/nonewprivs:1.3 [nonewprivs] Entrypoint /usr/local/bin/nnp, setuid root: prints
#                                  "Effective uid: N"
#   k8s-staging-cri-tools/hostnet-nginx-amd64 [hostnet-nginx]  the nginx stand-in on port 12003
#   k8s-staging-cri-tools/test-image-predefined-group [predefined-group]  User 1000 (default-user),
#                                  a member of group-defined-in-image (50000) in /etc/group
# Prints `export CRI_IMAGES_REGISTRY=HOST:PORT` and `export CRI_IMAGES_PREFIX=HOST:PORT/k8s-staging-cri-tools`.
. "$(dirname "$0")/common.sh"

REG="" PUSH=1
while [ $# -gt 0 ]; do
  case "$1" in
    --registry) REG=$2; shift 2 ;;
    --no-push) PUSH=0; shift ;;
    -h|--help) sed -n '2,/^\. /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done
[ "$PUSH" = 0 ] || [ -n "$REG" ] || die "--registry HOST:PORT is required"
need umoci skopeo jq go tar sha256sum dpkg-deb ldd
if [ "$PUSH" = 1 ]; then
  st="$TESTENV_DIR/registry-${REG##*:}"
  [ -s "$st/env" ] || die "no registry started by registry-start.sh on port ${REG##*:}"
  # shellcheck disable=SC1091
  ( . "$st/env"; [ "$D2A_REGISTRY_TLS" = 0 ] && [ "$D2A_REGISTRY_AUTH" = none ] ) ||
    die "$REG: the stand-ins go to a plain-http registry without auth"
fi
LAYOUT="$TESTENV_DIR/images/oci"
[ -s "$LAYOUT/index.json" ] || die "no test layout at $LAYOUT (run build-images.sh first)"
if [ ! -x /bin/busybox ] || [ "$(LC_ALL=C ldd /bin/busybox 2>&1 | grep -c 'not a dynamic' || true)" = 0 ]; then
  die "/bin/busybox must be busybox-static (run install.sh)"
fi

# Debian's dynamic busybox .deb (scripts/setup.sh keeps one in .cache/debs; apt's cache may have one)
BUSYBOX_DEB=""
for f in "$TESTENV_SCRIPTS"/../../.cache/debs/busybox_*_amd64.deb /var/cache/apt/archives/busybox_*_amd64.deb; do
  if [ -f "$f" ]; then BUSYBOX_DEB=$f; break; fi
done
[ -n "$BUSYBOX_DEB" ] || die "no .deb of Debian's busybox package in .cache/debs (scripts/setup.sh downloads it)"

CRI_VERSION=5            # bump when the runtime stand-ins below change
CRI_LAYOUT="$TESTENV_DIR/images/cri-oci"
WORK="$(mktemp -d "$TESTENV_DIR/cri-images.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# ---- image-spec stand-ins: variants of the test layout's `latest` ------------------------------
L="$WORK/oci"
cp -a "$LAYOUT" "$L"
# --no-history: the configs (and so the digests) are the same on every run.
variant() { umoci config --no-history --image "$L:latest" --tag "$1" "${@:2}"; }
variant user-uid --config.user 1002
variant user-username --config.user www-data
variant user-uid-group --config.user 1003:1003
variant user-username-group --config.user www-data:www-data
for n in 1 2 3; do variant "n$n" --config.label "n=$n"; done

# ---- runtime-spec stand-ins ----------------------------------------------------------------------
# layer_tar DIR TAR: a reproducible layer of DIR's contents (owners and modes as they are in DIR)
layer_tar() {
  find "$1" -exec touch -h -d "@$TESTENV_EPOCH" {} +
  tar -C "$1" --sort=name --mtime="@$TESTENV_EPOCH" --numeric-owner --format=posix \
      --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$2" .
}
# add_layer FROM TO DIR: image TO is image FROM plus a layer of DIR
add_layer() {
  local t="$WORK/layer-$2.tar"
  layer_tar "$3" "$t"
  umoci raw add-layer --history.created "$TESTENV_CREATED" --history.created_by "$2" --image "$C:$1" --tag "$2" "$t"
}
# config FROM TO ARGS...: image TO is FROM with these umoci config options
config() {
  umoci config --no-history --image "$C:$1" --tag "$2" --created "$TESTENV_CREATED" --os linux \
    --architecture amd64 "${@:3}"
}
# index TAG IMAGE: tag an OCI image index with one linux/amd64 entry, IMAGE
index() {
  local d s blob="$WORK/index-$1.json"
  jq -cn --argjson m "$(jq -c --arg r "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]==$r) | del(.annotations)' "$C/index.json")" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [($m + {platform: {architecture: "amd64", os: "linux"}})]}' > "$blob"
  d=$(sha256sum "$blob" | cut -d' ' -f1); s=$(stat -c %s "$blob")
  cp "$blob" "$C/blobs/sha256/$d"
  jq --arg d "sha256:$d" --argjson s "$s" --arg r "$1" '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json",
      digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": $r}}]' "$C/index.json" > "$WORK/index.json"
  cp "$WORK/index.json" "$C/index.json"
}
passwd_files() { # passwd_files ROOT [EXTRA-PASSWD-LINE EXTRA-GROUP-LINE...]
  printf '%s\n' root:x:0:0:root:/root:/bin/sh daemon:x:1:1:daemon:/usr/sbin:/bin/false \
    www-data:x:33:33:www-data:/var/www:/bin/false nobody:x:65534:65534:nobody:/home:/bin/false > "$1/etc/passwd"
  printf '%s\n' root:x:0: daemon:x:1: www-data:x:33: users:x:100: nogroup:x:65534: > "$1/etc/group"
}

build_runtime_images() {
  local R std="$WORK/standin"
  C="$WORK/cri-oci"
  log "building the runtime stand-ins"
  (cd "$TESTENV_SCRIPTS/standins" && CGO_ENABLED=0 GOFLAGS='' GO111MODULE=off \
     go build -trimpath -ldflags='-s -w -buildid=' -o "$std" standin.go)
  umoci init --layout "$C"
  umoci new --image "$C:empty"

  # pause: the program alone
  R="$WORK/pause"; mkdir -p "$R"; install -m 0755 "$std" "$R/pause"
  add_layer empty pause-fs "$R"
  config pause-fs pause --config.entrypoint /pause --config.user 65535:65535

  # busybox: every applet of busybox-static in /bin, and pgrep/ipcs as shell scripts. The applets
  # are hard links, as in the upstream image: a masked path (a bind mount of /dev/null) on a
  # symlink such as /bin/ls would land on /bin/busybox and take every applet with it.
  R="$WORK/busybox"; mkdir -p "$R"/{bin,etc,root,tmp,home,var/run,usr/local/bin}
  cp /bin/busybox "$R/bin/busybox"
  local a lib
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln "$R/bin/busybox" "$R/bin/$a"; done
  # The shell (sh, ash) is Debian's dynamic busybox, with the host's libraries it links: busybox-static's
  # shell runs its own applets without looking at PATH, so a masked /bin/ls would never be executed
  # (the suite's MaskedPaths spec expects "/bin/sh: ls: Permission denied").
  rm -f "$R/bin/sh" "$R/bin/ash"
  dpkg-deb -x "$BUSYBOX_DEB" "$WORK/bbdeb"
  install -m 0755 "$WORK/bbdeb/bin/busybox" "$R/bin/sh"
  ln "$R/bin/sh" "$R/bin/ash"
  for lib in $(ldd "$R/bin/sh" | awk '$(NF-1) ~ /^\// { print $(NF-1) }'); do
    mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
  done
  cat > "$R/bin/pgrep" <<'EOF'
#!/bin/sh
# pgrep stand-in (Debian's busybox-static has none): pgrep PATTERN prints the pids of the processes
# whose name matches the extended regular expression PATTERN, except its own.
[ $# -eq 1 ] || { echo "usage: pgrep PATTERN" >&2; exit 2; }
found=1
for d in /proc/[0-9]*; do
  pid=${d#/proc/}
  [ "$pid" = "$$" ] && continue
  comm=$(cat "$d/comm" 2>/dev/null) || continue
  if printf '%s\n' "$comm" | grep -Eq -- "$1"; then echo "$pid"; found=0; fi
done
exit $found
EOF
  cat > "$R/bin/ipcs" <<'EOF'
#!/bin/sh
# ipcs stand-in (Debian's busybox-static has none): `ipcs -m` lists the System V shared memory
# segments of this IPC namespace from /proc/sysvipc/shm, in util-linux's columns.
[ "${1:--m}" = -m ] || { echo "ipcs: only -m is supported" >&2; exit 2; }
echo
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch     status"
awk 'FNR == NR { split($0, f, ":"); user[f[3]] = f[1]; next }
     FNR > 1 { printf "0x%08x %-10s %-10s %-10s %-10s %-10s\n", $1, $2, ($8 in user) ? user[$8] : $8,
               substr($3, length($3) - 2), $4, $7 }' /etc/passwd /proc/sysvipc/shm
echo
EOF
  chmod 0755 "$R/bin/pgrep" "$R/bin/ipcs"
  passwd_files "$R"
  chmod 0700 "$R/root"; chmod 1777 "$R/tmp"
  add_layer empty busybox-fs "$R"
  config busybox-fs busybox --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.cmd sh

  # nonewprivs: a setuid-root program that prints its effective uid
  R="$WORK/nnp"; mkdir -p "$R/usr/local/bin"; install -m 04755 -o 0 -g 0 "$std" "$R/usr/local/bin/nnp"
  add_layer busybox nnp-fs "$R"
  config nnp-fs nonewprivs --config.entrypoint /usr/local/bin/nnp

  # nginx: the stand-in master, its configuration and a page
  R="$WORK/nginx"; mkdir -p "$R"/{usr/sbin,etc/nginx/conf.d,usr/share/nginx/html,var/log/nginx,var/cache/nginx}
  install -m 0755 "$std" "$R/usr/sbin/nginx"
  printf 'server {\n    listen       80;\n    server_name  localhost;\n    root   /usr/share/nginx/html;\n}\n' \
    > "$R/etc/nginx/conf.d/default.conf"
  printf '<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n' > "$R/usr/share/nginx/html/index.html"
  add_layer busybox nginx-fs "$R"
  config nginx-fs nginx --config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' \
    --config.exposedports 80/tcp --config.stopsignal SIGTERM

  # hostnet-nginx: the same on port 12003
  R="$WORK/hostnet"; mkdir -p "$R/etc/nginx/conf.d"
  printf 'server {\n    listen       12003;\n    server_name  localhost;\n    root   /usr/share/nginx/html;\n}\n' \
    > "$R/etc/nginx/conf.d/default.conf"
  add_layer nginx hostnet-fs "$R"
  config hostnet-fs hostnet-nginx --clear config.exposedports --config.exposedports 12003/tcp

  # httpd: apache's start-up line, then busybox httpd on port 80
  R="$WORK/httpd"; mkdir -p "$R"/usr/local/{bin,apache2/htdocs,apache2/logs}
  cat > "$R/usr/local/bin/httpd-foreground" <<'EOF'
#!/bin/sh
# httpd image stand-in: apache's start-up notice on stderr, then busybox httpd in the foreground.
# The shell stays: as a container's pid 1, busybox httpd itself would ignore SIGTERM.
/bin/busybox httpd -f -p 80 -h /usr/local/apache2/htdocs &
pid=$!
trap 'kill "$pid"; wait "$pid"; echo "[mpm_event:notice] [pid $$] AH00491: caught SIGTERM, shutting down" >&2; exit 0' TERM INT
echo "[core:notice] [pid $$] AH00094: Command line: 'httpd -D FOREGROUND'" >&2
wait "$pid"
EOF
  chmod 0755 "$R/usr/local/bin/httpd-foreground"
  printf '<html><body><h1>It works!</h1></body></html>\n' > "$R/usr/local/apache2/htdocs/index.html"
  add_layer busybox httpd-fs "$R"
  config httpd-fs httpd --config.env PATH=/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.workingdir /usr/local/apache2 --config.cmd httpd-foreground --config.exposedports 80/tcp

  # predefined-group: default-user (1000) is a member of group-defined-in-image (50000)
  R="$WORK/pg"; mkdir -p "$R"/{etc,home/default-user}
  passwd_files "$R"
  echo default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh >> "$R/etc/passwd"
  printf '%s\n' default-user:x:1000: group-defined-in-image:x:50000:default-user >> "$R/etc/group"
  chown 1000:1000 "$R/home/default-user"
  add_layer busybox pg-fs "$R"
  config pg-fs predefined-group --config.user 1000

  for a in pause busybox nginx httpd nonewprivs predefined-group; do index "$a-list" "$a"; done
  for a in empty pause-fs busybox-fs nnp-fs nginx-fs hostnet-fs httpd-fs pg-fs; do umoci rm --image "$C:$a"; done
  umoci gc --layout "$C"
  chmod -R a+rX "$C"
  rm -rf "$CRI_LAYOUT"
  mv "$C" "$CRI_LAYOUT"
  echo "$CRI_VERSION" > "$CRI_LAYOUT/.complete"
}

if [ "$(cat "$CRI_LAYOUT/.complete" 2>/dev/null)" != "$CRI_VERSION" ]; then
  build_runtime_images
else
  log "reusing $CRI_LAYOUT"
fi
[ "$PUSH" = 1 ] || exit 0

PREFIX="$REG/k8s-staging-cri-tools"
# push SRC DEST [skopeo options]: SRC is a layout:tag, DEST a repository:tag of the registry
push() { skopeo --insecure-policy copy -q --retry-times 2 --dest-tls-verify=false --dest-no-creds "${@:3}" \
  "oci:$1" "docker://$REG/$2" >/dev/null; }
for name in test-image-latest:latest test-image-tag:test test-image-tag:all \
            test-image-tags:1 test-image-tags:2 test-image-tags:3; do
  push "$L:latest" "k8s-staging-cri-tools/$name" --preserve-digests
done
for n in 1 2 3; do push "$L:n$n" "k8s-staging-cri-tools/test-image-$n:latest" --preserve-digests; done
for u in user-uid user-username user-uid-group user-username-group; do
  push "$L:$u" "k8s-staging-cri-tools/test-image-$u:latest" --preserve-digests
done
# registry.k8s.io serves Docker manifest lists
push "$CRI_LAYOUT:pause-list" pause:3.6 --all --format v2s2
for a in busybox:1.29-2 nginx:1.14-2 httpd:2.4.39-4 nonewprivs:1.3; do
  push "$CRI_LAYOUT:${a%%:*}-list" "e2e-test-images/$a" --all --format v2s2
done
push "$CRI_LAYOUT:hostnet-nginx" k8s-staging-cri-tools/hostnet-nginx-amd64:latest --format v2s2
push "$CRI_LAYOUT:predefined-group-list" k8s-staging-cri-tools/test-image-predefined-group:latest --all --format v2s2
log "pushed the critest stand-ins to http://$REG (registry.k8s.io/... and gcr.io/k8s-staging-cri-tools/...)"
echo "export CRI_IMAGES_REGISTRY=$REG"
echo "export CRI_IMAGES_PREFIX=$PREFIX"
