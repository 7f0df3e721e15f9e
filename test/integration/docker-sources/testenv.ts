/**
 * Starts test/env registries on random loopback ports with a private D2A_TESTENV_DIR,
 * pushes the test images, and stops everything again.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot, run, tempDir } from '../../helpers.js';

export const testenvDir = join(projectRoot, 'test', 'env');

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the integration tests cannot run here, or false. */
export const testenvMissing: string | false = !existsSync(join(testenvDir, 'registry-start.sh'))
  ? `no testenv at ${testenvDir}`
  : ['docker-registry', 'skopeo', 'umoci', 'htpasswd'].filter((c) => !has(c)).length > 0
    ? `missing ${['docker-registry', 'skopeo', 'umoci', 'htpasswd'].filter((c) => !has(c)).join(', ')} (scripts/setup.sh installs them)`
    : false;

export type Env = Record<string, string>;

/** `export A=b` lines (and plain `A=b` lines) as a map. */
export function parseExports(text: string): Env {
  const env: Env = {};
  for (const line of text.split('\n')) {
    const m = /^(?:export )?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m !== null) env[m[1] as string] = (m[2] as string).replace(/^'(.*)'$/, '$1');
  }
  return env;
}

export interface Testenv {
  dir: string;
  registries: { none: Env; htpasswd: Env; token: Env };
  /** Per registry port: IMG_* lines of that registry. */
  images: (registry: Env) => Env;
  files: Env;
  stop(): Promise<void>;
}

async function script(name: string, args: string[], dir: string): Promise<string> {
  const saved = process.env.D2A_TESTENV_DIR;
  process.env.D2A_TESTENV_DIR = dir;
  try {
    const r = await run('bash', [join(testenvDir, name), ...args]);
    if (r.code !== 0) throw new Error(`${name} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  } finally {
    if (saved === undefined) delete process.env.D2A_TESTENV_DIR;
    else process.env.D2A_TESTENV_DIR = saved;
  }
}

/** Whether nothing listens on 127.0.0.1:`port` right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}

/**
 * Three registry ports and the token server's (the last port + 10000) that are free now. Other
 * test files start registries at the same time, so a start can still lose a race: the caller
 * retries with new ports.
 */
async function freePorts(): Promise<number[]> {
  for (;;) {
    // Token servers listen on port+10000: stay below 55535.
    const base = 21000 + Math.floor(Math.random() * 3000) * 10;
    const ports = [base, base + 1, base + 2];
    if ((await Promise.all([...ports, base + 2 + 10000].map(portFree))).every(Boolean)) return ports;
  }
}

const START_ATTEMPTS = 3;

export async function startTestenv(): Promise<Testenv> {
  const tmp = await tempDir('rocket-d2a-testenv-');
  const dir = tmp.path;
  let ports: number[] = [];
  const stopRegistries = async (): Promise<void> => {
    for (const p of ports) await script('registry-stop.sh', ['--port', String(p)], dir).catch(() => '');
  };
  const stop = async (): Promise<void> => {
    await stopRegistries();
    await tmp.cleanup();
  };
  try {
    let started: { none: Env; htpasswd: Env; token: Env } | undefined;
    for (let attempt = 1; started === undefined; attempt++) {
      ports = await freePorts();
      try {
        started = {
          none: parseExports(await script('registry-start.sh', ['--port', String(ports[0])], dir)),
          htpasswd: parseExports(
            await script(
              'registry-start.sh',
              ['--port', String(ports[1]), '--auth', 'htpasswd', '--tls'],
              dir,
            ),
          ),
          token: parseExports(
            await script(
              'registry-start.sh',
              ['--port', String(ports[2]), '--auth', 'token', '--tls', '--anon-pull'],
              dir,
            ),
          ),
        };
      } catch (err) {
        await stopRegistries();
        if (attempt >= START_ATTEMPTS) throw err;
      }
    }
    const { none, htpasswd, token } = started;
    const files = parseExports(
      await script(
        'build-images.sh',
        ports.flatMap((p) => ['--registry', `127.0.0.1:${p}`]),
        dir,
      ),
    );
    const images = (registry: Env): Env =>
      parseExports(readFileSync(join(registry.D2A_REGISTRY_STATE ?? '', 'images.env'), 'utf8'));
    return { dir, registries: { none, htpasswd, token }, images, files, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
