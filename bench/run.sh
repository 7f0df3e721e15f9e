#!/usr/bin/env bash
# Runs every benchmark (each prints medians and ratios against its peer), then one table of all the
# ratios. Installs the peers first.
set -euo pipefail
cd "$(dirname "$0")"
bash peers/01-install.sh
BENCH_TABLE=$(mktemp /tmp/rocket-bench-table.XXXXXX)
export BENCH_TABLE
trap 'rm -f "$BENCH_TABLE"' EXIT
for b in actool.sh fetch.sh docker2aci.sh pods.sh app.sh start.sh net.sh scale.sh growth.sh cri.sh nspawn.sh kvm.sh; do bash "$b"; done
echo
echo "# All ratios (ours / peer, medians)"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split("\t"));
const w = rows.reduce((m, r) => Math.max(m, r[0].length), 0);
for (const [t, o, p, r] of rows) console.log(`${t.padEnd(w)}  ${o.padStart(9)}  ${p.padEnd(22)} ${r}`);
' "$BENCH_TABLE"
