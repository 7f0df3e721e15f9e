import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';

import { RocketError } from '../../../src/errors.js';
import { Keystore, prefixPath } from '../../../src/trust/keystore.js';
import { tempDir } from '../../helpers.js';
import { type TestKey, makeKey } from './keys.js';

function rocketError(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof RocketError, `expected a RocketError, got ${String(err)}`);
    assert.equal(err.exitCode, 254);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };
}

async function put(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

let keys: TestKey[] = [];
before(async () => {
  keys = await Promise.all(
    ['Root', 'Vendor', 'Foo', 'Foobar', 'Deep', 'Other'].map((n) => makeKey(`${n} Signer`)),
  );
});

async function withStore<T>(fn: (ks: Keystore, dir: string) => Promise<T>): Promise<T> {
  const tmp = await tempDir('rocket-trust-');
  try {
    const ks = new Keystore({
      systemDir: join(tmp.path, 'usr/lib/rkt'),
      localDir: join(tmp.path, 'etc/rkt'),
    });
    return await fn(ks, tmp.path);
  } finally {
    await tmp.cleanup();
  }
}

describe('prefixPath (rkt prefix to directory mapping)', () => {
  void it('keeps a plain prefix and cleans like Go path.Join', () => {
    assert.equal(prefixPath('example.com/foo'), 'example.com/foo');
    assert.equal(prefixPath('example.com//foo'), 'example.com/foo');
    assert.equal(prefixPath('example.com/./foo'), 'example.com/foo');
    assert.equal(prefixPath('example.com/x/../foo'), 'example.com/foo');
    assert.equal(prefixPath('coreos.com'), 'coreos.com');
  });

  void it('refuses a URL scheme with rkt message', () => {
    assert.throws(
      () => prefixPath('https://example.com/foo'),
      rocketError(/^--prefix must not contain a URL scheme, omit https:\/\/$/),
    );
  });

  void it('refuses what NewACIdentifier refuses', () => {
    assert.throws(() => prefixPath(''), rocketError(/cannot be empty/));
    assert.throws(() => prefixPath('Example.com/foo'), rocketError(/"Example.com\/foo".*lower case/));
    assert.throws(() => prefixPath('example.com/foo/'), rocketError(/start and end/));
    assert.throws(
      () => prefixPath('example.com/foo/*'),
      rocketError(/lower case alphanumeric characters plus/),
    );
  });

  void it('refuses a prefix that climbs out of prefix.d', () => {
    assert.throws(() => prefixPath('a/../../etc'), rocketError(/leaves the prefix.d directory/));
    assert.throws(() => prefixPath('a/..x/../..'), rocketError(/leaves|start and end/));
  });
});

describe('Keystore.storeTrustedKey', () => {
  void it('stores a prefix key under local prefix.d/<prefix>/<fingerprint>, byte for byte', async () => {
    await withStore(async (ks, dir) => {
      const key = keys[2]!;
      const path = await ks.storeTrustedKey({ prefix: 'example.com//foo' }, key.armoredPublic);
      assert.equal(path, join(dir, 'etc/rkt/trustedkeys/prefix.d/example.com/foo', key.fingerprint));
      assert.match(key.fingerprint, /^[0-9a-f]{40}$/);
      assert.equal(await readFile(path, 'utf8'), key.armoredPublic);
    });
  });

  void it('stores a root key under local root.d/<fingerprint>, binary kept binary', async () => {
    await withStore(async (ks, dir) => {
      const key = keys[0]!;
      const path = await ks.storeTrustedKey({ root: true }, key.binaryPublic);
      assert.equal(path, join(dir, 'etc/rkt/trustedkeys/root.d', key.fingerprint));
      assert.deepEqual(new Uint8Array(await readFile(path)), key.binaryPublic);
      const found = await ks.trustedKeysFor('anything.org/app');
      assert.deepEqual(
        found.map((k) => k.fingerprint),
        [key.fingerprint],
      );
    });
  });

  void it('sets 0644 on the file and 0755 on every directory it makes, whatever the umask', async () => {
    await withStore(async (ks, dir) => {
      const old = process.umask(0o077);
      let path: string;
      try {
        path = await ks.storeTrustedKey({ prefix: 'example.com/foo/bar' }, keys[2]!.armoredPublic);
      } finally {
        process.umask(old);
      }
      assert.equal((await stat(path)).mode & 0o777, 0o644);
      for (let d = dirname(path); d !== dir; d = dirname(d)) {
        assert.equal((await stat(d)).mode & 0o777, 0o755, d);
      }
    });
  });

  void it('leaves no temp file behind, on success or on a failed rename', async () => {
    await withStore(async (ks, dir) => {
      const trusted = join(dir, 'etc/rkt/trustedkeys');
      await ks.storeTrustedKey({ prefix: 'example.com/foo' }, keys[2]!.armoredPublic);
      // Overwriting replaces the file (rename over it).
      await ks.storeTrustedKey({ prefix: 'example.com/foo' }, keys[2]!.binaryPublic);
      assert.deepEqual(await readdir(trusted), ['prefix.d']);
      // A directory where the key file should go makes the rename fail.
      await mkdir(join(trusted, 'root.d', keys[0]!.fingerprint, 'x'), { recursive: true });
      await assert.rejects(
        ks.storeTrustedKey({ root: true }, keys[0]!.armoredPublic),
        rocketError(new RegExp(`cannot store trusted key .*root.d/${keys[0]!.fingerprint}`)),
      );
      assert.deepEqual((await readdir(trusted)).sort(), ['prefix.d', 'root.d']);
    });
  });

  void it('refuses a URL-scheme prefix, garbage and secret keys, writing nothing', async () => {
    await withStore(async (ks, dir) => {
      await assert.rejects(
        ks.storeTrustedKey({ prefix: 'https://example.com' }, keys[2]!.armoredPublic),
        rocketError(/omit https:\/\//),
      );
      await assert.rejects(
        ks.storeTrustedKey({ prefix: 'example.com' }, 'hello, not a key'),
        rocketError(/not an OpenPGP public key/),
      );
      await assert.rejects(
        ks.storeTrustedKey({ prefix: 'example.com' }, keys[2]!.armoredPrivate),
        rocketError(new RegExp(`${keys[2]!.fingerprint} is a secret key`)),
      );
      await assert.rejects(stat(join(dir, 'etc')), { code: 'ENOENT' });
    });
  });
});

describe('Keystore.trustedKeysFor', () => {
  async function layout(dir: string): Promise<void> {
    const [root, vendor, foo, foobar, deep, other] = keys;
    await put(join(dir, 'usr/lib/rkt/trustedkeys/root.d', root!.fingerprint), root!.armoredPublic);
    await put(
      join(dir, 'usr/lib/rkt/trustedkeys/prefix.d/example.com', vendor!.fingerprint),
      vendor!.binaryPublic,
    );
    await put(
      join(dir, 'etc/rkt/trustedkeys/prefix.d/example.com/foo', foo!.fingerprint),
      foo!.armoredPublic,
    );
    await put(
      join(dir, 'etc/rkt/trustedkeys/prefix.d/example.com/foobar', foobar!.fingerprint),
      foobar!.armoredPublic,
    );
    await put(
      join(dir, 'etc/rkt/trustedkeys/prefix.d/example.com/foo/bar', deep!.fingerprint),
      deep!.armoredPublic,
    );
    await put(join(dir, 'etc/rkt/trustedkeys/prefix.d/other.com', other!.fingerprint), other!.armoredPublic);
  }

  const names = (found: { fingerprint: string }[]): string[] =>
    found.map(
      (k) =>
        keys
          .find((t) => t.fingerprint === k.fingerprint)!
          .publicKey.getUserIDs()[0]!
          .split(' ')[0]!,
    );

  void it('gathers root keys and keys of every ancestor prefix, system before local', async () => {
    await withStore(async (ks, dir) => {
      await layout(dir);
      assert.deepEqual(names(await ks.trustedKeysFor('example.com/foo')), ['Root', 'Vendor', 'Foo']);
      const deep = names(await ks.trustedKeysFor('example.com/foo/bar/baz'));
      assert.deepEqual(deep.slice(0, 2), ['Root', 'Vendor']);
      // Within prefix.d, files and directories are walked together in lexical order (as rkt's
      // filepath.Walk), so whether Foo's key comes before the `bar/` directory depends on its
      // randomly generated fingerprint.
      assert.deepEqual(deep.slice(2).sort(), ['Deep', 'Foo']);
      assert.deepEqual(names(await ks.trustedKeysFor('example.com')), ['Root', 'Vendor']);
      assert.deepEqual(names(await ks.trustedKeysFor('other.com/x')), ['Root', 'Other']);
      assert.deepEqual(names(await ks.trustedKeysFor('unknown.org')), ['Root']);
    });
  });

  void it('matches whole path segments only', async () => {
    await withStore(async (ks, dir) => {
      await layout(dir);
      assert.deepEqual(names(await ks.trustedKeysFor('example.com/foobar')), ['Root', 'Vendor', 'Foobar']);
      assert.deepEqual(names(await ks.trustedKeysFor('example.com/fo')), ['Root', 'Vendor']);
      assert.deepEqual(names(await ks.trustedKeysFor('example.co')), ['Root']);
    });
  });

  void it('returns keys with their paths, usable for verification', async () => {
    await withStore(async (ks, dir) => {
      await layout(dir);
      const [, vendor] = await ks.trustedKeysFor('example.com/foo');
      assert.equal(
        vendor!.path,
        join(dir, 'usr/lib/rkt/trustedkeys/prefix.d/example.com', keys[1]!.fingerprint),
      );
      assert.equal(vendor!.key.getFingerprint(), keys[1]!.fingerprint);
    });
  });

  void it('lets a zero-byte local file mask a system key', async () => {
    await withStore(async (ks, dir) => {
      await layout(dir);
      await put(join(dir, 'etc/rkt/trustedkeys/root.d', keys[0]!.fingerprint), '');
      await put(join(dir, 'etc/rkt/trustedkeys/prefix.d/example.com', keys[1]!.fingerprint), '');
      assert.deepEqual(names(await ks.trustedKeysFor('example.com/foo')), ['Foo']);
    });
  });

  void it('does not mask from a prefix directory off the name path', async () => {
    await withStore(async (ks, dir) => {
      await layout(dir);
      await put(join(dir, 'etc/rkt/trustedkeys/prefix.d/other.com', keys[1]!.fingerprint), '');
      assert.deepEqual(names(await ks.trustedKeysFor('example.com/foo')), ['Root', 'Vendor', 'Foo']);
    });
  });

  void it('fails on a key file whose name is not its fingerprint, naming the file', async () => {
    await withStore(async (ks, dir) => {
      const wrong = join(dir, 'etc/rkt/trustedkeys/root.d', keys[0]!.fingerprint);
      await put(wrong, keys[5]!.armoredPublic);
      await assert.rejects(
        ks.trustedKeysFor('example.com/foo'),
        rocketError(
          new RegExp(`trusted key ${wrong}: fingerprint mismatch.*holds key ${keys[5]!.fingerprint}`),
        ),
      );
    });
  });

  void it('fails on an unreadable key file, naming it', async () => {
    await withStore(async (ks, dir) => {
      const junk = join(dir, 'etc/rkt/trustedkeys/prefix.d/example.com/0123');
      await put(junk, 'junk');
      await assert.rejects(
        ks.trustedKeysFor('example.com/foo'),
        rocketError(/0123: not an OpenPGP public key/),
      );
    });
  });

  void it('finds nothing in an empty store', async () => {
    await withStore(async (ks) => {
      assert.deepEqual(await ks.trustedKeysFor('example.com/foo'), []);
      await assert.rejects(
        ks.trustedKeysFor('docker://busybox'),
        rocketError(/^invalid image name "docker:/),
      );
    });
  });
});

describe('Keystore.trustedKeyPrefixExists and trustedKeyExists', () => {
  void it('sees keys of the prefix or a parent, not root keys nor mask files', async () => {
    await withStore(async (ks, dir) => {
      await put(join(dir, 'etc/rkt/trustedkeys/root.d', keys[0]!.fingerprint), keys[0]!.armoredPublic);
      assert.equal(await ks.trustedKeyPrefixExists('example.com/foo'), false);
      await put(join(dir, 'etc/rkt/trustedkeys/prefix.d/example.com/foo', keys[1]!.fingerprint), '');
      assert.equal(await ks.trustedKeyPrefixExists('example.com/foo'), false);
      await put(
        join(dir, 'usr/lib/rkt/trustedkeys/prefix.d/example.com', keys[1]!.fingerprint),
        keys[1]!.armoredPublic,
      );
      assert.equal(await ks.trustedKeyPrefixExists('example.com/foo/bar'), true);
      assert.equal(await ks.trustedKeyPrefixExists('example.org'), false);
    });
  });

  void it('finds a fingerprint in root.d or the prefix directory', async () => {
    await withStore(async (ks) => {
      const fp = keys[2]!.fingerprint;
      assert.equal(await ks.trustedKeyExists({ prefix: 'example.com/foo' }, fp), false);
      await ks.storeTrustedKey({ prefix: 'example.com/foo' }, keys[2]!.armoredPublic);
      assert.equal(await ks.trustedKeyExists({ prefix: 'example.com/foo' }, fp), true);
      assert.equal(await ks.trustedKeyExists({ prefix: 'example.com/foo/bar' }, fp), false);
      assert.equal(await ks.trustedKeyExists({ root: true }, fp), false);
    });
  });
});
