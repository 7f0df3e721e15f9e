#!/usr/bin/env bash
# Runs every benchmark; each prints medians and ratios against its peer. Installs the peers first.
set -euo pipefail
cd "$(dirname "$0")"
bash peers/01-install.sh
for b in actool.sh fetch.sh docker2aci.sh pods.sh net.sh; do bash "$b"; done
