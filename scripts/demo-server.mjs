#!/usr/bin/env node
// A static HTTPS file server for scripts/demo.sh, standing in for an image publisher's web site:
// `node scripts/demo-server.mjs ADDR PORT CERT KEY DIR` serves the files under DIR (a directory's
// index.html for the directory; the query string is ignored, so `/app?ac-discovery=1` gets the
// meta discovery page in DIR/app/index.html). It logs one line per request to stdout, after a
// first `listening on https://ADDR:PORT` line, and stops on SIGTERM.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:https';
import { join, resolve, sep } from 'node:path';

const [addr, port, certFile, keyFile, dir] = process.argv.slice(2);
if (dir === undefined) {
  console.error('usage: demo-server.mjs ADDR PORT CERT KEY DIR');
  process.exit(2);
}
const root = resolve(dir);

/** The file a request path names under the root, or undefined (outside it, or missing). */
function fileFor(urlPath) {
  let name;
  try {
    name = resolve(root, '.' + decodeURIComponent(urlPath));
  } catch {
    return undefined;
  }
  if (name !== root && !name.startsWith(root + sep)) return undefined;
  try {
    const st = statSync(name);
    if (st.isDirectory())
      return statSync(join(name, 'index.html')).isFile() ? join(name, 'index.html') : undefined;
    return st.isFile() ? name : undefined;
  } catch {
    return undefined;
  }
}

const types = { '.html': 'text/html', '.asc': 'text/plain', '.gpg': 'application/pgp-keys' };

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const file = req.method === 'GET' || req.method === 'HEAD' ? fileFor(path) : undefined;
  console.log(`${req.method} ${req.url} ${file === undefined ? 404 : 200}`);
  if (file === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const ext = /\.[^./]+$/.exec(file)?.[0] ?? '';
  res.writeHead(200, {
    'content-type': types[ext] ?? 'application/octet-stream',
    'content-length': String(statSync(file).size),
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
});
server.on('error', (err) => {
  console.error(`demo-server: ${err.message}`);
  process.exit(1);
});
server.listen(Number(port), addr, () => console.log(`listening on https://${addr}:${port}`));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
