/**
 * Conformance: `claim` — due-ness, order, leases, expired leases, attempt numbers, and FIFO per
 * partition key in ordered mode.
 */
import { expect } from 'vitest';
import {
  BUS,
  LEASE_EXPIRED_ERROR,
  T0,
  claimAll,
  claimOne,
  makeEvent,
  makeSubscription,
  pick,
  publish,
  settle,
  setup,
  traceOf,
} from './fixtures.js';
import type { ConformanceSuite } from './suite.js';

/** Registers the claim and ordered-claim tests. */
export function claimTests(s: ConformanceSuite): void {
  s.area('claim', () => {
    s.test('claims a due delivery with its event, attempt 1 and a lease token', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const [claimed, ...rest] = await claimAll(d, 'a', T0);
      expect(rest).toEqual([]);
      expect(claimed).toMatchObject({ subscription: 'a', attempt: 1, enqueuedAt: T0, replayId: null, redriveOf: null });
      expect(claimed?.leaseToken).toMatch(/\S/);
      expect(claimed?.event).toEqual(await d.queryArchive(BUS, { limit: 1 }).then(([e]) => e));
      expect((await traceOf(d, seq, claimed?.deliveryId ?? 0)).state).toBe('leased');
      expect(await d.subscriptionStats('a')).toMatchObject({ backlog: 0, inFlight: 1 });
    });

    s.test('does not claim deliveries before they are due', async (d) => {
      await setup(d, ['a']);
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0 + 100);
      expect(await claimAll(d, 'a', T0 + 99)).toEqual([]);
      const claimed = await claimOne(d, 'a', T0 + 100);
      await settle(d, claimed, { kind: 'retry', availableAt: T0 + 5_000 }, T0 + 200);
      expect(await claimAll(d, 'a', T0 + 4_999)).toEqual([]);
      expect((await claimAll(d, 'a', T0 + 5_000)).map((c) => c.deliveryId)).toEqual([claimed.deliveryId]);
    });

    s.test('claims the oldest first, at most max', async (d) => {
      await setup(d, ['a']);
      for (const [i, id] of ['e-1', 'e-2', 'e-3'].entries()) {
        await publish(d, [makeEvent(id, { subscriptions: ['a'] })], T0 + i);
      }
      expect((await claimAll(d, 'a', T0 + 10, { max: 2 })).map((c) => c.event.id)).toEqual(['e-1', 'e-2']);
      expect((await claimAll(d, 'a', T0 + 10, { max: 2 })).map((c) => c.event.id)).toEqual(['e-3']);
      expect(await claimAll(d, 'a', T0 + 10)).toEqual([]);
    });

    s.test('orders by due time, then delivery id', async (d) => {
      await setup(d, ['a']);
      const events = ['e-1', 'e-2', 'e-3'].map((id) => makeEvent(id, { subscriptions: ['a'] }));
      await publish(d, events, T0);
      const claims = await claimAll(d, 'a', T0);
      const [c1, c2, c3] = [pick(claims, 0), pick(claims, 1), pick(claims, 2)];
      await settle(d, c1, { kind: 'retry', availableAt: T0 + 300 }, T0);
      await settle(d, c3, { kind: 'retry', availableAt: T0 + 100 }, T0);
      await settle(d, c2, { kind: 'retry', availableAt: T0 + 100 }, T0);
      expect((await claimAll(d, 'a', T0 + 1_000)).map((c) => c.event.id)).toEqual(['e-2', 'e-3', 'e-1']);
    });

    s.test('an expired lease is due at its end, ordered with pending deliveries', async (d) => {
      await setup(d, ['a']);
      await publish(
        d,
        ['e-1', 'e-2'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
        T0,
      );
      const first = await claimOne(d, 'a', T0, { leaseMs: 500 });
      const second = await claimOne(d, 'a', T0);
      await settle(d, second, { kind: 'retry', availableAt: T0 + 400 }, T0);
      // e-2 is due at T0+400, e-1's lease ends at T0+500.
      expect((await claimAll(d, 'a', T0 + 1_000)).map((c) => c.event.id)).toEqual(['e-2', 'e-1']);
      expect(first.event.id).toBe('e-1');
    });

    s.test('a leased delivery is not claimed again before its lease ends', async (d) => {
      await setup(d, ['a']);
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      await claimOne(d, 'a', T0, { leaseMs: 1_000 });
      expect(await claimAll(d, 'a', T0 + 999)).toEqual([]);
    });

    s.test('an expired lease is reclaimed and the lost attempt recorded as lease_expired', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const first = await claimOne(d, 'a', T0 + 10, { leaseMs: 1_000 });
      const again = await claimOne(d, 'a', T0 + 1_010, { leaseMs: 1_000 });
      expect(again.deliveryId).toBe(first.deliveryId);
      expect(again.attempt).toBe(2);
      expect(again.leaseToken).not.toBe(first.leaseToken);
      expect((await traceOf(d, seq, first.deliveryId)).attempts).toEqual([
        {
          attempt: 1,
          startedAt: T0 + 10,
          durationMs: 1_000,
          outcome: 'lease_expired',
          error: LEASE_EXPIRED_ERROR,
          httpStatus: null,
          responseBody: null,
        },
      ]);
    });

    s.test('every claim gets a fresh lease token', async (d) => {
      await setup(d, ['a']);
      await publish(
        d,
        ['e-1', 'e-2'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
        T0,
      );
      const tokens = (await claimAll(d, 'a', T0, { leaseMs: 100 })).map((c) => c.leaseToken);
      tokens.push(...(await claimAll(d, 'a', T0 + 100, { leaseMs: 100 })).map((c) => c.leaseToken));
      expect(tokens).toHaveLength(4);
      expect(new Set(tokens).size).toBe(4);
    });

    s.test('attempt numbers count every claim, expired leases included', async (d) => {
      await setup(d, ['a']);
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const one = await claimOne(d, 'a', T0);
      await settle(d, one, { kind: 'retry', availableAt: T0 + 10 }, T0 + 1);
      const two = await claimOne(d, 'a', T0 + 10, { leaseMs: 100 });
      const three = await claimOne(d, 'a', T0 + 110);
      expect([one.attempt, two.attempt, three.attempt]).toEqual([1, 2, 3]);
    });

    s.test("claims only the given subscription's deliveries", async (d) => {
      await setup(d, ['a', 'b']);
      await publish(d, [makeEvent('e-1', { subscriptions: ['a', 'b'] })], T0);
      expect((await claimAll(d, 'a', T0)).map((c) => c.subscription)).toEqual(['a']);
      expect(await claimAll(d, 'a', T0)).toEqual([]);
      expect(await d.subscriptionStats('b')).toMatchObject({ backlog: 1, inFlight: 0 });
      expect(await claimAll(d, 'nope', T0)).toEqual([]);
    });

    s.test("a paused subscription's deliveries are still claimed (pausing is the engine's concern)", async (d) => {
      await setup(d, []);
      await d.putSubscription(makeSubscription('a', { paused: true }));
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      expect(await claimAll(d, 'a', T0)).toHaveLength(1);
    });

    s.test('delivered and dead deliveries are never claimed', async (d) => {
      await setup(d, ['a']);
      await publish(
        d,
        ['e-1', 'e-2'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
        T0,
      );
      const claims = await claimAll(d, 'a', T0, { leaseMs: 10 });
      const [c1, c2] = [pick(claims, 0), pick(claims, 1)];
      await settle(d, c1, { kind: 'ack' }, T0 + 1);
      await settle(d, c2, { kind: 'dead', reason: 'non_retriable' }, T0 + 1);
      expect(await claimAll(d, 'a', T0 + 1_000_000)).toEqual([]);
    });
  });

  s.area('ordered claim', () => {
    const keyed = (id: string, partitionKey: string | null, subscriptions = ['a']) =>
      makeEvent(id, { partitionKey, subscriptions });

    s.test('one delivery per partition key at a time, in publish order', async (d) => {
      await setup(d, ['a']);
      await publish(d, [keyed('e-1', 'k1'), keyed('e-2', 'k1'), keyed('e-3', 'k2')], T0);
      const first = await claimAll(d, 'a', T0, { ordered: true });
      expect(first.map((c) => c.event.id)).toEqual(['e-1', 'e-3']);
      expect(await claimAll(d, 'a', T0, { ordered: true })).toEqual([]);
      await settle(d, pick(first, 0), { kind: 'ack' }, T0 + 1);
      expect((await claimAll(d, 'a', T0 + 1, { ordered: true })).map((c) => c.event.id)).toEqual(['e-2']);
    });

    s.test('an earlier delivery waiting for a retry blocks its key', async (d) => {
      await setup(d, ['a']);
      await publish(d, [keyed('e-1', 'k1'), keyed('e-2', 'k1')], T0);
      const first = await claimOne(d, 'a', T0, { ordered: true });
      await settle(d, first, { kind: 'retry', availableAt: T0 + 10_000 }, T0 + 1);
      expect(await claimAll(d, 'a', T0 + 100, { ordered: true })).toEqual([]);
      expect((await claimAll(d, 'a', T0 + 10_000, { ordered: true })).map((c) => c.event.id)).toEqual(['e-1']);
    });

    s.test('an earlier expired lease is reclaimed before later deliveries of its key', async (d) => {
      await setup(d, ['a']);
      await publish(d, [keyed('e-1', 'k1'), keyed('e-2', 'k1')], T0);
      await claimOne(d, 'a', T0, { ordered: true, leaseMs: 1_000 });
      const again = await claimAll(d, 'a', T0 + 2_000, { ordered: true });
      expect(again.map((c) => [c.event.id, c.attempt])).toEqual([['e-1', 2]]);
    });

    s.test('events without a partition key are never blocked', async (d) => {
      await setup(d, ['a']);
      await publish(d, [keyed('e-1', null), keyed('e-2', null), keyed('e-3', 'k1'), keyed('e-4', 'k1')], T0);
      const claimed = await claimAll(d, 'a', T0, { ordered: true });
      expect(claimed.map((c) => c.event.id)).toEqual(['e-1', 'e-2', 'e-3']);
    });

    s.test('a dead earlier delivery does not block its key', async (d) => {
      await setup(d, ['a']);
      await publish(d, [keyed('e-1', 'k1'), keyed('e-2', 'k1')], T0);
      const first = await claimOne(d, 'a', T0, { ordered: true });
      await settle(d, first, { kind: 'dead', reason: 'max_attempts' }, T0 + 1);
      expect((await claimAll(d, 'a', T0 + 1, { ordered: true })).map((c) => c.event.id)).toEqual(['e-2']);
    });

    s.test("another subscription's deliveries do not block", async (d) => {
      await setup(d, ['a', 'b']);
      await publish(d, [keyed('e-1', 'k1', ['a', 'b']), keyed('e-2', 'k1', ['a', 'b'])], T0);
      expect((await claimAll(d, 'a', T0, { ordered: true })).map((c) => c.event.id)).toEqual(['e-1']);
      expect((await claimAll(d, 'b', T0, { ordered: true })).map((c) => c.event.id)).toEqual(['e-1']);
    });

    s.test('without ordered, partition keys are ignored', async (d) => {
      await setup(d, ['a']);
      await publish(d, [keyed('e-1', 'k1'), keyed('e-2', 'k1'), keyed('e-3', 'k2')], T0);
      expect((await claimAll(d, 'a', T0)).map((c) => c.event.id)).toEqual(['e-1', 'e-2', 'e-3']);
    });
  });
}
