// Reads hyperfine JSON exports given as `label=file.json` pairs ("ours" first, then the peer) and prints
// each command's median and the ratio of ours to the peer.
import { readFileSync } from 'node:fs';

const [title, ...pairs] = process.argv.slice(2);
const rows = pairs.map((p) => {
  const [label, file] = p.split('=');
  const result = JSON.parse(readFileSync(file, 'utf8')).results[0];
  return { label, median: result.median, command: result.command };
});
console.log(`\n## ${title}`);
for (const r of rows)
  console.log(`${r.label.padEnd(10)} median ${(r.median * 1000).toFixed(0).padStart(7)} ms   ${r.command}`);
if (rows.length >= 2) console.log(`ratio ours/peer: ${(rows[0].median / rows[1].median).toFixed(2)}x`);
