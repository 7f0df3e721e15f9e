#!/usr/bin/env node
// Minimal Docker registry v2 token service ("Bearer realm=..."), for tests only. No dependencies.
//
//   GET /token?service=SVC&scope=repository:NAME:pull[,push][&scope=...]
//     Authorization: Basic base64(user:password)   (optional with --anon-pull)
//   -> 200 {"token": JWT, "access_token": JWT, "expires_in": 300, "issued_at": ISO}
//   -> 401 (WWW-Authenticate: Basic) for missing/wrong credentials
//
// The JWT is RS256-signed with --key and carries the signing certificate (--cert) in its x5c header;
// the registry trusts it through auth.token.rootcertbundle = that same certificate.
// Every request is logged as one JSON line on stdout (tests can assert on the flow).
'use strict';
const http = require('http');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');

const opts = {
  host: '127.0.0.1',
  port: 0,
  key: '',
  cert: '',
  tlsKey: '',
  tlsCert: '',
  issuer: 'd2a-testenv-issuer',
  service: 'd2a-testenv-registry',
  user: 'testuser',
  password: 'testpassword',
  anonPull: false,
  ttl: 300,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const next = () => argv[++i];
  switch (a) {
    case '--host':
      opts.host = next();
      break;
    case '--port':
      opts.port = Number(next());
      break;
    case '--key':
      opts.key = next();
      break;
    case '--cert':
      opts.cert = next();
      break;
    case '--tls-key':
      opts.tlsKey = next();
      break;
    case '--tls-cert':
      opts.tlsCert = next();
      break;
    case '--issuer':
      opts.issuer = next();
      break;
    case '--service':
      opts.service = next();
      break;
    case '--user':
      opts.user = next();
      break;
    case '--password':
      opts.password = next();
      break;
    case '--anon-pull':
      opts.anonPull = true;
      break;
    case '--ttl':
      opts.ttl = Number(next());
      break;
    default:
      console.error(`unknown argument ${a}`);
      process.exit(2);
  }
}
if (!opts.port || !opts.key || !opts.cert) {
  console.error(
    'usage: token-server.js --port N --key signing-key.pem --cert signing-cert.pem [--tls-key k --tls-cert c] [--anon-pull]',
  );
  process.exit(2);
}
if (!/^(127\.|::1$|localhost$)/.test(opts.host)) {
  console.error('refusing to listen outside loopback');
  process.exit(2);
}

const signingKey = crypto.createPrivateKey(fs.readFileSync(opts.key));
const certDerB64 = new crypto.X509Certificate(fs.readFileSync(opts.cert)).raw.toString('base64');
const b64url = (buf) =>
  Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

function parseScope(s) {
  // "repository:test/busybox:pull,push" ; "registry:catalog:*"
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first < 0 || last <= first) return null;
  return {
    type: s.slice(0, first),
    name: s.slice(first + 1, last),
    actions: s
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function makeToken(sub, access) {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5c: [certDerB64] };
  const claims = {
    iss: opts.issuer,
    sub,
    aud: opts.service,
    exp: now + opts.ttl,
    nbf: now - 10,
    iat: now,
    jti: crypto.randomBytes(16).toString('hex'),
    access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), signingKey);
  return `${input}.${b64url(sig)}`;
}

function handler(req, res) {
  const url = new URL(req.url, 'http://x');
  const entry = { time: new Date().toISOString(), method: req.method, path: url.pathname, query: url.search };
  const reply = (code, body, headers = {}) => {
    entry.status = code;
    console.log(JSON.stringify(entry));
    res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'GET' || url.pathname !== '/token') return reply(404, { error: 'not found' });

  let user = '';
  const auth = req.headers.authorization || '';
  if (auth) {
    const m = /^Basic\s+(.+)$/i.exec(auth);
    const dec = m ? Buffer.from(m[1], 'base64').toString() : '';
    const sep = dec.indexOf(':');
    if (sep < 0 || dec.slice(0, sep) !== opts.user || dec.slice(sep + 1) !== opts.password) {
      entry.auth = 'bad';
      return reply(
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] },
        { 'WWW-Authenticate': 'Basic realm="d2a-testenv-token"' },
      );
    }
    user = dec.slice(0, sep);
    entry.auth = 'basic';
  } else if (!opts.anonPull) {
    entry.auth = 'none';
    return reply(
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'credentials required' }] },
      { 'WWW-Authenticate': 'Basic realm="d2a-testenv-token"' },
    );
  } else {
    entry.auth = 'anonymous';
  }
  const service = url.searchParams.get('service');
  if (service && service !== opts.service)
    return reply(400, { errors: [{ code: 'DENIED', message: `unknown service ${service}` }] });

  const access = [];
  for (const raw of url.searchParams.getAll('scope')) {
    for (const one of raw.split(' ')) {
      // clients may also join several scopes with spaces
      const sc = parseScope(one);
      if (!sc) continue;
      const actions = user ? sc.actions : sc.actions.filter((a) => a === 'pull'); // anonymous: pull only
      if (actions.length) access.push({ type: sc.type, name: sc.name, actions });
    }
  }
  entry.sub = user || '(anonymous)';
  entry.access = access;
  const token = makeToken(user, access);
  return reply(200, {
    token,
    access_token: token,
    expires_in: opts.ttl,
    issued_at: new Date().toISOString(),
  });
}

const server = opts.tlsKey
  ? https.createServer({ key: fs.readFileSync(opts.tlsKey), cert: fs.readFileSync(opts.tlsCert) }, handler)
  : http.createServer(handler);
server.listen(opts.port, opts.host, () => {
  console.log(
    JSON.stringify({
      time: new Date().toISOString(),
      listening: `${opts.tlsKey ? 'https' : 'http'}://${opts.host}:${opts.port}/token`,
    }),
  );
});
const stop = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref(); // don't wait for idle keep-alive connections
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
