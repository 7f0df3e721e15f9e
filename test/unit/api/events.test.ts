import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  baseline,
  diff,
  eventMatches,
  type Observation,
  type PodObservation,
} from '../../../src/api/events.js';
import type { EventFilter } from '../../../src/api/types.js';
import type { PodState } from '../../../src/pod/index.js';

const U = '11111111-2222-4333-8444-555555555555';

function obs(pods: [string, PodState, [string, number][]?][], images: [string, string][] = []): Observation {
  const m = new Map<string, PodObservation>();
  for (const [uuid, state, codes] of pods)
    m.set(uuid, { state, apps: ['a', 'b'], exitCodes: new Map(codes ?? []) });
  return { pods: m, images: new Map(images) };
}

const kinds = (evs: { type: string; from: string }[]): string[] =>
  evs.map((e) => `${e.type.replace('EVENT_TYPE_', '')}:${e.from === U ? 'pod' : e.from}`);

describe('event diff', () => {
  it('reports nothing for what was already there', () => {
    const s = baseline(obs([[U, 'running']], [['sha512-1', 'x']]));
    assert.deepEqual(diff(s, obs([[U, 'running']], [['sha512-1', 'x']]), 5), []);
  });

  it('follows a pod through its life, one step at a time', () => {
    const s = baseline(obs([]));
    assert.deepEqual(kinds(diff(s, obs([[U, 'preparing']]), 1)), []);
    assert.deepEqual(kinds(diff(s, obs([[U, 'prepared']]), 2)), ['POD_PREPARED:pod']);
    assert.deepEqual(kinds(diff(s, obs([[U, 'running']]), 3)), [
      'POD_STARTED:pod',
      'APP_STARTED:a',
      'APP_STARTED:b',
    ]);
    const appExit = diff(s, obs([[U, 'running', [['b', 7]]]]), 4);
    assert.deepEqual(kinds(appExit), ['APP_EXITED:b']);
    assert.deepEqual(appExit[0]?.data, [{ Key: 'exit_code', value: '7' }]);
    assert.equal(appExit[0]?.id, U);
    assert.equal(appExit[0]?.time, 4);
    assert.deepEqual(
      kinds(
        diff(
          s,
          obs([
            [
              U,
              'exited',
              [
                ['a', 0],
                ['b', 7],
              ],
            ],
          ]),
          5,
        ),
      ),
      ['APP_EXITED:a', 'POD_EXITED:pod'],
    );
    assert.deepEqual(
      kinds(
        diff(
          s,
          obs([
            [
              U,
              'exited garbage',
              [
                ['a', 0],
                ['b', 7],
              ],
            ],
          ]),
          6,
        ),
      ),
      [],
    );
    assert.deepEqual(kinds(diff(s, obs([]), 7)), ['POD_GARBAGE_COLLECTED:pod']);
  });

  it('reports the milestones a pod passed between two looks, in order', () => {
    const s = baseline(obs([]));
    assert.deepEqual(kinds(diff(s, obs([[U, 'exited', [['a', 1]]]]), 1)), [
      'POD_PREPARED:pod',
      'POD_STARTED:pod',
      'APP_STARTED:a',
      'APP_STARTED:b',
      'APP_EXITED:a',
      'APP_EXITED:b',
      'POD_EXITED:pod',
    ]);
  });

  it('reports an aborted prepare, also when gc marked it before it was seen aborted', () => {
    const s = baseline(obs([[U, 'preparing']]));
    assert.deepEqual(kinds(diff(s, obs([[U, 'aborted prepare']]), 1)), ['POD_PREPARE_ABORTED:pod']);
    const t = baseline(obs([[U, 'preparing']]));
    assert.deepEqual(kinds(diff(t, obs([[U, 'garbage']]), 1)), ['POD_PREPARE_ABORTED:pod']);
    const expired = baseline(obs([[U, 'prepared']]));
    assert.deepEqual(kinds(diff(expired, obs([[U, 'garbage']]), 1)), []);
  });

  it('reports images imported and removed', () => {
    const s = baseline(obs([], [['sha512-1', 'example.com/one']]));
    const evs = diff(s, obs([], [['sha512-2', 'example.com/two']]), 9);
    assert.deepEqual(kinds(evs), ['IMAGE_IMPORTED:example.com/two', 'IMAGE_REMOVED:example.com/one']);
    assert.deepEqual(
      evs.map((e) => e.id),
      ['sha512-2', 'sha512-1'],
    );
  });
});

describe('event filter', () => {
  const ev = { type: 'EVENT_TYPE_POD_STARTED' as const, id: U, from: U, time: '100', data: [] };
  const f = (over: Partial<EventFilter>): EventFilter => ({
    types: [],
    ids: [],
    names: [],
    since_time: '0',
    until_time: '0',
    ...over,
  });
  const cases: [string, Partial<EventFilter>, boolean][] = [
    ['empty', {}, true],
    ['type', { types: ['EVENT_TYPE_POD_EXITED', 'EVENT_TYPE_POD_STARTED'] }, true],
    ['type mismatch', { types: ['EVENT_TYPE_POD_EXITED'] }, false],
    ['id', { ids: [U] }, true],
    ['id mismatch', { ids: ['x'] }, false],
    ['name', { names: [U] }, true],
    ['name mismatch', { names: ['web'] }, false],
    ['since, same second', { since_time: '100' }, true],
    ['since later', { since_time: '101' }, false],
    ['until, same second', { until_time: '100' }, true],
    ['until earlier', { until_time: '99' }, false],
    ['ANDed', { types: ['EVENT_TYPE_POD_STARTED'], ids: ['x'] }, false],
  ];
  for (const [name, over, want] of cases) it(name, () => assert.equal(eventMatches(ev, f(over)), want));
  it('no filter at all', () => assert.equal(eventMatches(ev, null), true));
});
