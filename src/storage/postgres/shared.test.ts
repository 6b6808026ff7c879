/**
 * Several Busbar instances on one PostgreSQL schema (the nodes of a deployment, here in one process):
 * catalog changes made on one are followed by the others, a publish on one wakes consumers on another
 * at once (LISTEN/NOTIFY, with polling set to a minute so it cannot be what delivers), consumers of one
 * subscription on several nodes never process a delivery twice and keep FIFO order per partition key,
 * and a replay runs once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Busbar } from '../../busbar.js';
import { dropSchema, freshSchema, postgresUnavailable, testUrl } from './testing.js';

const unavailable = await postgresUnavailable();

/** Polls `check` every 10 ms for up to `ms` real milliseconds. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`condition not reached within ${ms} ms`);
}

const event = (i: number, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  source: '/shop',
  type: 'order.placed',
  data: { i },
  ...extra,
});

describe.skipIf(unavailable !== null)('several instances on one PostgreSQL schema', () => {
  let schema: string;
  let nodes: Busbar[];

  const open = () =>
    Busbar.open({ storage: testUrl(schema), pollIntervalMs: 60_000, maintenanceIntervalMs: 3_600_000 });

  beforeEach(async () => {
    schema = freshSchema();
    nodes = [await open(), await open()];
  });

  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await dropSchema(schema);
  });

  it('follows buses and subscriptions created, changed and deleted on another node', async () => {
    const [a, b] = nodes as [Busbar, Busbar];
    await a.putBus('orders');
    await a.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.placed'] } });
    await eventually(() => b.listSubscriptions().some((s) => s.name === 'notify'));
    expect(b.getBus('orders').name).toBe('orders');

    // B routes by A's subscription: its publish owes `notify` a delivery.
    await b.publish('orders', event(1));
    expect((await a.stats('notify')).backlog).toBe(1);

    await a.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.shipped'] } });
    await eventually(() => b.getSubscription('notify').pattern === '{"type":["order.shipped"]}');
    await b.publish('orders', event(2));
    expect((await a.stats('notify')).backlog).toBe(1);

    await a.pause('notify');
    await eventually(() => b.getSubscription('notify').paused);

    await a.deleteSubscription('notify');
    await eventually(() => b.listSubscriptions().length === 0);
    await a.deleteBus('orders');
    await eventually(() => b.listBuses().length === 0);
  });

  it('wakes a consumer on another node as soon as an event is published (not by polling)', async () => {
    const [a, b] = nodes as [Busbar, Busbar];
    await a.putBus('orders');
    await a.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.placed'] } });
    await eventually(() => b.listSubscriptions().length === 1);
    const seen: number[] = [];
    b.consume('notify', (e) => void seen.push((e.data as { i: number }).i));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the consumer's first claim finds nothing
    const started = Date.now();
    await a.publish('orders', event(7));
    await eventually(() => seen.length === 1, 2_000);
    // Polling is set to a minute: only the notification can have woken B this fast.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(seen).toEqual([7]);
  });

  it('tells onPublish listeners (busbar tail) of every node about events published on the others', async () => {
    const [a, b] = nodes as [Busbar, Busbar];
    await a.putBus('orders');
    await eventually(() => b.listBuses().length === 1);
    const seen: Array<{ n: number; remote: boolean }> = [];
    b.onPublish((e) => seen.push({ n: (JSON.parse(e.body) as { data: { i: number } }).data.i, remote: e.remote }));
    await a.publish('orders', [event(1), event(2)]);
    await b.publish('orders', event(3));
    await a.publish(
      'orders',
      Array.from({ length: 1_500 }, (_, i) => event(100 + i)),
    );
    await eventually(() => seen.length === 1_503);
    expect(seen.slice(0, 3)).toEqual(
      expect.arrayContaining([
        { n: 1, remote: true },
        { n: 2, remote: true },
        { n: 3, remote: false },
      ]),
    );
    expect(seen.filter((e) => e.remote).map((e) => e.n)).toEqual([
      1,
      2,
      ...Array.from({ length: 1_500 }, (_, i) => 100 + i),
    ]);
  });

  it('never hands one delivery to consumers on two nodes at once; each event is handled once', async () => {
    const [a, b] = nodes as [Busbar, Busbar];
    await a.putBus('orders');
    await a.putSubscription('work', {
      bus: 'orders',
      pattern: { type: ['order.placed'] },
      delivery: { concurrency: 8 },
    });
    await eventually(() => b.listSubscriptions().length === 1);
    const handled = new Map<number, number>();
    const byNode = [0, 0];
    nodes.forEach((node, n) =>
      node.consume('work', async (e) => {
        const i = (e.data as { i: number }).i;
        handled.set(i, (handled.get(i) ?? 0) + 1);
        byNode[n]!++;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }),
    );
    for (let batch = 0; batch < 10; batch++) {
      await (batch % 2 === 0 ? a : b).publish(
        'orders',
        Array.from({ length: 40 }, (_, k) => event(batch * 40 + k)),
      );
    }
    await eventually(() => handled.size === 400, 20_000);
    await eventually(async () => (await a.stats('work')).inFlight === 0);
    expect([...handled.values()].every((count) => count === 1)).toBe(true);
    expect(byNode[0]! + byNode[1]!).toBe(400);
    expect(byNode[0]).toBeGreaterThan(0);
    expect(byNode[1]).toBeGreaterThan(0);
    expect(await a.stats('work')).toMatchObject({ backlog: 0, inFlight: 0, dead: 0 });
  });

  it('keeps FIFO order per partition key with consumers on two nodes', async () => {
    const [a, b] = nodes as [Busbar, Busbar];
    await a.putBus('orders');
    await a.putSubscription('fifo', {
      bus: 'orders',
      pattern: { type: ['order.placed'] },
      delivery: { ordered: true, concurrency: 4 },
    });
    await eventually(() => b.listSubscriptions().length === 1);
    const order = new Map<string, number[]>();
    let active = 0;
    let overlap = false;
    const inKey = new Set<string>();
    nodes.forEach((node) =>
      node.consume('fifo', async (e) => {
        const key = String(e['partitionkey']);
        if (inKey.has(key)) overlap = true;
        inKey.add(key);
        active++;
        await new Promise((resolve) => setTimeout(resolve, 1));
        order.set(key, [...(order.get(key) ?? []), (e.data as { i: number }).i]);
        inKey.delete(key);
        active--;
      }),
    );
    for (let i = 0; i < 60; i++) {
      await (i % 2 === 0 ? a : b).publish('orders', event(i, { partitionkey: `k${i % 3}` }));
    }
    await eventually(() => [...order.values()].reduce((n, list) => n + list.length, 0) === 60, 20_000);
    expect(overlap).toBe(false);
    expect(active).toBe(0);
    for (let k = 0; k < 3; k++) {
      const expected = Array.from({ length: 20 }, (_, j) => j * 3 + k);
      expect(order.get(`k${k}`)).toEqual(expected);
    }
  });

  it('runs a replay once, and a node that did not start it sees its progress', async () => {
    const [a, b] = nodes as [Busbar, Busbar];
    await a.putBus('orders');
    await a.putSubscription('audit', { bus: 'orders', pattern: { source: ['/shop'] } });
    await a.publish(
      'orders',
      Array.from({ length: 50 }, (_, i) => event(i)),
    );
    await eventually(() => b.listSubscriptions().length === 1);
    const replay = await a.replays.start({ bus: 'orders', from: 0, to: Date.now() + 1_000, subscriptions: ['audit'] });
    await eventually(async () => (await b.replays.get(replay.id)).state === 'completed');
    const done = await b.replays.get(replay.id);
    expect(done.enqueued).toBe(50);
    // 50 original deliveries and exactly 50 replayed ones.
    expect((await a.stats('audit')).backlog).toBe(100);
  });
});
