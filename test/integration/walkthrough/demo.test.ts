/**
 * The README's main job (`make demo` = scripts/demo.sh), the App Container walkthrough, run as root
 * and checked step by step: actool build, GnuPG signature, HTTPS meta discovery on loopback, rkt
 * trust --prefix, fetch by name, image list, run with a host volume and app arguments, list, gc,
 * docker2aci from the test registry and rkt run docker://. Then nothing of the demo may be left:
 * no file in its TMPDIR, no mount, no process.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { projectRoot, run, type RunResult, skipUnlessCI, tempDir } from '../../helpers.js';
import { testenvMissing } from '../docker-sources/testenv.js';

const missingTool = ['jq', 'openssl', 'gpg', 'ss'].find(
  (t) => !['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, t))),
);
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/bin/busybox')
      ? 'needs busybox-static'
      : missingTool !== undefined
        ? `needs ${missingTool}`
        : testenvMissing;

/** The demo's output cut at its `=== N. title` headers: step number (or title) to its text. */
function steps(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of stdout.split(/^=== /m).slice(1)) {
    const title = part.slice(0, part.indexOf('\n'));
    const key = /^(\d+)\./.exec(title)?.[1] ?? title;
    out.set(key, part);
  }
  return out;
}

/** Processes whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(join('/proc', pid, 'cmdline'), 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone
    }
  }
  return found;
}

describe(
  'the walkthrough (make demo)',
  { skip: skipUnlessCI(skip, 'the walkthrough test'), timeout: 300_000 },
  () => {
    let tmp: Awaited<ReturnType<typeof tempDir>>;
    let r: RunResult;
    let s: Map<string, string>;
    const step = (n: string): string => {
      const text = s.get(n);
      assert.ok(text !== undefined, `no step ${n} in the demo's output:\n${r.stdout}\n${r.stderr}`);
      return text;
    };

    before(async () => {
      tmp = await tempDir('rocket-walkthrough-');
      // One stream, as a terminal shows it: rkt writes its messages to stderr.
      r = await run('bash', ['-c', 'exec bash "$0" 2>&1', join(projectRoot, 'scripts', 'demo.sh')], {
        env: { ...process.env, TMPDIR: tmp.path },
      });
      s = steps(r.stdout);
    });

    after(async () => {
      await tmp?.cleanup();
    });

    test('the demo succeeds', () => {
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    });

    let ip = '';
    let imageId = '';
    test('1. builds a valid ACI with actool', () => {
      const text = step('1');
      ip = /build an ACI with actool: (127\.\d+\.\d+\.\d+)\/busybox/.exec(text)?.[1] ?? '';
      assert.notEqual(ip, '', text);
      assert.match(text, /^actool validate: .*busybox\.aci is a valid ACI$/m);
      assert.match(text, new RegExp(`"name": "${ip.replace(/\./g, '\\.')}/busybox"`));
      imageId = /^image ID: (sha512-[0-9a-f]{128})$/m.exec(text)?.[1] ?? '';
      assert.notEqual(imageId, '', text);
    });

    test('2. signs it with GnuPG', () => {
      const text = step('2');
      assert.match(text, /^key fingerprint: [0-9A-F]{40}$/m);
      assert.match(text, /Good signature from "Rocket Demo <demo@example\.com>"/);
    });

    test('3. serves it over HTTPS with meta discovery on a loopback address', () => {
      const text = step('3');
      assert.ok(text.includes(`listening on https://${ip}:443`), text);
      assert.ok(
        text.includes(
          `ACI: https://${ip}/images/busybox-1.0.0-linux-amd64.aci, ASC: https://${ip}/images/busybox-1.0.0-linux-amd64.aci.asc`,
        ),
        text,
      );
      assert.ok(text.includes(`PublicKeys: https://${ip}/pubkeys.gpg`), text);
    });

    test('4. rkt trust --prefix finds the key by discovery and stores it', () => {
      const text = step('4');
      assert.ok(text.includes(`key: "https://${ip}/pubkeys.gpg"`), text);
      assert.match(
        text,
        new RegExp(`^Added key for prefix "${ip.replace(/\./g, '\\.')}/busybox" at ".*"$`, 'm'),
      );
    });

    test('5. rkt fetch by name verifies the signature and stores the same image', () => {
      const text = step('5');
      assert.match(text, /signature verified:\n\s+Rocket Demo <demo@example\.com>/);
      assert.ok(text.includes(`fetched: ${imageId.slice(0, 'sha512-'.length + 32)}\n`), text);
    });

    test('6. rkt image list shows it', () => {
      const text = step('6');
      const row = text.split('\n').find((l) => l.includes(`${ip}/busybox:1.0.0`));
      assert.ok(row?.startsWith(imageId.slice(0, 'sha512-'.length + 12)), text);
    });

    test('7. rkt run passes the arguments after -- and the host volume', () => {
      const text = step('7');
      assert.match(text, /^hello from busybox, args: first-arg second arg$/m);
      assert.match(text, /^the host says: greetings from the host$/m);
      assert.match(text, /^the app left in the host volume: hello from busybox: first-arg second arg$/m);
    });

    test('8. rkt list and rkt status show the exited pod', () => {
      const text = step('8');
      assert.ok(
        text.split('\n').some((l) => /^[0-9a-f]{8}\tbusybox\t/.test(l) && /\texited\t/.test(l)),
        text,
      );
      assert.match(text, /^state=exited$/m);
      assert.match(text, /^app-busybox=0$/m);
    });

    test('9. rkt gc collects it', () => {
      const text = step('9');
      assert.match(text, /^Garbage collecting pod "[0-9a-f-]{36}"$/m);
      assert.match(text, /^pods left: 0$/m);
    });

    test('10. docker2aci converts an image from the local registry', () => {
      const text = step('10');
      const port = /docker:\/\/127\.0\.0\.1:(\d+)\//.exec(step('11'))?.[1] ?? '';
      assert.match(text, /^Generated ACI\(s\):\n.*\/d2a\/test-busybox-latest\.aci$/m);
      assert.ok(
        text.includes(
          `{"name":"127.0.0.1_${port}/test/busybox","exec":["/bin/sh","-c","echo hello from $FOO"],"user":"app"}`,
        ),
        text,
      );
    });

    test('11. rkt run docker://... runs it', () => {
      const text = step('11');
      assert.match(text, /^hello from bar$/m);
      assert.match(text, /^127\.0\.0\.1_\d+\/test\/busybox:latest\s/m);
      assert.match(text, /^Garbage collecting pod "[0-9a-f-]{36}"$/m);
    });

    test('the web server saw discovery, the key, the image and its signature', () => {
      const seen = step(`what the web server on ${ip} saw`);
      for (const line of [
        'GET /busybox?ac-discovery=1 200',
        'GET /pubkeys.gpg 200',
        'GET /images/busybox-1.0.0-linux-amd64.aci 200',
        'GET /images/busybox-1.0.0-linux-amd64.aci.asc 200',
      ])
        assert.ok(seen.includes(line), seen);
    });

    test('the demo leaves no file, mount or process behind', () => {
      assert.deepEqual(readdirSync(tmp.path), []);
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(tmp.path));
      assert.deepEqual(mounts, []);
      assert.deepEqual(processesMentioning(tmp.path), []);
    });
  },
);
