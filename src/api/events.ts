/**
 * ListenEvents. rkt defined the call but its server only ever answered "not implemented yet"; ours
 * watches the data dir. Pods and images keep no event log, so events are derived by comparing
 * successive observations (a pod's state dir, its lock, its apps' exit codes; the store's image
 * index): a poll every `intervalMs`, brought forward by inotify on the pod state dirs and the store
 * DB dir. A pod's exit is only a released flock, which no file watch sees, hence the poll.
 *
 * Milestones a pod passed between two looks are still reported, in lifecycle order: a pod first
 * seen exited yields PREPARED, STARTED, APP_STARTED per app, APP_EXITED per app and EXITED. A pod
 * that runs is also reported PREPARED (its preparation succeeded, even when `rkt run` never left it
 * in prepared/). APP_STARTED comes with POD_STARTED, as the engine starts every app with the pod.
 * POD_GARBAGE_COLLECTED means the pod's directory is gone. Event times are when the change was
 * seen, in seconds; events from before a call are never replayed.
 */
import { readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import {
  POD_FILES,
  PodsLayout,
  STATE_DIRS,
  locatePod,
  readPod,
  walkPods,
  type PodState,
} from '../pod/index.js';
import type { Store } from '../store/index.js';
import { int64ToNumber, type Event, type EventFilter, type EventType } from './types.js';

/** What one look at a pod shows. */
export interface PodObservation {
  state: PodState;
  apps: string[];
  /** Exit codes recorded so far, by app. */
  exitCodes: Map<string, number>;
}

/** The milestones already reported for a pod. */
export interface PodRecord {
  preparing: boolean;
  prepared: boolean;
  aborted: boolean;
  started: boolean;
  exited: boolean;
  appsExited: Set<string>;
}

export interface Observation {
  pods: Map<string, PodObservation>;
  /** Image key to name. */
  images: Map<string, string>;
}

export interface WatchState {
  pods: Map<string, PodRecord>;
  images: Map<string, string>;
}

const PREPARED_OR_LATER: readonly PodState[] = [
  'prepared',
  'running',
  'exited',
  'exited garbage',
  'exited deleting',
];
const STARTED_OR_LATER: readonly PodState[] = ['running', 'exited', 'exited garbage', 'exited deleting'];
const AFTER_RUN: readonly PodState[] = ['exited', 'exited garbage', 'exited deleting'];

function emptyRecord(): PodRecord {
  return {
    preparing: false,
    prepared: false,
    aborted: false,
    started: false,
    exited: false,
    appsExited: new Set(),
  };
}

/** Advances a pod's record to what `o` shows, returning the events of the milestones passed. */
function advancePod(uuid: string, rec: PodRecord, o: PodObservation, time: number): Event[] {
  const out: Event[] = [];
  const ev = (type: EventType, from = uuid, data: Event['data'] = []): void => {
    out.push({ type, id: uuid, from, time, data });
  };
  if (o.state === 'preparing' || o.state === 'embryo') rec.preparing = true;
  if (!rec.prepared && PREPARED_OR_LATER.includes(o.state)) {
    rec.prepared = true;
    ev('EVENT_TYPE_POD_PREPARED');
  }
  const abortedNow =
    o.state === 'aborted prepare' || ((o.state === 'garbage' || o.state === 'deleting') && rec.preparing);
  if (!rec.aborted && !rec.prepared && abortedNow) {
    rec.aborted = true;
    ev('EVENT_TYPE_POD_PREPARE_ABORTED');
  }
  if (!rec.started && STARTED_OR_LATER.includes(o.state)) {
    rec.started = true;
    ev('EVENT_TYPE_POD_STARTED');
    for (const app of o.apps) ev('EVENT_TYPE_APP_STARTED', app);
  }
  if (rec.started) {
    const afterRun = AFTER_RUN.includes(o.state);
    for (const app of o.apps) {
      if (rec.appsExited.has(app)) continue;
      const code = o.exitCodes.get(app);
      if (code === undefined && !afterRun) continue;
      rec.appsExited.add(app);
      ev('EVENT_TYPE_APP_EXITED', app, code === undefined ? [] : [{ Key: 'exit_code', value: String(code) }]);
    }
    if (!rec.exited && afterRun) {
      rec.exited = true;
      ev('EVENT_TYPE_POD_EXITED');
    }
  }
  return out;
}

/** The starting point: everything already there counts as reported. */
export function baseline(o: Observation): WatchState {
  const pods = new Map<string, PodRecord>();
  for (const [uuid, po] of o.pods) {
    const rec = emptyRecord();
    advancePod(uuid, rec, po, 0);
    pods.set(uuid, rec);
  }
  return { pods, images: new Map(o.images) };
}

/** The events between `state` and `o`; `state` is advanced in place. */
export function diff(state: WatchState, o: Observation, time: number): Event[] {
  const out: Event[] = [];
  for (const [uuid, po] of o.pods) {
    let rec = state.pods.get(uuid);
    if (rec === undefined) {
      rec = emptyRecord();
      state.pods.set(uuid, rec);
    }
    out.push(...advancePod(uuid, rec, po, time));
  }
  for (const uuid of [...state.pods.keys()]) {
    if (o.pods.has(uuid)) continue;
    state.pods.delete(uuid);
    out.push({ type: 'EVENT_TYPE_POD_GARBAGE_COLLECTED', id: uuid, from: uuid, time, data: [] });
  }
  for (const [key, name] of o.images) {
    if (state.images.has(key)) continue;
    state.images.set(key, name);
    out.push({ type: 'EVENT_TYPE_IMAGE_IMPORTED', id: key, from: name, time, data: [] });
  }
  for (const [key, name] of [...state.images]) {
    if (o.images.has(key)) continue;
    state.images.delete(key);
    out.push({ type: 'EVENT_TYPE_IMAGE_REMOVED', id: key, from: name, time, data: [] });
  }
  return out;
}

/** The filter's conditions other than until_time (which ends the stream). */
export function eventMatches(e: Event, f: EventFilter | null): boolean {
  if (f === null) return true;
  if (f.types.length > 0 && !f.types.includes(e.type)) return false;
  if (f.ids.length > 0 && !f.ids.includes(e.id)) return false;
  if (f.names.length > 0 && !f.names.includes(e.from)) return false;
  const since = int64ToNumber(f.since_time);
  if (since > 0 && int64ToNumber(e.time) < since) return false;
  const until = int64ToNumber(f.until_time);
  if (until > 0 && int64ToNumber(e.time) > until) return false;
  return true;
}

function readExitCodes(podDir: string): Map<string, number> {
  const out = new Map<string, number>();
  const dir = join(podDir, POD_FILES.appStatusDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    try {
      const text = readFileSync(join(dir, name), 'utf8').trim();
      if (/^-?\d+$/.test(text)) out.set(name, Number(text));
    } catch {
      // being written, or gone
    }
  }
  return out;
}

/** One look at the data dir. */
export function observe(dataDir: string, store: Store): Observation {
  const layout = new PodsLayout(dataDir);
  const pods = new Map<string, PodObservation>();
  for (const loc of walkPods(layout)) {
    // A pod that moved on since the listing is read where it is now, so a move is never taken for
    // a removal.
    let p = readPod(layout, loc);
    if (p === undefined) {
      const now = locatePod(layout, loc.uuid);
      p = now === undefined ? undefined : readPod(layout, now);
    }
    if (p === undefined) continue;
    const apps = (p.manifest?.apps ?? []).map((a) => a.name);
    const hasRun = STARTED_OR_LATER.includes(p.state);
    pods.set(p.uuid, {
      state: p.state,
      apps,
      exitCodes: hasRun ? readExitCodes(p.path) : new Map<string, number>(),
    });
  }
  const images = new Map(store.listImages().map((i) => [i.key, i.name] as const));
  return { pods, images };
}

export type EventListener = (events: Event[]) => void;

/**
 * One poller shared by every ListenEvents call, running only while someone listens. A new
 * listener triggers a look first (delivered to the earlier listeners), so it hears only of
 * changes after it joined.
 */
export class EventWatcher {
  private readonly listeners = new Set<EventListener>();
  private state: WatchState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private watchers: FSWatcher[] = [];

  constructor(
    private readonly dataDir: string,
    private readonly store: Store,
    private readonly intervalMs = 500,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  subscribe(listener: EventListener): () => void {
    if (this.state === undefined) this.start();
    else this.poll();
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Looks now and tells every listener what changed. */
  poll(): void {
    if (this.state === undefined) return;
    let events: Event[];
    try {
      events = diff(this.state, observe(this.dataDir, this.store), Math.floor(Date.now() / 1000));
    } catch (err) {
      this.onError(err);
      return;
    }
    if (events.length === 0) return;
    for (const l of [...this.listeners]) l(events);
  }

  private start(): void {
    this.state = baseline(observe(this.dataDir, this.store));
    this.timer = setInterval(() => this.poll(), this.intervalMs);
    const layout = new PodsLayout(this.dataDir);
    const dirs = [...STATE_DIRS.map((d) => layout.stateDir(d)), this.store.layout.dbDir];
    for (const dir of dirs) {
      try {
        this.watchers.push(watch(dir, () => this.pollSoon()).on('error', () => {}));
      } catch {
        // the poll still sees everything, a little later
      }
    }
  }

  /** Coalesces a burst of file changes into one look shortly after. */
  private pollSoon(): void {
    if (this.soon !== undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.poll();
    }, 50);
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.timer = this.soon = undefined;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.state = undefined;
    this.listeners.clear();
  }
}
