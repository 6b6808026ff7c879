/**
 * Conformance: buses, subscriptions and the driver's lifecycle (migrate, close).
 */
import { expect } from 'vitest';
import { BUS, T0, claimAll, makeBus, makeEvent, makeReplay, makeSubscription, publish, setup } from './fixtures.js';
import type { ConformanceSuite } from './suite.js';

/** Tries a change on a returned record; a frozen record refusing it (by throwing) is fine too. */
function tryToMutate(change: () => void): void {
  try {
    change();
  } catch {
    // Frozen: the driver refused the change, which is one of the two acceptable answers.
  }
}

/** Registers the bus, subscription and lifecycle tests. */
export function busTests(s: ConformanceSuite): void {
  s.area('buses', () => {
    s.test('putBus then getBus returns the record', async (d) => {
      const bus = makeBus(BUS, { retention: { maxAgeMs: 86_400_000, maxBytes: 1_000_000 }, updatedAt: T0 + 5 });
      await d.putBus(bus);
      expect(await d.getBus(BUS)).toEqual(bus);
    });

    s.test('getBus returns null for an unknown bus', async (d) => {
      expect(await d.getBus('nope')).toBeNull();
    });

    s.test('putBus overwrites the bus of the same name', async (d) => {
      await d.putBus(makeBus(BUS));
      const updated = makeBus(BUS, { retention: { maxAgeMs: 1_000, maxBytes: null }, updatedAt: T0 + 10 });
      await d.putBus(updated);
      expect(await d.getBus(BUS)).toEqual(updated);
      expect(await d.listBuses()).toEqual([updated]);
    });

    s.test('listBuses orders by name', async (d) => {
      for (const name of ['payments', 'audit', 'orders']) await d.putBus(makeBus(name));
      expect((await d.listBuses()).map((b) => b.name)).toEqual(['audit', 'orders', 'payments']);
    });

    s.test('deleteBus returns false when the bus does not exist', async (d) => {
      expect(await d.deleteBus('nope')).toBe(false);
      await d.putBus(makeBus(BUS));
      expect(await d.deleteBus(BUS)).toBe(true);
      expect(await d.deleteBus(BUS)).toBe(false);
    });

    s.test('deleteBus removes its subscriptions, archive, deliveries and dedupe entries', async (d) => {
      await setup(d, ['a', 'b']);
      await setup(d, ['x'], 'audit');
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a', 'b'] })], T0);
      const [otherSeq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['x'] })], T0, { bus: 'audit' });

      expect(await d.deleteBus(BUS)).toBe(true);
      expect(await d.getBus(BUS)).toBeNull();
      expect(await d.getSubscription('a')).toBeNull();
      expect(await d.listSubscriptions(BUS)).toEqual([]);
      expect(await d.queryArchive(BUS, { limit: 10 })).toEqual([]);
      expect(await d.eventsById(BUS, 'e-1')).toEqual([]);
      expect(await d.deliveriesOf(seq)).toEqual([]);
      expect(await claimAll(d, 'a', T0 + 1)).toEqual([]);
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 0, inFlight: 0, dead: 0, oldestPendingAt: null });

      // The other bus keeps everything.
      expect((await d.listSubscriptions()).map((sub) => sub.name)).toEqual(['x']);
      expect((await d.queryArchive('audit', { limit: 10 })).map((e) => e.seq)).toEqual([otherSeq]);
      expect((await d.subscriptionStats('x')).backlog).toBe(1);

      // Dedupe entries went with the bus: the same source and id is new again.
      await d.putBus(makeBus(BUS));
      const [outcomes] = await d.append([{ bus: BUS, events: [makeEvent('e-1')], dedupeWindowMs: 3_600_000 }], T0 + 1);
      expect(outcomes?.[0]?.status).toBe('accepted');
    });

    s.test("deleteBus removes the bus's replays", async (d) => {
      await setup(d, ['a']);
      await setup(d, ['x'], 'audit');
      await d.putReplay(makeReplay('r-1'));
      await d.putReplay(makeReplay('r-2', { bus: 'audit', subscriptions: ['x'] }));
      await d.deleteBus(BUS);
      expect(await d.getReplay('r-1')).toBeNull();
      expect((await d.listReplays()).map((r) => r.id)).toEqual(['r-2']);
    });

    s.test('stored buses are isolated from objects passed in and returned', async (d) => {
      const retention: { maxAgeMs: number | null; maxBytes: number | null } = { maxAgeMs: 1_000, maxBytes: null };
      await d.putBus({ ...makeBus(BUS), retention });
      retention.maxAgeMs = 5;
      const got = await d.getBus(BUS);
      tryToMutate(() => {
        (got?.retention as { maxAgeMs: number | null }).maxAgeMs = 7;
      });
      const listed = await d.listBuses();
      tryToMutate(() => listed.pop());
      expect((await d.getBus(BUS))?.retention.maxAgeMs).toBe(1_000);
      expect(await d.listBuses()).toHaveLength(1);
    });
  });

  s.area('subscriptions', () => {
    s.test('putSubscription then getSubscription returns the record', async (d) => {
      await d.putBus(makeBus(BUS));
      const sub = makeSubscription('a', {
        paused: true,
        delivery: { ...makeSubscription('a').delivery, ordered: true, maxAgeMs: 60_000 },
      });
      await d.putSubscription(sub);
      expect(await d.getSubscription('a')).toEqual(sub);
    });

    s.test('getSubscription returns null for an unknown subscription', async (d) => {
      expect(await d.getSubscription('nope')).toBeNull();
    });

    s.test("putSubscription overwrites the record and keeps the subscription's deliveries", async (d) => {
      await setup(d, ['a']);
      await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const paused = makeSubscription('a', { paused: true, pattern: '{"type":["order.placed"]}', updatedAt: T0 + 1 });
      await d.putSubscription(paused);
      expect(await d.getSubscription('a')).toEqual(paused);
      expect(await d.listSubscriptions()).toHaveLength(1);
      expect((await d.subscriptionStats('a')).backlog).toBe(1);
    });

    s.test('listSubscriptions orders by name, across buses or for one bus', async (d) => {
      await setup(d, ['m', 'c']);
      await setup(d, ['k', 'a'], 'audit');
      expect((await d.listSubscriptions()).map((sub) => sub.name)).toEqual(['a', 'c', 'k', 'm']);
      expect((await d.listSubscriptions('audit')).map((sub) => sub.name)).toEqual(['a', 'k']);
      expect(await d.listSubscriptions('nope')).toEqual([]);
    });

    s.test('deleteSubscription returns false when the subscription does not exist', async (d) => {
      await setup(d, ['a']);
      expect(await d.deleteSubscription('nope')).toBe(false);
      expect(await d.deleteSubscription('a')).toBe(true);
      expect(await d.deleteSubscription('a')).toBe(false);
    });

    s.test('deleteSubscription removes its deliveries and keeps the events', async (d) => {
      await setup(d, ['a', 'b']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a', 'b'] })], T0);
      expect(await d.deleteSubscription('a')).toBe(true);
      expect(await d.getSubscription('a')).toBeNull();
      expect((await d.deliveriesOf(seq)).map((t) => t.subscription)).toEqual(['b']);
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 0, inFlight: 0, dead: 0, oldestPendingAt: null });
      expect((await d.queryArchive(BUS, { limit: 10 })).map((e) => e.seq)).toEqual([seq]);
    });

    s.test('putSubscription rejects a subscription of an unknown bus', async (d) => {
      await expect(d.putSubscription(makeSubscription('a', { bus: 'nope' }))).rejects.toBeInstanceOf(Error);
      expect(await d.getSubscription('a')).toBeNull();
    });

    s.test('stored subscriptions are isolated from objects passed in and returned', async (d) => {
      await d.putBus(makeBus(BUS));
      const headers: Record<string, string> = { 'x-team': 'core' };
      await d.putSubscription(makeSubscription('a', { target: { kind: 'webhook', headers } }));
      headers['x-team'] = 'changed';
      const got = await d.getSubscription('a');
      tryToMutate(() => {
        (got?.target['headers'] as Record<string, string>)['x-team'] = 'changed too';
      });
      expect((await d.getSubscription('a'))?.target).toEqual({ kind: 'webhook', headers: { 'x-team': 'core' } });
    });
  });

  s.area('lifecycle', () => {
    s.test('reports a name and capability flags', (d) => {
      expect(d.name).toMatch(/^\S+$/);
      expect(typeof d.capabilities.multiProcess).toBe('boolean');
      expect(typeof d.capabilities.persistent).toBe('boolean');
    });

    s.test('migrate again keeps the data', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      await d.migrate();
      expect((await d.getBus(BUS))?.name).toBe(BUS);
      expect((await d.queryArchive(BUS, { limit: 10 })).map((e) => e.seq)).toEqual([seq]);
      expect((await d.subscriptionStats('a')).backlog).toBe(1);
    });

    s.test('close makes later calls reject', async (d) => {
      await setup(d, ['a']);
      await d.close();
      await expect(d.getBus(BUS)).rejects.toBeInstanceOf(Error);
      await expect(d.listSubscriptions()).rejects.toBeInstanceOf(Error);
      await expect(d.append([{ bus: BUS, events: [makeEvent('e-1')], dedupeWindowMs: 0 }], T0)).rejects.toBeInstanceOf(
        Error,
      );
      await expect(claimAll(d, 'a', T0)).rejects.toBeInstanceOf(Error);
      await expect(d.migrate()).rejects.toBeInstanceOf(Error);
    });

    s.test('close can be called twice', async (d) => {
      await d.close();
      await expect(d.close()).resolves.toBeUndefined();
    });
  });
}
