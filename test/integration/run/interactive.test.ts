/**
 * `rkt run --interactive` on a real terminal (a pty that python3 drives, 33 rows by 111 columns):
 * with crun and runc the app gets a terminal of its own (`process.terminal`), with fly the host's;
 * in each, `tty` names a /dev/pts device, `stty size` reads the size, ^C interrupts and ^Z stops
 * the foreground job of an interactive shell, and rkt exits with the shell's code.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { which } from '../../../src/stage1/oci/runtime.js';
import { Rkt, buildAci, podTestSkip, rktBin } from '../fly/fixture.js';
import { skipUnlessCI } from '../../helpers.js';

const skip = podTestSkip('python3');

/**
 * Runs argv on a new pty as its session leader; for each step, writes `send`,
 * then waits (up to 20 s) for output matching `expect`. Prints JSON: the step that failed (or -1),
 * the whole output, and the exit status.
 */
const DRIVER = String.raw`
import fcntl, json, os, re, select, signal, struct, sys, termios, time
steps = json.loads(sys.argv[1])
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 111, 0, 0))
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.execvp(sys.argv[2], sys.argv[2:])
os.close(slave)
log = b''
seen = 0
def expect(pattern, timeout):
    global log, seen
    rx = re.compile(pattern.encode())
    end = time.time() + timeout
    while True:
        m = rx.search(log, seen)
        if m:
            seen = m.end()
            return True
        left = end - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([master], [], [], left)
        if r:
            try:
                d = os.read(master, 4096)
            except OSError:
                d = b''
            if not d:
                return False
            log += d
failed = -1
for i, (send, pattern) in enumerate(steps):
    os.write(master, send.encode())
    if not expect(pattern, 20):
        failed = i
        break
status = None
end = time.time() + 20
while time.time() < end:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = os.waitstatus_to_exitcode(st)
        break
    r, _, _ = select.select([master], [], [], 0.1)
    if r:
        try:
            log += os.read(master, 4096)
        except OSError:
            pass
if status is None:
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print(json.dumps({'failed': failed, 'log': log.decode('utf8', 'replace'), 'status': status}))
`;

interface DriverResult {
  failed: number;
  log: string;
  status: number | null;
}

function drive(steps: [string, string][], argv: string[]): Promise<DriverResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, JSON.stringify(steps), ...argv], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as DriverResult);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

// Each command's output is matched, not its echo (`$((…))` is only expanded in the output), and then
// the next prompt (`# `), since the shell drops input typed before it reads a line.
const P = '[\\s\\S]*?# ';
// A foreground job announces itself from its own process (`sh -c '…; exec sleep 30'`): once its
// line is seen, it is the terminal's foreground job, so ^C and ^Z reach it without any wait. The
// next command's `$?` shows how the job ended.
const SESSION: [string, string][] = [
  ['', '# '],
  ['echo READY$((1+1))\r', `READY2${P}`],
  ['tty; stty size\r', `/dev/pts/[0-9]+\\r\\n33 111\\r\\n${P}`],
  [`sh -c 'echo SLEEP$((2+2)); exec sleep 30'\r`, 'SLEEP4\\r\\n'],
  ['\x03', `\\^C${P}`],
  ['echo INT$((2+3)) $?\r', `INT5 130${P}`],
  [`sh -c 'echo STOP$((3+3)); exec sleep 30'\r`, 'STOP6\\r\\n'],
  ['\x1a', `Stopped${P}`],
  // fg resumes the killed job and waits for its end: 137, and no job is left.
  [
    'kill -9 %1; fg %1 >/dev/null; echo KILLED$((3+4)) $?; jobs; echo JOBS$((4+4))\r',
    `KILLED7 137\\r\\nJOBS8${P}`,
  ],
  ['exit 3\r', 'exit 3'],
];

describe(
  'rkt run --interactive on a terminal',
  { skip: skipUnlessCI(skip, '--interactive integration tests') },
  () => {
    let rkt: Rkt;
    let img: string;

    before(() => {
      rkt = new Rkt('rocket-interactive-');
      img = buildAci(rkt.work, 'shell', { exec: ['/bin/sh', '-i'] });
    });

    after(() => rkt.cleanup());

    for (const engine of ['oci-crun', 'oci-runc', 'fly']) {
      const runtime = engine.startsWith('oci-') ? engine.slice(4) : undefined;
      const missing =
        runtime !== undefined && which(runtime) === undefined ? `${runtime} is not installed` : false;
      it(
        `gives the app a terminal with job control (${engine})`,
        { skip: skipUnlessCI(missing) },
        async () => {
          const r = await drive(SESSION, [
            rktBin,
            `--dir=${rkt.data}`,
            '--insecure-options=image',
            'run',
            '--interactive',
            `--stage1-name=${engine}`,
            ...(engine === 'fly' ? [] : ['--net=none']),
            img,
          ]);
          assert.equal(
            r.failed,
            -1,
            `step ${r.failed} (${JSON.stringify(SESSION[r.failed])}) failed:\n${r.log}`,
          );
          assert.equal(r.status, 3, r.log);
        },
      );
    }
  },
);
