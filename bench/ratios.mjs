// Reads hyperfine JSON exports given as `label=file.json` pairs ("ours" first, then the peer) and prints
// each command's median and the ratio of ours to the peer. With BENCH_TABLE set (bench/run.sh sets
// it), the ratio is also appended there as one tab-separated row: title, ours, peer, ratio.
import { appendFileSync, readFileSync } from 'node:fs';

const [title, ...pairs] = process.argv.slice(2);
const rows = pairs.map((p) => {
  const [label, file] = p.split('=');
  const result = JSON.parse(readFileSync(file, 'utf8')).results[0];
  return { label, median: result.median, command: result.command };
});
console.log(`\n## ${title}`);
for (const r of rows)
  console.log(`${r.label.padEnd(10)} median ${(r.median * 1000).toFixed(0).padStart(7)} ms   ${r.command}`);
if (rows.length >= 2) {
  const ratio = rows[0].median / rows[1].median;
  console.log(`ratio ours/peer: ${ratio.toFixed(2)}x`);
  if (process.env.BENCH_TABLE) {
    const ms = (s) => `${(s * 1000).toFixed(s < 1 ? 1 : 0)} ms`;
    appendFileSync(
      process.env.BENCH_TABLE,
      `${title}\t${ms(rows[0].median)}\t${rows[1].label} ${ms(rows[1].median)}\t${ratio.toFixed(2)}x\n`,
    );
  }
}
