/**
 * Conformance: what the dispatcher and dashboards read about a subscription's queue — `nextDueAt`
 * and `subscriptionStats`.
 */
import { expect } from 'vitest';
import { T0, claimOne, makeEvent, publish, settle, setup } from './fixtures.js';
import type { ConformanceSuite } from './suite.js';

const ZERO = { backlog: 0, inFlight: 0, dead: 0, oldestPendingAt: null } as const;

/** Registers the nextDueAt and subscriptionStats tests. */
export function scheduleTests(s: ConformanceSuite): void {
  s.area('nextDueAt', () => {
    s.test('nextDueAt is null when nothing is pending or leased', async (d) => {
      await setup(d, ['a']);
      expect(await d.nextDueAt('a', T0)).toBeNull();
      expect(await d.nextDueAt('nope', T0)).toBeNull();
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      await settle(d, await claimOne(d, 'a', T0), { kind: 'ack' }, T0 + 1);
      expect(await d.nextDueAt('a', T0)).toBeNull();
    });

    s.test('nextDueAt is the earliest pending availableAt or lease end later than after', async (d) => {
      await setup(d, ['a', 'b']);
      await publish(
        d,
        ['e-1', 'e-2'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
        T0,
      );
      const [leased, retried] = [await claimOne(d, 'a', T0, { leaseMs: 1_000 }), await claimOne(d, 'a', T0)];
      await settle(d, retried, { kind: 'retry', availableAt: T0 + 3_000 }, T0 + 1);
      expect(await d.nextDueAt('a', T0)).toBe(T0 + 1_000);
      expect(await d.nextDueAt('a', T0 + 999)).toBe(T0 + 1_000);
      // Due at or before `after`: left out.
      expect(await d.nextDueAt('a', T0 + 1_000)).toBe(T0 + 3_000);
      expect(await d.nextDueAt('a', T0 + 3_000)).toBeNull();
      await settle(d, leased, { kind: 'ack' }, T0 + 2);
      expect(await d.nextDueAt('a', T0)).toBe(T0 + 3_000);
      await publish(d, [makeEvent('e-3', { subscriptions: ['a'] })], T0 + 50);
      expect(await d.nextDueAt('a', T0)).toBe(T0 + 50);
      expect(await d.nextDueAt('a', T0 + 50)).toBe(T0 + 3_000);
      expect(await d.nextDueAt('b', T0)).toBeNull();
    });

    s.test('a delivery blocked behind its partition key leaves the earlier lease end next', async (d) => {
      await setup(d, ['a']);
      const keyed = ['e-1', 'e-2'].map((id) => makeEvent(id, { partitionKey: 'k1', subscriptions: ['a'] }));
      await publish(d, keyed, T0);
      await claimOne(d, 'a', T0, { ordered: true, leaseMs: 30_000 });
      // e-2 has been due since T0 but waits for e-1: the next wake-up is e-1's lease end.
      expect(await d.nextDueAt('a', T0 + 1)).toBe(T0 + 30_000);
    });
  });

  s.area('subscriptionStats', () => {
    s.test('counts backlog, in flight, dead and the oldest pending enqueue time', async (d) => {
      await setup(d, ['a', 'b']);
      for (const [i, id] of ['e-1', 'e-2', 'e-3', 'e-4'].entries()) {
        await publish(d, [makeEvent(id, { subscriptions: ['a'] })], T0 + 10 * i);
      }
      // Claimed oldest first: e-1 stays leased, e-2 dies, e-3 waits for a retry, e-4 is untouched.
      await claimOne(d, 'a', T0 + 30);
      await settle(d, await claimOne(d, 'a', T0 + 30), { kind: 'dead', reason: 'max_age' }, T0 + 31);
      await settle(d, await claimOne(d, 'a', T0 + 30), { kind: 'retry', availableAt: T0 + 999 }, T0 + 31);
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 2, inFlight: 1, dead: 1, oldestPendingAt: T0 + 20 });
      expect(await d.subscriptionStats('b')).toEqual(ZERO);
    });

    s.test('an unknown subscription has zero stats', async (d) => {
      expect(await d.subscriptionStats('nope')).toEqual(ZERO);
    });
  });
}
