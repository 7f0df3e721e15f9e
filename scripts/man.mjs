// Man pages (section 1) from the command trees of rkt, actool and docker2aci: the same flag tables
// as their --help (src/cli/help.ts). Run by `npm run build` after tsc; writes dist/man/man1/*.1,
// and rkt's shell completion (`rkt completion bash|zsh`) to dist/completion/{rkt.bash,_rkt}.
// SOURCE_DATE_EPOCH, when set, dates the pages (reproducible packages).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

const { describe, manPages } = await import('../dist/src/cli/help.js');
const { makeProgram } = await import('../dist/src/cli/rkt.js');
const { bashCompletion, zshCompletion } = await import('../dist/src/cli/rkt/completion.js');
const { actoolProgram } = await import('../dist/src/cli/actool.js');
const { docker2aciProgram } = await import('../dist/src/cli/docker2aci.js');

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const epoch = process.env.SOURCE_DATE_EPOCH;
const when = epoch !== undefined && epoch !== '' ? new Date(Number(epoch) * 1000) : new Date();
const date = when.toLocaleDateString('en-US', { month: 'short', year: 'numeric', timeZone: 'UTC' });
const source = `rocket ${version}`;

const out = 'dist/man/man1';
const tmp = 'dist/man/.man1.tmp';
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
const trees = [
  [makeProgram(), 'rkt - App Container runtime'],
  [actoolProgram(), 'actool - App Container tool'],
  [docker2aciProgram(), 'docker2aci - Docker image converter'],
];
let count = 0;
for (const [program, manual] of trees) {
  for (const [file, text] of manPages(describe(program), { date, source, manual })) {
    writeFileSync(`${tmp}/${file}`, text);
    count++;
  }
}
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
console.log(`man: ${count} pages in ${out}`);

mkdirSync('dist/completion', { recursive: true });
const rkt = describe(makeProgram());
for (const [file, text] of [
  ['rkt.bash', bashCompletion(rkt)],
  ['_rkt', zshCompletion(rkt)],
]) {
  writeFileSync(`dist/completion/${file}.tmp`, text);
  renameSync(`dist/completion/${file}.tmp`, `dist/completion/${file}`);
}
