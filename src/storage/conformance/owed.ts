/**
 * Conformance: which events a subscription is owed as it is created, changed and moved, and the
 * identity of each delivery from the publish on (drivers may make delivery rows lazily: see
 * "Cursor subscriptions" in ../sqlite/schema.ts).
 */
import { expect } from 'vitest';
import {
  BUS,
  DEFAULT_DELIVERY_POLICY,
  T0,
  claimAll,
  claimOne,
  makeBus,
  makeEvent,
  makeSubscription,
  publish,
  settle,
  setup,
} from './fixtures.js';
import type { StorageDriver } from '../driver.js';
import type { ConformanceSuite } from './suite.js';

const ORDERED = { ...DEFAULT_DELIVERY_POLICY, ordered: true };

/** Registers the tests of what subscriptions are owed. */
export function owedTests(s: ConformanceSuite): void {
  s.area('owed deliveries', () => {
    s.test(
      'a delivery has its id from the publish on, distinct across subscriptions, as claims return it',
      async (d) => {
        await setup(d, ['a', 'b']);
        await d.putSubscription(makeSubscription('fifo', { delivery: ORDERED }));
        const [seq] = await publish(d, [makeEvent('e-1', { subscriptions: ['a', 'b', 'fifo'] })], T0);
        const before = await d.deliveriesOf(seq!);
        expect(before.map((t) => [t.subscription, t.state, t.enqueuedAt, t.attempts])).toEqual([
          ['a', 'pending', T0, []],
          ['b', 'pending', T0, []],
          ['fifo', 'pending', T0, []],
        ]);
        expect(new Set(before.map((t) => t.deliveryId)).size).toBe(3);
        const claimed = await claimOne(d, 'b', T0 + 1);
        expect(claimed.deliveryId).toBe(before[1]!.deliveryId);
        expect(claimed.enqueuedAt).toBe(T0);
        const after = await d.deliveriesOf(seq!);
        expect(after.map((t) => [t.deliveryId, t.state])).toEqual([
          [before[0]!.deliveryId, 'pending'],
          [before[1]!.deliveryId, 'leased'],
          [before[2]!.deliveryId, 'pending'],
        ]);
        // Ids given out at a publish are never given out again.
        const [next] = await publish(d, [makeEvent('e-2', { subscriptions: ['a'] })], T0 + 2);
        const [later] = await d.deliveriesOf(next!);
        expect(later!.deliveryId).toBeGreaterThan(Math.max(...before.map((t) => t.deliveryId)));
      },
    );

    s.test('a new subscription is owed nothing published before it', async (d) => {
      await setup(d, ['a']);
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      await d.putSubscription(makeSubscription('late'));
      await publish(d, [makeEvent('e-2', { subscriptions: ['a', 'late'] })], T0 + 1);
      expect((await claimAll(d, 'late', T0 + 2)).map((c) => c.event.id)).toEqual(['e-2']);
    });

    s.test('a subscription matching rarely finds its events among many it did not match', async (d) => {
      await setup(d, ['a', 'rare']);
      for (let i = 0; i < 10; i++) {
        const events = Array.from({ length: 1000 }, (_, j) =>
          makeEvent(`e-${i}-${j}`, { subscriptions: j === 999 && i % 3 === 0 ? ['a', 'rare'] : ['a'] }),
        );
        await publish(d, events, T0 + i);
      }
      expect(await d.subscriptionStats('rare')).toEqual({ backlog: 4, inFlight: 0, dead: 0, oldestPendingAt: T0 });
      expect(await d.nextDueAt('rare', T0 + 2)).toBe(T0 + 3);
      const claimed = await claimAll(d, 'rare', T0 + 10, { max: 3 });
      expect(claimed.map((c) => c.event.id)).toEqual(['e-0-999', 'e-3-999', 'e-6-999']);
      expect(await d.subscriptionStats('rare')).toEqual({ backlog: 1, inFlight: 3, dead: 0, oldestPendingAt: T0 + 9 });
      expect((await claimAll(d, 'rare', T0 + 10)).map((c) => c.event.id)).toEqual(['e-9-999']);
      expect(await claimAll(d, 'rare', T0 + 10)).toEqual([]);
    });

    s.test('a subscription that becomes ordered delivers its backlog one per key, in publish order', async (d) => {
      await setup(d, ['a']);
      const keyed = (id: string, key = 'k') => makeEvent(id, { partitionKey: key, subscriptions: ['a'] });
      await publish(d, [keyed('e-1'), keyed('e-2'), keyed('x-1', 'x'), keyed('e-3')], T0);
      await d.putSubscription(makeSubscription('a', { delivery: ORDERED, updatedAt: T0 + 1 }));
      const ids = async () => (await claimAll(d, 'a', T0 + 2, { ordered: true })).map((c) => c.event.id);
      const [e1, x1, ...none] = await claimAll(d, 'a', T0 + 2, { ordered: true });
      expect([e1?.event.id, x1?.event.id, none]).toEqual(['e-1', 'x-1', []]);
      await settle(d, e1!, { kind: 'ack' }, T0 + 2);
      const [e2] = await claimAll(d, 'a', T0 + 2, { ordered: true });
      expect(e2?.event.id).toBe('e-2');
      expect(await ids()).toEqual([]);
      await settle(d, e2!, { kind: 'ack' }, T0 + 2);
      expect(await ids()).toEqual(['e-3']);
      // Unordered again: what follows is claimable at once.
      await d.putSubscription(makeSubscription('a', { updatedAt: T0 + 3 }));
      await publish(d, [keyed('e-4'), keyed('e-5')], T0 + 4);
      expect((await claimAll(d, 'a', T0 + 5)).map((c) => c.event.id)).toEqual(['e-4', 'e-5']);
    });

    /** Subscription `a` owes e-1 on the first bus, then moves to `other` and owes o-1 there. */
    async function moved(d: StorageDriver): Promise<void> {
      await setup(d, ['a']);
      await d.putBus(makeBus('other'));
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      await d.putSubscription(makeSubscription('a', { bus: 'other', updatedAt: T0 + 1 }));
      await publish(d, [makeEvent('o-1', { subscriptions: ['a'] })], T0 + 2, { bus: 'other' });
    }

    s.test('a subscription moved to another bus keeps what it was owed on the first', async (d) => {
      await moved(d);
      expect((await d.subscriptionStats('a')).backlog).toBe(2);
      expect((await claimAll(d, 'a', T0 + 3)).map((c) => c.event.id)).toEqual(['e-1', 'o-1']);
    });

    s.test("deleting a moved subscription's first bus drops what it was owed there", async (d) => {
      await moved(d);
      expect(await d.deleteBus(BUS)).toBe(true);
      expect(await d.subscriptionStats('a')).toMatchObject({ backlog: 1, oldestPendingAt: T0 + 2 });
      expect((await claimAll(d, 'a', T0 + 3)).map((c) => c.event.id)).toEqual(['o-1']);
    });
  });
}
