/**
 * Container and sandbox statistics from the cgroups the OCI runtime made (`rkt-UUID/APP` under each
 * v1 hierarchy, or under the v2 root): CPU time, memory working set (usage less inactive file
 * pages, as the kubelet counts it), RSS and page faults; the writable layer's bytes and inodes (the
 * app's overlay upper dir). The CPU rate (`usage_nano_cores`) is the change since the previous
 * sample of the same cgroup, as containerd computes it.
 */
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export interface CgroupSample {
  /** When read, in nanoseconds since the epoch. */
  timestamp: bigint;
  cpuNanos?: bigint;
  memoryUsage?: bigint;
  workingSet?: bigint;
  rss?: bigint;
  pageFaults?: bigint;
  majorPageFaults?: bigint;
}

function readBig(file: string): bigint | undefined {
  try {
    const t = readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(t) ? BigInt(t) : undefined;
  } catch {
    return undefined;
  }
}

/** `key value` lines (memory.stat, cpu.stat). */
export function parseKeyValues(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

function readKeyValues(file: string): Map<string, bigint> | undefined {
  try {
    return parseKeyValues(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The working set: usage less inactive file pages, never below zero. */
export function workingSet(usage: bigint, inactiveFile: bigint | undefined): bigint {
  const ws = usage - (inactiveFile ?? 0n);
  return ws < 0n ? 0n : ws;
}

/**
 * Reads the cgroup `rel` (e.g. `rkt-UUID/APP`) under `root`: the v1 `cpuacct` and `memory`
 * hierarchies when they hold it, else the v2 tree. Undefined when the cgroup is not there.
 */
export function readCgroup(rel: string, root = '/sys/fs/cgroup', now = Date.now()): CgroupSample | undefined {
  const timestamp = BigInt(now) * 1_000_000n;
  const v1cpu = path.join(root, 'cpuacct', rel);
  const v1mem = path.join(root, 'memory', rel);
  const cpu1 = readBig(path.join(v1cpu, 'cpuacct.usage'));
  const mem1 = readBig(path.join(v1mem, 'memory.usage_in_bytes'));
  if (cpu1 !== undefined || mem1 !== undefined) {
    const st = readKeyValues(path.join(v1mem, 'memory.stat'));
    return {
      timestamp,
      ...(cpu1 !== undefined ? { cpuNanos: cpu1 } : {}),
      ...(mem1 !== undefined
        ? { memoryUsage: mem1, workingSet: workingSet(mem1, st?.get('total_inactive_file')) }
        : {}),
      ...(st?.get('total_rss') !== undefined ? { rss: st.get('total_rss') as bigint } : {}),
      ...(st?.get('total_pgfault') !== undefined ? { pageFaults: st.get('total_pgfault') as bigint } : {}),
      ...(st?.get('total_pgmajfault') !== undefined
        ? { majorPageFaults: st.get('total_pgmajfault') as bigint }
        : {}),
    };
  }
  const v2 = path.join(root, rel);
  const cpuStat = readKeyValues(path.join(v2, 'cpu.stat'));
  const mem2 = readBig(path.join(v2, 'memory.current'));
  if (cpuStat === undefined && mem2 === undefined) return undefined;
  const st = readKeyValues(path.join(v2, 'memory.stat'));
  const usec = cpuStat?.get('usage_usec');
  return {
    timestamp,
    ...(usec !== undefined ? { cpuNanos: usec * 1000n } : {}),
    ...(mem2 !== undefined
      ? { memoryUsage: mem2, workingSet: workingSet(mem2, st?.get('inactive_file')) }
      : {}),
    ...(st?.get('anon') !== undefined ? { rss: st.get('anon') as bigint } : {}),
    ...(st?.get('pgfault') !== undefined ? { pageFaults: st.get('pgfault') as bigint } : {}),
    ...(st?.get('pgmajfault') !== undefined ? { majorPageFaults: st.get('pgmajfault') as bigint } : {}),
  };
}

/** CPU use in nanocores between two samples of one cgroup, or undefined without a usable earlier one. */
export function nanoCores(prev: CgroupSample | undefined, cur: CgroupSample): bigint | undefined {
  if (prev?.cpuNanos === undefined || cur.cpuNanos === undefined) return undefined;
  const dt = cur.timestamp - prev.timestamp;
  const dc = cur.cpuNanos - prev.cpuNanos;
  if (dt <= 0n || dc < 0n) return undefined;
  return (dc * 1_000_000_000n) / dt;
}

/** Bytes and inodes under `dir` (hard links once), without following symlinks. */
export function diskUsage(dir: string): { bytes: bigint; inodes: bigint } {
  let bytes = 0n;
  let inodes = 0n;
  const seen = new Set<string>();
  const walk = (p: string): void => {
    let st;
    try {
      st = lstatSync(p, { bigint: true });
    } catch {
      return;
    }
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    inodes += 1n;
    bytes += st.blocks * 512n;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) walk(path.join(p, n));
  };
  walk(dir);
  return { bytes, inodes };
}

const u64 = (v: bigint | undefined): { value: string } | null =>
  v === undefined ? null : { value: v.toString() };

/** A CRI CpuUsage and MemoryUsage from a sample (null fields where the cgroup did not say). */
export function usageMessages(s: CgroupSample, cores: bigint | undefined): { cpu: object; memory: object } {
  const timestamp = s.timestamp.toString();
  return {
    cpu: { timestamp, usage_core_nano_seconds: u64(s.cpuNanos), usage_nano_cores: u64(cores) },
    memory: {
      timestamp,
      working_set_bytes: u64(s.workingSet),
      available_bytes: null,
      usage_bytes: u64(s.memoryUsage),
      rss_bytes: u64(s.rss),
      page_faults: u64(s.pageFaults),
      major_page_faults: u64(s.majorPageFaults),
    },
  };
}
