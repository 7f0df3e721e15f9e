/**
 * Which process will run a pod that `rkt run` prepared. `rkt run` prepares the pod, then stage0
 * exits and the launcher (bin/rkt) execs the plan, which locks the pod and moves it into `run/`.
 * A stage0 or launcher killed in between leaves a `prepared` pod that no one will run: the pod
 * records the launcher's pid and start time (`run-launcher`), and `rkt gc` collects a prepared pod
 * whose launcher is gone, as it does an aborted prepare. Pods of `rkt prepare` have no such file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const RUN_LAUNCHER_FILE = 'run-launcher';

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), if it lives. */
function startTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/**
 * `<pid> <start time>` of the process that will run the plan: the launcher (stage0's parent, whose
 * pid the plan keeps) when there is one, else stage0 itself (which then runs the plan as a child).
 */
export function launcherIdentity(): string {
  // RKT_EXEC_PLAN (PLAN_ENV of src/stage1/engine.ts) is set by the launcher only.
  const viaLauncher = (process.env['RKT_EXEC_PLAN'] ?? '') !== '';
  const pid = viaLauncher ? process.ppid : process.pid;
  return `${pid} ${startTime(pid) ?? ''}\n`;
}

/** Whether a pod dir's `run-launcher` names a process that is gone (false without the file). */
export function launcherGone(podDir: string): boolean {
  let text: string;
  try {
    text = readFileSync(join(podDir, RUN_LAUNCHER_FILE), 'utf8');
  } catch {
    return false;
  }
  const [pid, start] = text.trim().split(' ');
  if (pid === undefined || !/^\d+$/.test(pid) || start === undefined || start === '') return false;
  return startTime(Number(pid)) !== start;
}
