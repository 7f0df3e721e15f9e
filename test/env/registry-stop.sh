#!/usr/bin/env bash
# Stop registries (and token servers) started by registry-start.sh and remove what the scripts made.
#
# Usage: registry-stop.sh              stop every registry under $D2A_TESTENV_DIR and delete that
#                                      whole directory (registries' data, images, certificates)
#        registry-stop.sh --port N     stop only the registry on port N and delete its state dir
#        registry-stop.sh --keep-files stop everything but keep images/ and certs/ (faster rebuilds)
# Only processes whose pid files these scripts wrote, and whose command line still matches, are
# signalled. Idempotent: succeeds when nothing is running.
. "$(dirname "$0")/common.sh"

PORT="" KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT=$2; shift 2 ;;
    --keep-files) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^\. /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done

stop_one() {
  local s=$1
  stop_pid "$s/token.pid" token-server.cjs
  stop_pid "$s/pid" docker-registry
  rm -rf "$s"
  log "stopped and removed ${s##*/}"
}

if [ -n "$PORT" ]; then
  [ -d "$TESTENV_DIR/registry-$PORT" ] && stop_one "$TESTENV_DIR/registry-$PORT"
  exit 0
fi

shopt -s nullglob
for s in "$TESTENV_DIR"/registry-*; do stop_one "$s"; done
if [ "$KEEP" = 0 ] && [ -d "$TESTENV_DIR" ]; then
  if [ -f "$TESTENV_DIR/.d2a-testenv" ]; then
    if [ -s "$TESTENV_DIR/.created-blob-cache" ]; then   # skopeo's cache, if build-images.sh created it
      rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
      rmdir /var/lib/containers/cache /var/lib/containers 2>/dev/null || true
    fi
    rm -rf "$TESTENV_DIR"
    log "removed $TESTENV_DIR"
  else
    log "not removing $TESTENV_DIR: it has no .d2a-testenv marker"
  fi
fi
exit 0
