/**
 * Conformance: `complete` (single and batched, stale tokens) and `extend`.
 */
import { expect } from 'vitest';
import {
  LEASE_EXPIRED_ERROR,
  T0,
  attemptFor,
  claimAll,
  claimOne,
  itemFor,
  makeEvent,
  pick,
  publish,
  settle,
  setup,
  traceOf,
} from './fixtures.js';
import type { ConformanceSuite } from './suite.js';

/** Registers the complete and extend tests. */
export function completeTests(s: ConformanceSuite): void {
  s.area('complete', () => {
    s.test('ack marks the delivery delivered and records the attempt as given', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0);
      const attempt = attemptFor(claimed, { kind: 'ack' }, T0 + 5);
      expect(await d.complete([itemFor(claimed, { kind: 'ack' }, T0 + 20, attempt)], T0 + 20)).toEqual([true]);
      expect(await traceOf(d, seq, claimed.deliveryId)).toMatchObject({ state: 'delivered', attempts: [attempt] });
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 0, inFlight: 0, dead: 0, oldestPendingAt: null });
      expect(await d.deliveredSeqs('a', [seq])).toEqual(new Set([seq]));
    });

    s.test('retry makes the delivery pending at availableAt and records the attempt', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0);
      const retry = { kind: 'retry', availableAt: T0 + 5_000 } as const;
      expect(await settle(d, claimed, retry, T0 + 10)).toBe(true);
      expect(await traceOf(d, seq, claimed.deliveryId)).toMatchObject({
        state: 'pending',
        availableAt: T0 + 5_000,
        enqueuedAt: T0,
        attempts: [attemptFor(claimed, retry, T0 + 10)],
      });
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 1, inFlight: 0, dead: 0, oldestPendingAt: T0 });
    });

    s.test('dead makes a dead letter with its reason and deadAt = now', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0);
      const dead = { kind: 'dead', reason: 'non_retriable' } as const;
      expect(await settle(d, claimed, dead, T0 + 30)).toBe(true);
      expect(await traceOf(d, seq, claimed.deliveryId)).toMatchObject({ state: 'dead', deadReason: 'non_retriable' });
      expect(await d.getDeadLetter('a', claimed.deliveryId)).toMatchObject({
        reason: 'non_retriable',
        deadAt: T0 + 30,
        attempts: [attemptFor(claimed, dead, T0 + 30)],
      });
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 0, inFlight: 0, dead: 1, oldestPendingAt: null });
    });

    s.test('a wrong token returns false and changes nothing', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0);
      const forged = { ...claimed, leaseToken: `${claimed.leaseToken}-not` };
      expect(await settle(d, forged, { kind: 'ack' }, T0 + 1)).toBe(false);
      expect(await traceOf(d, seq, claimed.deliveryId)).toMatchObject({ state: 'leased', attempts: [] });
      expect(await settle(d, claimed, { kind: 'ack' }, T0 + 2)).toBe(true);
    });

    s.test('the token of an expired lease that was claimed again is stale', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const lost = await claimOne(d, 'a', T0, { leaseMs: 100 });
      const current = await claimOne(d, 'a', T0 + 100);
      expect(await settle(d, lost, { kind: 'ack' }, T0 + 150)).toBe(false);
      const trace = await traceOf(d, seq, lost.deliveryId);
      expect(trace.state).toBe('leased');
      expect(trace.attempts.map((a) => a.outcome)).toEqual(['lease_expired']);
      expect(await settle(d, current, { kind: 'ack' }, T0 + 160)).toBe(true);
    });

    s.test('a second completion returns false and changes nothing', async (d) => {
      await setup(d, ['a']);
      const [s1 = 0, s2 = 0] = await publish(
        d,
        ['e-1', 'e-2'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
        T0,
      );
      const [acked, retried] = [await claimOne(d, 'a', T0), await claimOne(d, 'a', T0)];
      expect(await settle(d, acked, { kind: 'ack' }, T0 + 1)).toBe(true);
      expect(await settle(d, acked, { kind: 'dead', reason: 'max_attempts' }, T0 + 2)).toBe(false);
      expect(await traceOf(d, s1, acked.deliveryId)).toMatchObject({ state: 'delivered', attempts: [{ attempt: 1 }] });
      expect(await settle(d, retried, { kind: 'retry', availableAt: T0 + 50 }, T0 + 1)).toBe(true);
      expect(await settle(d, retried, { kind: 'ack' }, T0 + 2)).toBe(false);
      expect(await traceOf(d, s2, retried.deliveryId)).toMatchObject({ state: 'pending', availableAt: T0 + 50 });
      expect((await traceOf(d, s2, retried.deliveryId)).attempts).toHaveLength(1);
    });

    s.test('an unknown delivery returns false', async (d) => {
      await setup(d, ['a']);
      const item = {
        subscription: 'a',
        deliveryId: 987_654,
        leaseToken: 'token',
        completion: { kind: 'ack' },
        attempt: null,
      } as const;
      expect(await d.complete([item], T0)).toEqual([false]);
      expect(await d.complete([], T0)).toEqual([]);
    });

    s.test('a batch gets one result per item, in order, stale items changing nothing', async (d) => {
      await setup(d, ['a']);
      const seqs = await publish(
        d,
        ['e-1', 'e-2', 'e-3'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
        T0,
      );
      const claims = await claimAll(d, 'a', T0);
      const [c1, c2, c3] = [pick(claims, 0), pick(claims, 1), pick(claims, 2)];
      const results = await d.complete(
        [
          itemFor(c1, { kind: 'ack' }, T0 + 1),
          itemFor({ ...c2, leaseToken: 'stale' }, { kind: 'ack' }, T0 + 1),
          itemFor(c3, { kind: 'dead', reason: 'non_retriable' }, T0 + 1),
        ],
        T0 + 1,
      );
      expect(results).toEqual([true, false, true]);
      const states = await Promise.all(
        claims.map(async (c, i) => (await traceOf(d, pick(seqs, i), c.deliveryId)).state),
      );
      expect(states).toEqual(['delivered', 'leased', 'dead']);
    });

    s.test('the same delivery twice in one batch: the second is stale', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0);
      const items = [
        itemFor(claimed, { kind: 'retry', availableAt: T0 + 100 }, T0 + 1),
        itemFor(claimed, { kind: 'ack' }, T0 + 1),
      ];
      expect(await d.complete(items, T0 + 1)).toEqual([true, false]);
      expect(await traceOf(d, seq, claimed.deliveryId)).toMatchObject({ state: 'pending', availableAt: T0 + 100 });
      expect((await traceOf(d, seq, claimed.deliveryId)).attempts).toHaveLength(1);
    });

    s.test('a null attempt applies the completion and records no attempt', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      await claimOne(d, 'a', T0, { leaseMs: 100 });
      const again = await claimOne(d, 'a', T0 + 100);
      const dead = { kind: 'dead', reason: 'max_attempts' } as const;
      expect(await d.complete([itemFor(again, dead, T0 + 101, null)], T0 + 101)).toEqual([true]);
      expect((await traceOf(d, seq, again.deliveryId)).attempts.map((a) => a.outcome)).toEqual(['lease_expired']);
      expect(await d.getDeadLetter('a', again.deliveryId)).toMatchObject({ reason: 'max_attempts', deadAt: T0 + 101 });
    });

    s.test('the holder of an expired lease nobody claimed again can still complete', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0, { leaseMs: 1_000 });
      expect(await settle(d, claimed, { kind: 'ack' }, T0 + 5_000)).toBe(true);
      expect((await traceOf(d, seq, claimed.deliveryId)).state).toBe('delivered');
    });
  });

  s.area('extend', () => {
    s.test('extend moves the lease end and keeps the delivery from being reclaimed', async (d) => {
      await setup(d, ['a']);
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0, { leaseMs: 1_000 });
      expect(await d.extend('a', claimed.deliveryId, claimed.leaseToken, T0 + 5_000)).toBe(true);
      expect(await d.nextDueAt('a', T0)).toBe(T0 + 5_000);
      expect(await claimAll(d, 'a', T0 + 2_000)).toEqual([]);
      expect(await settle(d, claimed, { kind: 'ack' }, T0 + 4_000)).toBe(true);
    });

    s.test('after the extended end the delivery is reclaimed with a lease_expired attempt', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0, { leaseMs: 1_000 });
      await d.extend('a', claimed.deliveryId, claimed.leaseToken, T0 + 5_000);
      const again = await claimOne(d, 'a', T0 + 5_000);
      expect(again.attempt).toBe(2);
      expect((await traceOf(d, seq, claimed.deliveryId)).attempts).toEqual([
        {
          attempt: 1,
          startedAt: T0,
          durationMs: 5_000,
          outcome: 'lease_expired',
          error: LEASE_EXPIRED_ERROR,
          httpStatus: null,
          responseBody: null,
        },
      ]);
    });

    s.test('a lease presented for another subscription is stale for complete and extend', async (d) => {
      await setup(d, ['a', 'b']);
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const claimed = await claimOne(d, 'a', T0, { leaseMs: 1_000 });
      expect(await d.extend('b', claimed.deliveryId, claimed.leaseToken, T0 + 9_000)).toBe(false);
      const wrong = { ...itemFor(claimed, { kind: 'ack' }, T0 + 1), subscription: 'b' };
      expect(await d.complete([wrong], T0 + 1)).toEqual([false]);
      expect(await d.nextDueAt('a', T0)).toBe(T0 + 1_000);
      expect(await settle(d, claimed, { kind: 'ack' }, T0 + 2)).toBe(true);
    });

    s.test('extend with a stale token returns false and changes nothing', async (d) => {
      await setup(d, ['a']);
      await publish(
        d,
        ['e-1', 'e-2'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
        T0,
      );
      const [held, done] = [
        await claimOne(d, 'a', T0, { leaseMs: 1_000 }),
        await claimOne(d, 'a', T0, { leaseMs: 1_000 }),
      ];
      await settle(d, done, { kind: 'ack' }, T0 + 1);
      expect(await d.extend('a', held.deliveryId, 'not-the-token', T0 + 9_000)).toBe(false);
      expect(await d.extend('a', done.deliveryId, done.leaseToken, T0 + 9_000)).toBe(false);
      expect(await d.extend('a', 987_654, held.leaseToken, T0 + 9_000)).toBe(false);
      expect(await d.nextDueAt('a', T0)).toBe(T0 + 1_000);
    });
  });
}
