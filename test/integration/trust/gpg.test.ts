/**
 * Interoperability with real GnuPG: keys and signatures made by gpg verify with our code, ours
 * verify with `gpg --verify`, and gpg exports land in the keystore under their fingerprint.
 * Everything happens in a throw-away GNUPGHOME whose agent is killed at the end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { RocketError } from '../../../src/errors.js';
import { Keystore } from '../../../src/trust/keystore.js';
import { parsePublicKeys } from '../../../src/trust/pubkey.js';
import { checkIdentity, verifyDetachedSignature } from '../../../src/trust/verify.js';
import { endStdin, projectRoot, run, skipUnlessCI, tempDir } from '../../helpers.js';
import { makeAciBytes, manifestText } from '../../unit/store/helpers.js';
import { type TestKey, makeKey, signDetached } from '../../unit/trust/keys.js';

const noGpg: string | false =
  spawnSync('gpg', ['--version'], { stdio: 'ignore' }).status === 0
    ? false
    : 'GnuPG (gpg) is not installed: skipping the gpg interoperability tests';

interface Result {
  code: number;
  stdout: Buffer;
  stderr: string;
}

let home: { path: string; cleanup: () => Promise<void> };

function gpg(args: readonly string[], input?: Buffer | string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'gpg',
      ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
      {
        env: { ...process.env, GNUPGHOME: home.path, LC_ALL: 'C' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr }));
    endStdin(child, input);
  });
}

async function gpgOk(args: readonly string[], input?: Buffer | string): Promise<Buffer> {
  const r = await gpg(args, input);
  assert.equal(r.code, 0, `gpg ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

interface GpgKey {
  uid: string;
  fingerprint: string;
}

async function genKey(uid: string, algo: string): Promise<GpgKey> {
  await gpgOk(['--quick-gen-key', uid, algo, 'sign', 'never']);
  const listing = (await gpgOk(['--with-colons', '--list-keys', `=${uid}`])).toString();
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
  assert.ok(fpr !== undefined, listing);
  return { uid, fingerprint: fpr.toLowerCase() };
}

describe('GnuPG interoperability', { skip: skipUnlessCI(noGpg) }, () => {
  let rsa: GpgKey;
  let ed: GpgKey;
  let ours: TestKey;
  const content = Buffer.from('an ACI would be here\n'.repeat(5000));

  before(async () => {
    home = await tempDir('rocket-gpg-');
    await chmod(home.path, 0o700);
    rsa = await genKey('RSA Builder <rsa@example.com>', 'rsa2048');
    ed = await genKey('Ed Builder <ed@example.com>', 'ed25519');
    ours = await makeKey('Rocket Builder');
    await writeFile(join(home.path, 'app.aci'), content);
    const tampered = Buffer.from(content);
    tampered[1234] = tampered[1234]! ^ 1;
    await writeFile(join(home.path, 'tampered.aci'), tampered);
  });

  after(async () => {
    if (home === undefined) return;
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], {
      env: { ...process.env, GNUPGHOME: home.path },
      stdio: 'ignore',
    });
    await home.cleanup();
  });

  for (const which of ['rsa', 'ed25519'] as const) {
    void it(`stores a gpg-exported ${which} key under its fingerprint and verifies gpg signatures with it`, async () => {
      const key = which === 'rsa' ? rsa : ed;
      const store = join(home.path, `store-${which}`);
      const ks = new Keystore({ systemDir: join(store, 'usr/lib/rkt'), localDir: join(store, 'etc/rkt') });
      const exported = await gpgOk(['--armor', '--export', key.fingerprint]);
      const [info] = await parsePublicKeys(exported);
      assert.equal(info!.fingerprint, key.fingerprint);
      assert.deepEqual(info!.userIds, [key.uid]);

      const path = await ks.storeTrustedKey({ prefix: 'example.com/app' }, exported);
      assert.equal(path, join(store, 'etc/rkt/trustedkeys/prefix.d/example.com/app', key.fingerprint));
      assert.deepEqual(await readFile(path), exported);
      const keys = await ks.trustedKeysFor('example.com/app');

      const aci = join(home.path, 'app.aci');
      for (const armor of [['--armor'], []]) {
        const sigPath = join(home.path, `app.${which}.${armor.length > 0 ? 'asc' : 'sig'}`);
        await gpgOk([
          '--yes',
          '--local-user',
          key.fingerprint,
          ...armor,
          '--detach-sign',
          '--output',
          sigPath,
          aci,
        ]);
        const signature = await readFile(sigPath);
        const id = await verifyDetachedSignature({ keys, signed: aci, signature, name: 'example.com/app' });
        assert.equal(id.fingerprint, key.fingerprint);
        assert.deepEqual(id.userIds, [key.uid]);

        await assert.rejects(
          verifyDetachedSignature({
            keys,
            signed: join(home.path, 'tampered.aci'),
            signature,
            name: 'example.com/app',
          }),
          (err: unknown) =>
            err instanceof RocketError && /^signature verification failed: /.test(err.message),
        );
        const bad = await gpg(['--verify', sigPath, join(home.path, 'tampered.aci')]);
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /BAD signature/);
      }
    });
  }

  void it('stores a binary gpg export the same way', async () => {
    const store = join(home.path, 'store-binary');
    const ks = new Keystore({ systemDir: join(store, 'sys'), localDir: join(store, 'local') });
    const exported = await gpgOk(['--export', ed.fingerprint]);
    const path = await ks.storeTrustedKey({ root: true }, exported);
    assert.equal(path, join(store, 'local/trustedkeys/root.d', ed.fingerprint));
    const keys = await ks.trustedKeysFor('anything.example/x');
    assert.deepEqual(
      keys.map((k) => k.fingerprint),
      [ed.fingerprint],
    );
  });

  void it('makes signatures that gpg --verify accepts, and gpg refuses them over tampered data', async () => {
    await gpgOk(['--import'], ours.armoredPublic);
    const sigPath = join(home.path, 'app.ours.asc');
    await writeFile(sigPath, await signDetached(ours, content));
    const good = await gpg(['--verify', sigPath, join(home.path, 'app.aci')]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stderr, /Good signature from "Rocket Builder/);
    assert.match(good.stderr, new RegExp(ours.fingerprint.slice(-16), 'i'));
    const bad = await gpg(['--verify', sigPath, join(home.path, 'tampered.aci')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /BAD signature/);
  });

  void it('refuses a gpg signature when only an other key is trusted', async () => {
    const aci = join(home.path, 'app.aci');
    const sigPath = join(home.path, 'app.other.asc');
    await gpgOk([
      '--yes',
      '--local-user',
      rsa.fingerprint,
      '--armor',
      '--detach-sign',
      '--output',
      sigPath,
      aci,
    ]);
    await assert.rejects(
      verifyDetachedSignature({
        keys: [ours.publicKey],
        signed: aci,
        signature: await readFile(sigPath),
        name: 'example.com/app',
      }),
      (err: unknown) =>
        err instanceof RocketError &&
        err.message ===
          `no trusted key for example.com/app (issuer key ID 0x${rsa.fingerprint.slice(-16).toUpperCase()}); try: rkt trust --prefix "example.com/app"`,
    );
  });

  // Issue 16, point 3: keys that expired or were revoked are refused by `rkt trust`, and their
  // signatures at fetch time, even a signature made while the key was still good.
  describe('expired and revoked keys', () => {
    let expired: GpgKey;
    let revoked: GpgKey;
    const expiredSig = () => join(home.path, 'app.expired.asc');
    const revokedSig = () => join(home.path, 'app.revoked.asc');
    const FPR = /[0-9A-F]{4}( [0-9A-F]{4}){4} {2}[0-9A-F]{4}( [0-9A-F]{4}){4}/.source;

    before(async () => {
      const aci = join(home.path, 'app.aci');
      // Made in 2020 with a 2020-06-01 expiry, and used to sign while it was good.
      const uid = 'Old Builder <old@example.com>';
      await gpgOk([
        '--faked-system-time',
        '20200101T000000',
        '--quick-gen-key',
        uid,
        'rsa2048',
        'sign',
        '2020-06-01',
      ]);
      const listing = (await gpgOk(['--with-colons', '--list-keys', `=${uid}`])).toString();
      expired = { uid, fingerprint: /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!.toLowerCase() };
      await gpgOk([
        '--faked-system-time',
        '20200201T000000',
        '--yes',
        '--local-user',
        expired.fingerprint,
        '--armor',
        '--detach-sign',
        '--output',
        expiredSig(),
        aci,
      ]);
      // Signs, then is revoked with the revocation certificate gpg made with it.
      revoked = await genKey('Gone Builder <gone@example.com>', 'rsa2048');
      await gpgOk([
        '--yes',
        '--local-user',
        revoked.fingerprint,
        '--armor',
        '--detach-sign',
        '--output',
        revokedSig(),
        aci,
      ]);
      const cert = await readFile(
        join(home.path, 'openpgp-revocs.d', `${revoked.fingerprint.toUpperCase()}.rev`),
        'utf8',
      );
      await gpgOk(['--import'], cert.replace(/^:-----/m, '-----'));
    });

    const cases = () =>
      [
        [
          'expired',
          expired,
          expiredSig(),
          new RegExp(`^key ${FPR} expired on 2020-06-0[12] \\d\\d:\\d\\d:\\d\\d UTC$`),
        ],
        ['revoked', revoked, revokedSig(), new RegExp(`^key ${FPR} is revoked$`)],
      ] as const;

    void it('are refused when trusting, nothing stored', async () => {
      for (const [what, key, , problem] of cases()) {
        const exported = await gpgOk(['--armor', '--export', key.fingerprint]);
        const [info] = await parsePublicKeys(exported);
        assert.match(info!.problem ?? '', problem, what);
        const store = join(home.path, `store-${what}`);
        const ks = new Keystore({ systemDir: join(store, 'sys'), localDir: join(store, 'local') });
        await assert.rejects(
          ks.storeTrustedKey({ root: true }, exported),
          (err: unknown) => err instanceof RocketError && err.message.startsWith(info!.problem!),
        );
        assert.deepEqual(await ks.trustedKeysFor('example.com/app'), []);
      }
    });

    void it('refuse the signatures of a key trusted before it expired or was revoked', async () => {
      for (const [what, key, sigPath, problem] of cases()) {
        // Trusted earlier: the key file put in place as `rkt trust` stored it then.
        const store = join(home.path, `trusted-${what}`);
        const dir = join(store, 'local/trustedkeys/root.d');
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, key.fingerprint), await gpgOk(['--armor', '--export', key.fingerprint]));
        const ks = new Keystore({ systemDir: join(store, 'sys'), localDir: join(store, 'local') });
        const keys = await ks.trustedKeysFor('example.com/app');
        assert.equal(keys.length, 1);
        const aci = join(home.path, 'app.aci');
        const signature = await readFile(sigPath);
        const reason = problem.source.slice(1, -1);
        await assert.rejects(
          verifyDetachedSignature({ keys, signed: aci, signature, name: 'example.com/app' }),
          (err: unknown) =>
            err instanceof RocketError &&
            new RegExp(`^signature verification failed: ${aci}: signed by ${reason}$`).test(err.message),
          what,
        );
        await assert.rejects(
          checkIdentity(signature, keys, 'example.com/app'),
          (err: unknown) =>
            err instanceof RocketError && new RegExp(`signed by ${reason}$`).test(err.message),
          what,
        );
        // gpg agrees that these keys no longer sign.
        const g = await gpg(['--verify', sigPath, aci]);
        assert.match(g.stderr, what === 'expired' ? /expired/i : /revoked/i);
      }
    });

    void it('rkt trust and rkt fetch say so in one line, exit 254', async () => {
      const rkt = join(projectRoot, 'bin', 'rkt');
      const work = join(home.path, 'rkt-cli');
      const local = join(work, 'local');
      const data = join(work, 'data');
      const keyFile = join(work, 'expired.asc');
      await mkdir(work, { recursive: true });
      await writeFile(keyFile, await gpgOk(['--armor', '--export', expired.fingerprint]));
      const base = [`--dir=${data}`, `--local-config=${local}`, `--system-config=${join(work, 'sys')}`];
      const t = await run(rkt, [...base, 'trust', '--root', '--skip-fingerprint-review', keyFile]);
      assert.equal(t.code, 254, t.stderr);
      assert.match(
        t.stderr,
        new RegExp(
          `^trust: error adding keys: key ${FPR} expired on 2020-06-0[12] [0-9:]+ UTC: not trusting ${keyFile}\\n$`,
        ),
      );
      assert.equal(existsSync(join(local, 'trustedkeys', 'root.d', expired.fingerprint)), false);

      await mkdir(join(local, 'trustedkeys', 'root.d'), { recursive: true });
      await writeFile(join(local, 'trustedkeys', 'root.d', expired.fingerprint), await readFile(keyFile));
      // A real image, signed while the key was good.
      const image = join(work, 'real.aci');
      await writeFile(image, await makeAciBytes(manifestText('example.com/real'), []));
      const sig = join(work, 'real.aci.asc');
      await gpgOk([
        '--faked-system-time',
        '20200201T000000',
        '--yes',
        '--local-user',
        expired.fingerprint,
        '--armor',
        '--detach-sign',
        '--output',
        sig,
        image,
      ]);
      const f = await run(rkt, [...base, 'fetch', image, `--signature=${sig}`]);
      assert.equal(f.code, 254, f.stderr);
      const lines = f.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, f.stderr);
      assert.match(lines[0]!, new RegExp(`signed by key ${FPR} expired on 2020-06-0[12] [0-9:]+ UTC$`));
    });
  });
});
