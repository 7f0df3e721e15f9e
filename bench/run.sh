#!/usr/bin/env bash
# Runs every benchmark; each prints medians and ratios against its peer.
set -euo pipefail
cd "$(dirname "$0")"
for b in actool.sh fetch.sh docker2aci.sh pods.sh app.sh net.sh; do bash "$b"; done
