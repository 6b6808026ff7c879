/**
 * Conformance: archive retention (`purgeArchive`) and dedupe pruning (`pruneDedupe`).
 */
import { expect } from 'vitest';
import type { StorageDriver } from '../driver.js';
import { BUS, T0, claimOne, killOldest, makeEvent, pick, publish, settle, setup } from './fixtures.js';
import type { ConformanceSuite } from './suite.js';

const NEVER = T0 + 1_000_000_000;

/** Publishes one event per id, 100 ms apart from T0, for the listed subscriptions; returns the seqs. */
async function publishSpaced(
  d: StorageDriver,
  ids: readonly string[],
  subscriptions: readonly string[] = [],
  bus = BUS,
): Promise<number[]> {
  const seqs: number[] = [];
  for (const [i, id] of ids.entries()) {
    seqs.push(...(await publish(d, [makeEvent(id, { subscriptions })], T0 + 100 * i, { bus })));
  }
  return seqs;
}

async function archivedIds(d: StorageDriver, bus = BUS): Promise<string[]> {
  return (await d.queryArchive(bus, { limit: 100 })).map((e) => e.id);
}

/** The size of one fixture event (every `e-N` event of the suite has the same size). */
const SIZE = makeEvent('e-1').size;

/** Registers the purge and dedupe-pruning tests. */
export function retentionTests(s: ConformanceSuite): void {
  s.area('purgeArchive', () => {
    s.test('removes events published before olderThan and keeps those at or after it', async (d) => {
      await setup(d, []);
      await publishSpaced(d, ['e-1', 'e-2', 'e-3']);
      expect(await d.purgeArchive(BUS, { olderThan: T0 + 100, maxBytes: null })).toBe(1);
      expect(await archivedIds(d)).toEqual(['e-2', 'e-3']);
    });

    s.test('removes the oldest events beyond maxBytes', async (d) => {
      await setup(d, []);
      await publishSpaced(d, ['e-1', 'e-2', 'e-3', 'e-4']);
      expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: 2 * SIZE + 1 })).toBe(2);
      expect(await archivedIds(d)).toEqual(['e-3', 'e-4']);
      expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: 2 * SIZE })).toBe(0);
      expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: 0 })).toBe(2);
      expect(await archivedIds(d)).toEqual([]);
    });

    s.test('applies the age limit, then the byte limit', async (d) => {
      await setup(d, []);
      await publishSpaced(d, ['e-1', 'e-2', 'e-3', 'e-4']);
      expect(await d.purgeArchive(BUS, { olderThan: T0 + 100, maxBytes: 2 * SIZE })).toBe(2);
      expect(await archivedIds(d)).toEqual(['e-3', 'e-4']);
    });

    s.test('never removes events with a pending, leased or dead delivery', async (d) => {
      await setup(d, ['a']);
      await publishSpaced(d, ['e-1', 'e-2', 'e-3', 'e-4'], ['a']);
      await publishSpaced(d, ['e-5']);
      // Claimed oldest first: e-1 delivered, e-2 dead, e-3 leased; e-4 stays pending.
      await settle(d, await claimOne(d, 'a', T0 + 1_000), { kind: 'ack' }, T0 + 1_001);
      await killOldest(d, 'a', T0 + 1_002);
      await claimOne(d, 'a', T0 + 1_003);
      expect(await d.purgeArchive(BUS, { olderThan: NEVER, maxBytes: 0 })).toBe(2);
      expect(await archivedIds(d)).toEqual(['e-2', 'e-3', 'e-4']);
      expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: 0 })).toBe(0);
      expect(await d.subscriptionStats('a')).toMatchObject({ backlog: 1, inFlight: 1, dead: 1 });
    });

    s.test('retained events count towards maxBytes', async (d) => {
      await setup(d, ['a']);
      await publishSpaced(d, ['e-1'], ['a']);
      await publishSpaced(d, ['e-2', 'e-3']);
      // 3 × SIZE archived, e-1 retained: removing e-2 brings the total to the budget.
      expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: 2 * SIZE })).toBe(1);
      expect(await archivedIds(d)).toEqual(['e-1', 'e-3']);
    });

    s.test('removes delivered and redriven deliveries with their events', async (d) => {
      await setup(d, ['a']);
      const [s1 = 0, s2 = 0] = await publishSpaced(d, ['e-1', 'e-2'], ['a']);
      await settle(d, await claimOne(d, 'a', T0 + 1_000), { kind: 'ack' }, T0 + 1_001);
      const dead = await killOldest(d, 'a', T0 + 1_002);
      await d.redrive('a', [dead], T0 + 1_003);
      expect(await d.purgeArchive(BUS, { olderThan: NEVER, maxBytes: null })).toBe(1);
      expect(await archivedIds(d)).toEqual(['e-2']);
      await settle(d, await claimOne(d, 'a', T0 + 1_004), { kind: 'ack' }, T0 + 1_005);
      expect(await d.purgeArchive(BUS, { olderThan: NEVER, maxBytes: null })).toBe(1);
      expect(await archivedIds(d)).toEqual([]);
      expect(await d.deliveriesOf(s1)).toEqual([]);
      expect(await d.deliveriesOf(s2)).toEqual([]);
      expect(await d.deliveredSeqs('a', [s1, s2])).toEqual(new Set());
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 0, inFlight: 0, dead: 0, oldestPendingAt: null });
    });

    s.test('only touches the given bus', async (d) => {
      await setup(d, []);
      await setup(d, [], 'audit');
      await publishSpaced(d, ['e-1', 'e-2']);
      await publishSpaced(d, ['x-1', 'x-2'], [], 'audit');
      expect(await d.purgeArchive('audit', { olderThan: NEVER, maxBytes: null })).toBe(2);
      expect(await archivedIds(d, 'audit')).toEqual([]);
      expect(await archivedIds(d)).toEqual(['e-1', 'e-2']);
      expect(await d.purgeArchive('nope', { olderThan: NEVER, maxBytes: 0 })).toBe(0);
    });

    s.test('without limits removes nothing', async (d) => {
      await setup(d, []);
      await publishSpaced(d, ['e-1', 'e-2']);
      expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: null })).toBe(0);
      expect(await archivedIds(d)).toEqual(['e-1', 'e-2']);
    });
  });

  s.area('pruneDedupe', () => {
    s.test('forgets entries accepted before olderThan, so the same source and id is accepted again', async (d) => {
      await setup(d, []);
      const seqs = await publishSpaced(d, ['e-1', 'e-2']);
      expect(await d.pruneDedupe(T0 + 100)).toBe(1);
      const window = 3_600_000;
      const outcomes = await d.append(
        [{ bus: BUS, events: [makeEvent('e-1'), makeEvent('e-2')], dedupeWindowMs: window }],
        T0 + 200,
      );
      const [[again, duplicate] = []] = outcomes;
      expect(again?.status).toBe('accepted');
      expect(duplicate).toEqual({ status: 'duplicate', seq: pick(seqs, 1) });
    });

    s.test('prunes across buses and returns how many entries it forgot', async (d) => {
      await setup(d, []);
      await setup(d, [], 'audit');
      await publishSpaced(d, ['e-1', 'e-2']);
      await publishSpaced(d, ['x-1'], [], 'audit');
      expect(await d.pruneDedupe(T0 + 1)).toBe(2);
      expect(await d.pruneDedupe(T0 + 1)).toBe(0);
      expect(await d.pruneDedupe(NEVER)).toBe(1);
    });
  });
}
