#!/usr/bin/env bash
# Stand-ins for the images the CRI validation suite's image specs (critest, "Image Manager") pull
# from gcr.io/k8s-staging-cri-tools/, made from the test layout of build-images.sh and pushed to a
# plain-http registry of registry-start.sh under the same repository names, so that a CRI runtime
# given --registry-mirror=gcr.io=http://HOST:PORT finds them.
#
# Usage: cri-images.sh --registry HOST:PORT
#
# Pushed (repository prefix k8s-staging-cri-tools/):
#   test-image-latest:latest  test-image-tag:test  test-image-tag:all  test-image-tags:1/2/3
#                                  the layout's `latest` (one image under all these names)
#   test-image-1/2/3:latest        three different images (a label n=1/2/3)
#   test-image-user-uid            User 1002            test-image-user-username        User www-data
#   test-image-user-uid-group      User 1003:1003       test-image-user-username-group  User www-data:www-data
# Not made: test-image-digest@sha256:9700f9a2...: the suite wants that exact upstream digest.
# Prints `export CRI_IMAGES_PREFIX=HOST:PORT/k8s-staging-cri-tools`.
. "$(dirname "$0")/common.sh"

REG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --registry) REG=$2; shift 2 ;;
    -h|--help) sed -n '2,/^\. /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done
[ -n "$REG" ] || die "--registry HOST:PORT is required"
need umoci skopeo
st="$TESTENV_DIR/registry-${REG##*:}"
[ -s "$st/env" ] || die "no registry started by registry-start.sh on port ${REG##*:}"
# shellcheck disable=SC1091
( . "$st/env"; [ "$D2A_REGISTRY_TLS" = 0 ] && [ "$D2A_REGISTRY_AUTH" = none ] ) ||
  die "$REG: the stand-ins go to a plain-http registry without auth"
LAYOUT="$TESTENV_DIR/images/oci"
[ -s "$LAYOUT/index.json" ] || die "no test layout at $LAYOUT (run build-images.sh first)"

WORK="$(mktemp -d "$TESTENV_DIR/cri-images.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
L="$WORK/oci"
cp -a "$LAYOUT" "$L"
# --no-history: the configs (and so the digests) are the same on every run.
variant() { umoci config --no-history --image "$L:latest" --tag "$1" "${@:2}"; }
variant user-uid --config.user 1002
variant user-username --config.user www-data
variant user-uid-group --config.user 1003:1003
variant user-username-group --config.user www-data:www-data
for n in 1 2 3; do variant "n$n" --config.label "n=$n"; done

PREFIX="$REG/k8s-staging-cri-tools"
push() { skopeo --insecure-policy copy -q --retry-times 2 --dest-tls-verify=false --dest-no-creds --preserve-digests \
  "oci:$L:$1" "docker://$PREFIX/$2" >/dev/null; }
for name in test-image-latest:latest test-image-tag:test test-image-tag:all \
            test-image-tags:1 test-image-tags:2 test-image-tags:3; do
  push latest "$name"
done
for n in 1 2 3; do push "n$n" "test-image-$n:latest"; done
for u in user-uid user-username user-uid-group user-username-group; do push "$u" "test-image-$u:latest"; done
log "pushed the critest image stand-ins to http://$PREFIX"
echo "export CRI_IMAGES_PREFIX=$PREFIX"
