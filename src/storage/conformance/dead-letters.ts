/**
 * Conformance: dead letters (list, get, count, delete) and redrive.
 */
import { expect } from 'vitest';
import type { StorageDriver } from '../driver.js';
import {
  enqueue,
  BUS,
  T0,
  attemptFor,
  claimAll,
  claimOne,
  killOldest,
  makeEvent,
  pick,
  publish,
  settle,
  setup,
  traceOf,
} from './fixtures.js';
import type { ConformanceSuite } from './suite.js';

/** Publishes one event per id at T0 for the listed subscriptions; returns the seqs. */
function publishAll(d: StorageDriver, ids: readonly string[], subscriptions: readonly string[] = ['a']) {
  return publish(
    d,
    ids.map((id) => makeEvent(id, { subscriptions })),
    T0,
  );
}

/** The id of an event's delivery to a subscription. */
async function deliveryOf(d: StorageDriver, seq: number, subscription: string): Promise<number> {
  const trace = (await d.deliveriesOf(seq)).find((t) => t.subscription === subscription);
  if (trace === undefined) throw new Error(`event ${seq} has no delivery to ${subscription}`);
  return trace.deliveryId;
}

/** Registers the dead-letter and redrive tests. */
export function deadLetterTests(s: ConformanceSuite): void {
  s.area('dead letters', () => {
    s.test('a dead letter keeps the event, every attempt, its reason, deadAt and enqueuedAt', async (d) => {
      await setup(d, ['a']);
      await publishAll(d, ['e-1']);
      const first = await claimOne(d, 'a', T0 + 1);
      await settle(d, first, { kind: 'retry', availableAt: T0 + 100 }, T0 + 2);
      const second = await claimOne(d, 'a', T0 + 100);
      await settle(d, second, { kind: 'dead', reason: 'max_attempts' }, T0 + 200);
      const [event] = await d.queryArchive(BUS, { limit: 1 });
      expect(await d.listDeadLetters('a', { limit: 10 })).toEqual([
        {
          deliveryId: first.deliveryId,
          subscription: 'a',
          event,
          attempts: [
            attemptFor(first, { kind: 'retry', availableAt: T0 + 100 }, T0 + 2),
            attemptFor(second, { kind: 'dead', reason: 'max_attempts' }, T0 + 200),
          ],
          reason: 'max_attempts',
          deadAt: T0 + 200,
          enqueuedAt: T0,
          replayId: null,
        },
      ]);
    });

    s.test('listDeadLetters pages by ascending delivery id with afterId and limit', async (d) => {
      await setup(d, ['a']);
      await publishAll(d, ['e-1', 'e-2', 'e-3', 'e-4', 'e-5']);
      const claims = await claimAll(d, 'a', T0);
      // Die newest first, so that death order and id order disagree.
      for (const claimed of [...claims].reverse())
        await settle(d, claimed, { kind: 'dead', reason: 'max_age' }, T0 + 1);
      const ids = claims.map((c) => c.deliveryId).sort((x, y) => x - y);
      const page = async (afterId?: number) =>
        (await d.listDeadLetters('a', { limit: 2, ...(afterId === undefined ? {} : { afterId }) })).map(
          (l) => l.deliveryId,
        );
      expect(await page()).toEqual(ids.slice(0, 2));
      expect(await page(pick(ids, 1))).toEqual(ids.slice(2, 4));
      expect(await page(pick(ids, 3))).toEqual(ids.slice(4));
      expect(await page(pick(ids, 4))).toEqual([]);
    });

    s.test('listDeadLetters and countDeadLetters filter by deadAt, bounds inclusive', async (d) => {
      await setup(d, ['a']);
      await publishAll(d, ['e-1', 'e-2', 'e-3']);
      const ids = [
        await killOldest(d, 'a', T0 + 100),
        await killOldest(d, 'a', T0 + 200),
        await killOldest(d, 'a', T0 + 300),
      ];
      const listed = async (filter: { from?: number; to?: number }) =>
        (await d.listDeadLetters('a', { limit: 10, ...filter })).map((l) => l.deliveryId);
      expect(await listed({ from: T0 + 200 })).toEqual(ids.slice(1));
      expect(await listed({ to: T0 + 200 })).toEqual(ids.slice(0, 2));
      expect(await listed({ from: T0 + 200, to: T0 + 200 })).toEqual(ids.slice(1, 2));
      expect(await d.countDeadLetters('a', {})).toBe(3);
      expect(await d.countDeadLetters('a', { from: T0 + 200 })).toBe(2);
      expect(await d.countDeadLetters('a', { to: T0 + 200 })).toBe(2);
      expect(await d.countDeadLetters('a', { from: T0 + 201, to: T0 + 299 })).toBe(0);
    });

    s.test('dead letters belong to their subscription', async (d) => {
      await setup(d, ['a', 'b']);
      await publishAll(d, ['e-1'], ['a', 'b']);
      const ofA = await killOldest(d, 'a', T0 + 1);
      const ofB = await killOldest(d, 'b', T0 + 2);
      expect((await d.listDeadLetters('a', { limit: 10 })).map((l) => l.deliveryId)).toEqual([ofA]);
      expect(await d.countDeadLetters('b', {})).toBe(1);
      expect(await d.getDeadLetter('b', ofA)).toBeNull();
      expect((await d.getDeadLetter('b', ofB))?.subscription).toBe('b');
    });

    s.test('getDeadLetter returns null for live, delivered or unknown deliveries', async (d) => {
      await setup(d, ['a']);
      const seqs = await publishAll(d, ['e-1', 'e-2', 'e-3']);
      const dead = await killOldest(d, 'a', T0 + 1);
      const delivered = await claimOne(d, 'a', T0 + 2);
      await settle(d, delivered, { kind: 'ack' }, T0 + 3);
      const pending = await deliveryOf(d, seqs[2] ?? 0, 'a');
      expect(await d.getDeadLetter('a', delivered.deliveryId)).toBeNull();
      expect(await d.getDeadLetter('a', pending)).toBeNull();
      expect(await d.getDeadLetter('a', 987_654)).toBeNull();
      expect((await d.getDeadLetter('a', dead))?.deliveryId).toBe(dead);
    });

    s.test('deleteDeadLetters deletes the given dead letters and skips every other id', async (d) => {
      await setup(d, ['a', 'b']);
      const [s1 = 0, , s3 = 0] = await publishAll(d, ['e-1', 'e-2', 'e-3']);
      await publishAll(d, ['e-4'], ['b']);
      const x = await killOldest(d, 'a', T0 + 1);
      const y = await killOldest(d, 'a', T0 + 2);
      const w = await killOldest(d, 'b', T0 + 3);
      const pending = await deliveryOf(d, s3, 'a');
      expect(await d.deleteDeadLetters('a', [x, pending, w, 987_654, x])).toBe(1);
      expect((await d.listDeadLetters('a', { limit: 10 })).map((l) => l.deliveryId)).toEqual([y]);
      expect(await d.deliveriesOf(s1)).toEqual([]);
      expect((await traceOf(d, s3, pending)).state).toBe('pending');
      expect(await d.countDeadLetters('b', {})).toBe(1);
    });

    s.test('deleteDeadLetters all deletes every dead letter of the subscription only', async (d) => {
      await setup(d, ['a', 'b']);
      await publishAll(d, ['e-1', 'e-2', 'e-3'], ['a', 'b']);
      await killOldest(d, 'a', T0 + 1);
      await killOldest(d, 'a', T0 + 2);
      await killOldest(d, 'b', T0 + 3);
      expect(await d.deleteDeadLetters('a', 'all')).toBe(2);
      expect(await d.countDeadLetters('a', {})).toBe(0);
      expect(await d.countDeadLetters('b', {})).toBe(1);
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 1, inFlight: 0, dead: 0, oldestPendingAt: T0 });
      expect(await d.deleteDeadLetters('a', 'all')).toBe(0);
    });
  });

  s.area('redrive', () => {
    s.test('redrive puts a dead letter back as a new pending delivery', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publishAll(d, ['e-1']);
      const dead = await killOldest(d, 'a', T0 + 10);
      expect(await d.redrive('a', [dead], T0 + 500)).toBe(1);
      const traces = await d.deliveriesOf(seq);
      expect(traces.map((t) => t.state)).toEqual(['redriven', 'pending']);
      const successor = pick(traces, 1);
      expect(successor).toMatchObject({
        subscription: 'a',
        redriveOf: dead,
        enqueuedAt: T0 + 500,
        availableAt: T0 + 500,
      });
      expect(successor.attempts).toEqual([]);
      expect(await d.listDeadLetters('a', { limit: 10 })).toEqual([]);
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 1, inFlight: 0, dead: 0, oldestPendingAt: T0 + 500 });
      const claimed = await claimOne(d, 'a', T0 + 500);
      expect(claimed).toMatchObject({
        deliveryId: successor.deliveryId,
        attempt: 1,
        redriveOf: dead,
        enqueuedAt: T0 + 500,
      });
    });

    s.test('redrive keeps the replay id', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publishAll(d, ['e-1'], []);
      await enqueue(d, [{ subscription: 'a', eventSeq: seq, replayId: 'r-1' }], T0 + 1);
      const dead = await killOldest(d, 'a', T0 + 2);
      expect((await d.getDeadLetter('a', dead))?.replayId).toBe('r-1');
      await d.redrive('a', [dead], T0 + 3);
      expect(await claimOne(d, 'a', T0 + 3)).toMatchObject({ replayId: 'r-1', redriveOf: dead });
    });

    s.test('redriving twice yields one new delivery', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publishAll(d, ['e-1']);
      const dead = await killOldest(d, 'a', T0 + 1);
      expect(await d.redrive('a', [dead, dead], T0 + 2)).toBe(1);
      expect(await d.redrive('a', [dead], T0 + 3)).toBe(0);
      expect(await d.deliveriesOf(seq)).toHaveLength(2);
      expect((await d.subscriptionStats('a')).backlog).toBe(1);
    });

    s.test("redrive skips other subscriptions' ids and deliveries that are not dead", async (d) => {
      await setup(d, ['a', 'b']);
      const [seq = 0, , s3 = 0] = await publishAll(d, ['e-1', 'e-2', 'e-3'], ['a', 'b']);
      const ofB = await killOldest(d, 'b', T0 + 1);
      const delivered = await claimOne(d, 'a', T0 + 2);
      await settle(d, delivered, { kind: 'ack' }, T0 + 3);
      const leased = await claimOne(d, 'a', T0 + 4);
      const pending = await deliveryOf(d, s3, 'a');
      const ids = [ofB, delivered.deliveryId, leased.deliveryId, pending, 987_654];
      expect(await d.redrive('a', ids, T0 + 5)).toBe(0);
      expect((await traceOf(d, seq, ofB)).state).toBe('dead');
      expect(await d.deliveriesOf(seq)).toHaveLength(2);
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 1, inFlight: 1, dead: 0, oldestPendingAt: T0 });
    });
  });
}
