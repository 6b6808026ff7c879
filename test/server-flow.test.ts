/**
 * The dashboard's data: `GET /v1/flow`, `GET /v1/flow/stream` (over a real socket), `GET
 * /v1/subscriptions/{name}/history` and `GET /v1/auth`. End-to-end latencies are exact: pull consumers
 * ack after the ManualClock moved by known amounts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FlowSnapshot, FlowSubscription, SubscriptionHistory } from '../src/server/flow.js';
import { MAX_SOURCES } from '../src/server/flow.js';
import { T0, event, harness, type Harness } from './support/server.js';
import { openSse } from './support/sse.js';

const ADMIN = { authorization: 'Bearer flow-admin-key-00001' };
const PUBLISHER = { authorization: 'Bearer flow-publish-key-0001' };

let h: Harness;
beforeEach(async () => {
  h = await harness('memory');
  await h.bus.putBus('orders');
  await h.bus.putSubscription('inventory', {
    bus: 'orders',
    pattern: { type: ['order.placed'] },
    target: { type: 'pull' },
    delivery: { maxAttempts: 2, backoff: { initialMs: 100, maxMs: 100, multiplier: 1 } },
  });
  // Past the server's start, so that every rate window is whole: on a second's boundary the window's
  // ten slots cover 9 s (the current one has just begun), and rates divide by that.
  await h.clock.advance(20_000);
});
afterEach(() => h.close());

const perSec = (n: number, seconds = 9): number => Math.round((n / seconds) * 1000) / 1000;

async function snapshot(headers: Record<string, string> = {}): Promise<FlowSnapshot> {
  const res = await h.send('GET', '/v1/flow', undefined, headers);
  expect(res.statusCode).toBe(200);
  return res.json<FlowSnapshot>();
}

async function subscription(name: string): Promise<FlowSubscription> {
  const found = (await snapshot()).subscriptions.find((s) => s.name === name);
  expect(found).toBeDefined();
  return found!;
}

async function history(name: string): Promise<SubscriptionHistory> {
  const res = await h.send('GET', `/v1/subscriptions/${name}/history`);
  expect(res.statusCode).toBe(200);
  return res.json<SubscriptionHistory>();
}

async function pullSubscription(name: string, type: string): Promise<void> {
  await h.bus.putSubscription(name, { bus: 'orders', pattern: { type: [type] }, target: { type: 'pull' } });
}

describe('GET /v1/flow', () => {
  it('gives each bus its published and rejected rates over the last 10 s', async () => {
    for (let i = 0; i < 12; i++) {
      await h.bus.publish('orders', [event('order.placed'), event('order.placed'), event('order.placed')]);
      await h.clock.advance(1_000);
    }
    await expect(h.bus.publish('orders', [event('order.placed'), { specversion: '1.0' }])).rejects.toThrow();
    let flow = await snapshot();
    expect(flow.at).toBe(T0 + 32_000);
    expect(flow.buses).toEqual([
      { name: 'orders', publishedPerSec: 3, rejectedPerSec: perSec(2), sources: [{ source: '/shop', perSec: 3 }] },
    ]);
    expect(await subscription('inventory')).toMatchObject({ backlog: 36, deliveredPerSec: 0, latencyMs: null });

    await h.clock.advance(10_000);
    flow = await snapshot();
    expect(flow.buses[0]).toEqual({ name: 'orders', publishedPerSec: 0, rejectedPerSec: 0, sources: [] });
  });

  it('lists the 20 busiest sources of a bus and sums the rest as "(other)"', async () => {
    for (let i = 0; i < 25; i++) {
      await h.bus.publish(
        'orders',
        Array.from({ length: i + 1 }, () => event('order.placed', {}, { source: `/s${i}` })),
      );
    }
    const [orders] = (await snapshot()).buses;
    const top = Array.from({ length: 20 }, (_, k) => ({ source: `/s${24 - k}`, perSec: perSec(25 - k) }));
    expect(orders!.sources).toEqual([...top, { source: '(other)', perSec: perSec(1 + 2 + 3 + 4 + 5) }]);
    expect(orders!.publishedPerSec).toBe(perSec(325));
  });

  it('keeps memory bounded with many distinct sources: the least recently seen are forgotten', async () => {
    const many = 1_000;
    for (let i = 0; i < many; i += 100) {
      await h.bus.publish(
        'orders',
        Array.from({ length: 100 }, (_, k) => event('other', {}, { source: `/s${i + k}` })),
      );
    }
    // `/s0` was forgotten long ago: its first event now counts as "(other)", only the two new ones as its own.
    await h.bus.publish('orders', [event('other', {}, { source: '/s0' }), event('other', {}, { source: '/s0' })]);
    const [orders] = (await snapshot()).buses;
    expect(orders!.sources).toHaveLength(21);
    expect(orders!.sources[0]).toEqual({ source: '/s0', perSec: perSec(2) });
    // Ties in name order, among the sources still tracked (`/s0` pushed out the oldest of the last MAX_SOURCES).
    expect(orders!.sources[1]!.source).toBe(`/s${many - MAX_SOURCES + 1}`);
    expect(orders!.sources[20]).toEqual({ source: '(other)', perSec: perSec(many + 2 - 2 - 19) });
    expect(orders!.publishedPerSec).toBe(perSec(many + 2));
  });

  it('gives p50 and p99 end-to-end latency over the last 60 s', async () => {
    await h.bus.publish(
      'orders',
      Array.from({ length: 10 }, (_, i) => event('order.placed', { i })),
    );
    const messages = await h.bus.pull.receive('inventory', { max: 10 });
    expect(messages).toHaveLength(10);
    for (const message of messages) {
      await h.clock.advance(10);
      await h.bus.pull.ack('inventory', [message.receipt]);
    }
    let inventory = await subscription('inventory');
    expect(inventory.latencyMs).toEqual({ p50: 50, p99: 100 });
    expect(inventory.deliveredPerSec).toBe(perSec(10, 9.1));
    expect(inventory).toMatchObject({ failedPerSec: 0, errorRate: 0, backlog: 0, inFlight: 0, status: 'ok' });

    await h.clock.advance(59_000);
    expect((await subscription('inventory')).latencyMs).toEqual({ p50: 50, p99: 100 });
    await h.clock.advance(1_000);
    inventory = await subscription('inventory');
    expect(inventory.latencyMs).toBeNull();
    expect(inventory.deliveredPerSec).toBe(0);
  });

  it('weighs sampled latencies by how many deliveries each second had', async () => {
    // 1,000 deliveries of 10 ms in one second (a few dozen kept as samples), then 10 of 1 s in the next:
    // 99 % of the deliveries took 10 ms, which unweighted samples would not show.
    await h.bus.publish(
      'orders',
      Array.from({ length: 1_000 }, () => event('order.placed')),
    );
    const fast = await h.bus.pull.receive('inventory', { max: 1_000 });
    await h.clock.advance(10);
    await h.bus.pull.ack(
      'inventory',
      fast.map((m) => m.receipt),
    );
    await h.bus.publish(
      'orders',
      Array.from({ length: 10 }, () => event('order.placed')),
    );
    const slow = await h.bus.pull.receive('inventory', { max: 10 });
    await h.clock.advance(1_000);
    await h.bus.pull.ack(
      'inventory',
      slow.map((m) => m.receipt),
    );
    expect((await subscription('inventory')).latencyMs).toEqual({ p50: 10, p99: 10 });
  });

  it('marks a subscription failing, paused, backlogged or ok', async () => {
    for (const [name, type] of [
      ['flaky', 'f'],
      ['twice', 't'],
      ['poison', 'p'],
      ['slow', 's'],
      ['stopped', 'x'],
    ] as const) {
      await pullSubscription(name, type);
    }
    await h.bus.pause('stopped');
    await h.bus.publish('orders', [
      ...Array.from({ length: 3 }, () => event('f')),
      ...Array.from({ length: 2 }, () => event('t')),
      event('p'),
      event('s'),
    ]);
    const nackAll = async (name: string, options = {}) => {
      const messages = await h.bus.pull.receive(name, { max: 10 });
      await h.bus.pull.nack(
        name,
        messages.map((m) => m.receipt),
        options,
      );
    };
    await nackAll('flaky', { error: 'stock service down' });
    await nackAll('twice', { error: 'stock service down' });
    await nackAll('poison', { deadLetter: true, error: 'bad order' });

    const status = async () => Object.fromEntries((await snapshot()).subscriptions.map((s) => [s.name, s.status]));
    const flaky = await subscription('flaky');
    expect(flaky).toMatchObject({ deliveredPerSec: 0, failedPerSec: perSec(3), errorRate: 1, backlog: 3 });
    expect(await subscription('twice')).toMatchObject({ errorRate: 1, failedPerSec: perSec(2) });
    expect(await subscription('poison')).toMatchObject({ dead: 1, backlog: 0 });
    expect(await status()).toEqual({
      flaky: 'failing', // every attempt failed, and at least 3 did
      twice: 'ok', // two failures are not enough
      poison: 'failing', // a dead letter in the window
      slow: 'ok',
      stopped: 'paused',
      inventory: 'ok',
    });

    await h.clock.advance(60_001);
    expect(await status()).toEqual({
      flaky: 'backlogged', // its retries wait since the first publish
      twice: 'backlogged',
      poison: 'ok',
      slow: 'backlogged',
      stopped: 'paused',
      inventory: 'ok',
    });
    expect((await subscription('slow')).oldestPendingAgeMs).toBe(60_001);
  });

  it('shows targets without secrets, credentials or query strings', async () => {
    const secret = `whsec_${Buffer.from('0123456789abcdef0123').toString('base64')}`;
    await h.bus.putSubscription('payment', {
      bus: 'orders',
      pattern: { type: ['order.placed'] },
      target: { type: 'webhook', url: 'https://user:pass@pay.example.com/hooks/busbar?token=t0ps3cret', secret },
    });
    await h.bus.putSubscription('audit', { bus: 'orders', pattern: { type: ['order.placed'] } });
    const res = await h.send('GET', '/v1/flow');
    const targets = Object.fromEntries(res.json<FlowSnapshot>().subscriptions.map((s) => [s.name, s.target] as const));
    expect(targets).toEqual({
      audit: { type: 'handler' },
      inventory: { type: 'pull' },
      payment: { type: 'webhook', url: 'https://pay.example.com/hooks/busbar' },
    });
    for (const hidden of ['whsec_', 'pass', 't0ps3cret']) expect(res.body).not.toContain(hidden);
  });
});

describe('GET /v1/subscriptions/{name}/history', () => {
  it('gives the last 60 minutes, attempts per delivery and the recent failures, newest first', async () => {
    const { results } = await h.bus.publish('orders', [
      event('order.placed', {}, { id: 'e-1' }),
      event('order.placed', {}, { id: 'e-2' }),
      event('order.placed', {}, { id: 'e-3' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);
    const first = await h.bus.pull.receive('inventory', { max: 10 });
    const receipt = (id: string) => first.find((m) => m.event.id === id)!.receipt;
    await h.clock.advance(30);
    await h.bus.pull.ack('inventory', [receipt('e-1')]);
    await h.bus.pull.nack('inventory', [receipt('e-2')], { error: 'stock service down' });
    await h.bus.pull.nack('inventory', [receipt('e-3')], { error: 'bad order', deadLetter: true });
    await h.clock.advance(100);
    const [again] = await h.bus.pull.receive('inventory', {});
    expect(again!.attempt).toBe(2);
    await h.bus.pull.nack('inventory', [again!.receipt], { error: 'still down' });

    const minute = Math.floor(h.clock.now() / 60_000) * 60_000;
    let hist = await history('inventory');
    expect(hist.minutes).toHaveLength(60);
    expect(hist.minutes[0]!.at).toBe(minute - 59 * 60_000);
    expect(hist.minutes[58]).toEqual({ at: minute - 60_000, delivered: 0, failed: 0, p50Ms: null, p99Ms: null });
    expect(hist.minutes[59]).toEqual({ at: minute, delivered: 1, failed: 3, p50Ms: 30, p99Ms: 30 });
    expect(hist.attempts).toEqual({ '1': 2, '2': 1 });
    const now = h.clock.now();
    expect(hist.failures).toEqual([
      {
        at: now,
        eventId: 'e-2',
        attempt: 2,
        outcome: 'error',
        error: 'still down',
        httpStatus: null,
        completion: 'dead',
      },
      {
        at: now - 100,
        eventId: 'e-3',
        attempt: 1,
        outcome: 'non_retriable',
        error: 'bad order',
        httpStatus: null,
        completion: 'dead',
      },
      {
        at: now - 100,
        eventId: 'e-2',
        attempt: 1,
        outcome: 'error',
        error: 'stock service down',
        httpStatus: null,
        completion: 'retry',
      },
    ]);

    // A minute later, with a delivery of 70 ms: the earlier minute keeps its numbers.
    await h.clock.advance(60_000);
    await h.bus.publish('orders', event('order.placed', {}, { id: 'e-4' }));
    const [late] = await h.bus.pull.receive('inventory', {});
    await h.clock.advance(70);
    await h.bus.pull.ack('inventory', [late!.receipt]);
    hist = await history('inventory');
    expect(hist.minutes[58]).toEqual({ at: minute, delivered: 1, failed: 3, p50Ms: 30, p99Ms: 30 });
    expect(hist.minutes[59]).toEqual({ at: minute + 60_000, delivered: 1, failed: 0, p50Ms: 70, p99Ms: 70 });
    expect(hist.attempts).toEqual({ '1': 3, '2': 1 });
  });

  it('keeps the last 50 failures of in-process handlers too, with their event ids', async () => {
    await h.bus.putSubscription('mailer', { bus: 'orders', pattern: { type: ['mail'] } });
    h.bus.consume('mailer', () => {
      throw new Error('smtp refused');
    });
    await h.bus.publish(
      'orders',
      Array.from({ length: 55 }, (_, i) => event('mail', {}, { id: `m-${i}` })),
    );
    await vi.waitFor(async () => expect((await history('mailer')).failures).toHaveLength(50), { timeout: 4_000 });
    const { failures } = await history('mailer');
    expect(new Set(failures.map((f) => f.eventId)).size).toBe(50);
    expect(failures[0]).toMatchObject({ attempt: 1, outcome: 'error', error: 'smtp refused', completion: 'retry' });
  });

  it('answers 404 for an unknown subscription, and empty minutes for a quiet one', async () => {
    const res = await h.send('GET', '/v1/subscriptions/nope/history');
    expect([res.statusCode, res.json<{ error: { code: string } }>().error.code]).toEqual([404, 'NOT_FOUND']);
    const quiet = await history('inventory');
    expect(quiet.minutes.every((m) => m.delivered === 0 && m.failed === 0 && m.p50Ms === null)).toBe(true);
    expect([quiet.attempts, quiet.failures]).toEqual([{}, []]);
  });
});

describe('GET /v1/flow/stream', () => {
  let keyed: Harness;
  let base: string;
  beforeEach(async () => {
    keyed = await harness('memory', {
      server: { apiKeys: [{ key: 'flow-admin-key-00001', scopes: ['admin'] }] },
    });
    await keyed.bus.putBus('orders');
    base = await keyed.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterEach(() => keyed.close());

  /** A flow stream whose messages come parsed as snapshots. */
  async function open(path: string) {
    const stream = await openSse(`${base}${path}`, ADMIN);
    return {
      ...stream,
      messages: async (count: number) =>
        (await stream.messages('flow', count)).map((m) => JSON.parse(m.data) as FlowSnapshot),
    };
  }

  it('sends a snapshot at once and then every intervalMs, as the clock moves', async () => {
    const stream = await open('/v1/flow/stream?intervalMs=200');
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const [first] = await stream.messages(1);
    expect(first).toEqual({
      at: T0,
      buses: [{ name: 'orders', publishedPerSec: 0, rejectedPerSec: 0, sources: [] }],
      subscriptions: [],
    });
    await keyed.bus.publish('orders', event('order.placed'));
    await keyed.clock.advance(200);
    const [, second] = await stream.messages(2);
    expect(second!.at).toBe(T0 + 200);
    expect(second!.buses[0]!.publishedPerSec).toBe(1); // one event over the first second since start
    await keyed.clock.advance(200);
    expect((await stream.messages(3))[2]!.at).toBe(T0 + 400);
    // The server closes with the stream open.
    await expect(keyed.app.close()).resolves.toBeUndefined();
    stream.close();
  });

  it('checks intervalMs and the API key before streaming', async () => {
    for (const interval of ['100', '60001', 'soon']) {
      const res = await keyed.send('GET', `/v1/flow/stream?intervalMs=${interval}`, undefined, ADMIN);
      expect([res.statusCode, res.json<{ error: { code: string } }>().error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    }
    expect((await keyed.send('GET', '/v1/flow/stream')).statusCode).toBe(401);
  });
});

describe('GET /v1/auth and scopes', () => {
  it('says the API is open when the server has no keys', async () => {
    const res = await h.send('GET', '/v1/auth');
    expect([res.statusCode, res.json()]).toEqual([200, { auth: false }]);
  });

  it('gives any valid key its scopes; the flow routes need admin', async () => {
    const keyed = await harness('memory', {
      server: {
        apiKeys: [
          { key: 'flow-admin-key-00001', scopes: ['admin'] },
          { key: 'flow-publish-key-0001', scopes: ['publish:orders', 'consume:inventory'] },
        ],
      },
    });
    try {
      await keyed.bus.putBus('orders');
      await keyed.bus.putSubscription('inventory', { bus: 'orders', pattern: { type: ['a'] } });
      expect((await keyed.send('GET', '/v1/auth')).statusCode).toBe(401);
      const bad = await keyed.send('GET', '/v1/auth', undefined, { authorization: 'Bearer not-a-key-at-all-000' });
      expect(bad.statusCode).toBe(401);
      expect((await keyed.send('GET', '/v1/auth', undefined, ADMIN)).json()).toEqual({
        auth: true,
        scopes: ['admin'],
      });
      expect((await keyed.send('GET', '/v1/auth', undefined, PUBLISHER)).json()).toEqual({
        auth: true,
        scopes: ['publish:orders', 'consume:inventory'],
      });
      for (const url of ['/v1/flow', '/v1/flow/stream', '/v1/subscriptions/inventory/history']) {
        expect((await keyed.send('GET', url)).statusCode, url).toBe(401);
        const forbidden = await keyed.send('GET', url, undefined, PUBLISHER);
        expect([forbidden.statusCode, forbidden.json<{ error: { code: string } }>().error.code], url).toEqual([
          403,
          'FORBIDDEN',
        ]);
      }
      expect((await keyed.send('GET', '/v1/flow', undefined, ADMIN)).statusCode).toBe(200);
      expect((await keyed.send('GET', '/v1/subscriptions/inventory/history', undefined, ADMIN)).statusCode).toBe(200);
    } finally {
      await keyed.close();
    }
  });
});
