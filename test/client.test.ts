/**
 * The SDK (`busbar/client`) against a real server listening on a socket: publish (typed, batched,
 * retried through connection failures and a fault-injecting proxy), pull consumers (ack, nack,
 * dead letter, RetryAfterError, concurrency, lease extension, graceful stop, a consumer process killed
 * mid-handler), every admin route, the live tail, and that nothing under src/client needs Node.js.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { builtinModules } from 'node:module';
import net from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { Busbar } from '../src/busbar.js';
import { buildServer } from '../src/server/index.js';
import type { ApiKey } from '../src/server/auth.js';
import type * as Engine from '../src/storage/driver.js';
import type { DeadLetterView } from '../src/core/engine/dead-letters.js';
import type { ArchivePage as EngineArchivePage, EventLineage as EngineLineage } from '../src/core/engine/archive.js';
import type { PublishResult as EnginePublishResult } from '../src/core/engine/engine.js';
import type { PulledMessage as EnginePulled, ReceiptResult as EngineReceipt } from '../src/core/engine/pull.js';
import { parseSse, type SseMessage } from '../src/client/tail.js';
import {
  BusbarError,
  NonRetriableError,
  RetryAfterError,
  createClient,
  type ArchivePage,
  type Bus,
  type BusbarClient,
  type ClientHandler,
  type CloudEvent,
  type ConsumeOptions,
  type Consumer,
  type DeadLetter,
  type EventInput,
  type EventLineage,
  type PublishResult,
  type PulledMessage,
  type ReceiptResult,
  type Replay,
  type Subscription,
  type SubscriptionWithStats,
} from '../src/client/index.js';

const CLIENT_JS = fileURLToPath(new URL('../dist/src/client/index.js', import.meta.url));
const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// ---- a real server, a fault-injecting proxy, helpers ----------------------------------------------

interface Server {
  bus: Busbar;
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

async function startServer(options: { port?: number; apiKeys?: ApiKey[] } = {}): Promise<Server> {
  const bus = await Busbar.open({ storage: 'memory', onError: () => undefined });
  const app = buildServer(bus, { apiKeys: options.apiKeys });
  const url = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  return {
    bus,
    app,
    url,
    async close() {
      // After an aborted fetch, undici may leave a connection that never carried a request, which
      // Node's closeIdleConnections() skips: app.close() would wait for the client's keep-alive (4 s).
      app.server.closeAllConnections();
      await app.close();
      await bus.close();
    },
  };
}

type Fault = 502 | 503 | 504 | 'busy' | 'drop' | 'hang';

/** An HTTP proxy to `target` that answers the next requests matching `when` with a fault instead. */
async function faultyProxy(target: string) {
  const faults: Array<{ when: RegExp; fault: Fault; times: number }> = [];
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const line = `${req.method} ${req.url}`;
    seen.push(line);
    const entry = faults.find((f) => f.times > 0 && f.when.test(line));
    if (entry !== undefined) entry.times--;
    const fault = entry?.fault;
    if (typeof fault === 'number') {
      req.resume();
      res.writeHead(fault, { 'content-type': 'text/html' }).end('<html><h1>Bad Gateway</h1></html>');
      return;
    }
    if (fault === 'busy') {
      req.resume();
      const error = { code: 'STORAGE_UNAVAILABLE', message: 'Storage failed: disk I/O error' };
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
      return;
    }
    if (fault === 'hang') return void req.resume();
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      // The server did the work; the client never hears of it (a reset before the response).
      if (fault === 'drop') return void (up.resume(), req.socket.destroy());
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    fail(when: RegExp, fault: Fault, times = 1) {
      faults.push({ when, fault, times });
    },
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((done) => probe.close(done));
  return port;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function until<T>(probe: () => T | Promise<T>, timeoutMs = 5_000): Promise<Exclude<T, false | null | undefined>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as Exclude<T, false | null | undefined>;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function rejection(promise: Promise<unknown>): Promise<BusbarError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BusbarError);
  return err as BusbarError;
}

const event = (type: string, data: unknown = {}, extra: Record<string, unknown> = {}) => ({
  source: '/shop',
  type,
  data,
  ...extra,
});

let server: Server;
let client: BusbarClient;
const consumers: Consumer[] = [];
const cleanups: Array<() => Promise<void>> = [];

/** A consumer stopped after the test (before the server closes, which waits for long-polls). */
function consume(c: BusbarClient, subscription: string, handler: ClientHandler, options: ConsumeOptions = {}) {
  const consumer = c.consume(subscription, handler, { waitMs: 1_000, onError: () => undefined, ...options });
  consumers.push(consumer);
  return consumer;
}

async function pullSubscription(name: string, delivery: object = {}): Promise<void> {
  await client.subscriptions.put(name, { bus: 'orders', pattern: { source: ['/shop'] }, delivery });
}

async function lineage(id: string): Promise<EventLineage> {
  const [first] = await client.events.get('orders', id);
  return first!;
}

beforeEach(async () => {
  server = await startServer();
  client = createClient({ url: server.url });
  await client.buses.put('orders');
});

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await server.close();
});

// ---- publish --------------------------------------------------------------------------------------

describe('publish', () => {
  it('publishes one event (structured mode) and a batch, assigning ids and specversion client-side', async () => {
    const one = event('order.placed', { total: 30 });
    const single = await client.publish('orders', one);
    expect(single.results).toEqual([{ id: expect.stringMatching(UUIDV7) as unknown, status: 'accepted' }]);
    expect(one).not.toHaveProperty('id'); // the caller's object is left alone

    const batch = await client.publish('orders', [event('a', 1, { id: 'a-1' }), event('b', 2)]);
    expect(batch.results.map((r) => r.status)).toEqual(['accepted', 'accepted']);
    expect(batch.results[0]!.id).toBe('a-1');

    const stored = await client.events.list('orders');
    expect(stored.events.map((e) => [e.id, e.type, e.specversion])).toEqual([
      [single.results[0]!.id, 'order.placed', '1.0'],
      ['a-1', 'a', '1.0'],
      [batch.results[1]!.id, 'b', '1.0'],
    ]);
    expect(stored.cursor).toBeNull();
  });

  it('types `type` → `data` from the event map', async () => {
    type Shop = {
      'order.placed': { orderId: string; total: number };
      'order.cancelled': { orderId: string; reason?: string };
    };
    const shop = createClient<Shop>({ url: server.url });
    const placed: EventInput<Shop> = {
      source: '/shop',
      type: 'order.placed',
      data: { orderId: 'o-1', total: 30 },
    };
    await shop.publish('orders', [placed, { source: '/shop', type: 'order.cancelled', data: { orderId: 'o-1' } }]);
    expect((await client.events.list('orders', { type: 'order.cancelled' })).events[0]?.data).toEqual({
      orderId: 'o-1',
    });

    // Compile-time checks (`tsc --noEmit` covers this file).
    expectTypeOf<EventInput<Shop>['type']>().toEqualTypeOf<'order.placed' | 'order.cancelled'>();
    // @ts-expect-error `total` is a number
    const wrongData: EventInput<Shop> = { source: '/s', type: 'order.placed', data: { orderId: 'o', total: '1' } };
    // @ts-expect-error not a type of the map
    const unknownType: EventInput<Shop> = { source: '/s', type: 'order.shipped', data: { orderId: 'o' } };
    // @ts-expect-error `data` is required when its type does not admit undefined
    const noData: EventInput<Shop> = { source: '/s', type: 'order.placed' };
    // @ts-expect-error `source` is required
    const noSource: EventInput<Shop> = { type: 'order.cancelled', data: { orderId: 'o' } };
    expect([wrongData, unknownType, noData, noSource]).toHaveLength(4);
  });

  it('rejects a bad batch whole with BusbarError: the code, the message and details.results', async () => {
    const noSource = JSON.parse('{"type":"x"}') as EventInput; // what an untyped caller may send
    const err = await rejection(client.publish('orders', [event('ok'), noSource]));
    expect(err).toMatchObject({ code: 'INVALID_EVENT', status: 400, name: 'BusbarError' });
    expect(err.message).toContain('Event 2 of 2 (index 1)');
    expect(err.details?.['results']).toEqual([
      { index: 0, status: 'valid' },
      {
        index: 1,
        status: 'invalid',
        error: { code: 'INVALID_EVENT', message: expect.stringContaining('source') as unknown },
      },
    ]);
    expect((await client.events.list('orders')).events).toEqual([]);
  });

  it('answers NOT_FOUND for an unknown bus, encoding path segments', async () => {
    const err = await rejection(client.publish('no/such bus', event('x')));
    expect(err).toMatchObject({ code: 'NOT_FOUND', status: 404, message: 'No bus named "no/such bus" (string)' });
    await expect(client.publish('', event('x'))).rejects.toThrow(TypeError);
  });
});

// ---- authentication -------------------------------------------------------------------------------

describe('API keys', () => {
  const SHOP = 'shop-key-0123456789';
  const OPS = 'ops-key-0123456789';

  it('sends the key as a bearer token: 401 UNAUTHORIZED without a valid one, 403 FORBIDDEN outside its scopes', async () => {
    const secured = await startServer({
      apiKeys: [
        { key: SHOP, scopes: ['publish:orders', 'consume:inv-*'] },
        { key: OPS, scopes: ['admin'] },
      ],
    });
    cleanups.push(() => secured.close());
    const ops = createClient({ url: `${secured.url}/`, apiKey: OPS });
    await ops.buses.put('orders');
    await ops.buses.put('audit');

    const anonymous = await rejection(createClient({ url: secured.url }).publish('orders', event('x')));
    expect(anonymous).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    const wrong = await rejection(createClient({ url: secured.url, apiKey: 'not-a-key-at-all-0000' }).buses.list());
    expect(wrong).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });

    const shop = createClient({ url: secured.url, apiKey: SHOP });
    expect((await shop.publish('orders', event('x'))).results[0]!.status).toBe('accepted');
    const otherBus = await rejection(shop.publish('audit', event('x')));
    expect(otherBus).toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
      message: 'The API key lacks the scope "publish:audit"',
    });
    expect(await rejection(shop.buses.list())).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect((await ops.buses.list()).buses.map((b) => b.name)).toEqual(['audit', 'orders']);

    // A consumer whose key lacks the scope stops, with the error in `done` and `onError`.
    await ops.subscriptions.put('billing', { bus: 'orders', pattern: { source: ['/shop'] } });
    const errors: unknown[] = [];
    const denied = shop.consume('billing', () => undefined, { onError: (err) => errors.push(err) });
    expect(await rejection(denied.done)).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect(errors).toEqual([expect.objectContaining({ code: 'FORBIDDEN' })]);
    await denied.stop(); // resolves, never rejects
  });
});

// ---- retries --------------------------------------------------------------------------------------

describe('retries', () => {
  it('publishes through "connection refused" once the server starts, storing the event once', async () => {
    const port = await freePort();
    const late = createClient({ url: `http://127.0.0.1:${port}`, retry: { attempts: 40, initialMs: 50, maxMs: 200 } });
    const started = sleep(400).then(() => startServer({ port }));
    cleanups.push(async () => (await started).close());
    const publishing = late.publish('orders', event('order.placed', {}, { id: 'late-1' }));
    const other = await started;
    await other.bus.putBus('orders');
    expect(await publishing).toEqual({ results: [{ id: 'late-1', status: 'accepted' }] });
    expect((await other.bus.queryArchive('orders')).events.map((e) => e.id)).toEqual(['late-1']);

    const refused = createClient({ url: `http://127.0.0.1:${await freePort()}`, retry: { attempts: 2, initialMs: 1 } });
    const err = await rejection(refused.publish('orders', event('x')));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', status: null });
    expect(err.message).toContain('no response from');
  });

  it('retries 502/503/504 and a reset after the server stored the event: stored once, reported as duplicate', async () => {
    const proxy = await faultyProxy(server.url);
    cleanups.push(() => proxy.close());
    const c = createClient({ url: proxy.url, retry: { attempts: 4, initialMs: 10 } });
    proxy.fail(/events$/, 503, 2);
    expect((await c.publish('orders', event('a', {}, { id: 'p-1' }))).results).toEqual([
      { id: 'p-1', status: 'accepted' },
    ]);
    expect(proxy.seen.filter((l) => l.endsWith('/events'))).toHaveLength(3);

    // The server commits, the connection breaks before the answer: the retry carries the same
    // client-assigned id, so the server recognises it.
    proxy.fail(/events$/, 'drop');
    const retried = await c.publish('orders', event('b'));
    expect(retried.results).toEqual([{ id: expect.stringMatching(UUIDV7) as unknown, status: 'duplicate' }]);
    const stored = await client.events.list('orders');
    expect(stored.events.map((e) => e.id)).toEqual(['p-1', retried.results[0]!.id]);

    proxy.fail(/events$/, 504, 4);
    const exhausted = await rejection(c.publish('orders', event('c')));
    expect(exhausted).toMatchObject({ code: 'UNAVAILABLE', status: 504 });
    expect(exhausted.message).toContain('not a Busbar error body');
    expect((await client.events.list('orders')).events).toHaveLength(2);
  });

  it('does not retry a replay start that may have reached the server, and times out requests', async () => {
    const proxy = await faultyProxy(server.url);
    cleanups.push(() => proxy.close());
    const c = createClient({ url: proxy.url, retry: { attempts: 3, initialMs: 1 }, timeoutMs: 300 });
    proxy.fail(/replays$/, 502);
    expect(await rejection(c.replays.start({ bus: 'orders', from: 0 }))).toMatchObject({ code: 'UNAVAILABLE' });
    expect(proxy.seen.filter((l) => l.endsWith('/replays'))).toHaveLength(1);
    // Busbar's own 503 STORAGE_UNAVAILABLE says nothing was done: that one is retried.
    proxy.fail(/replays$/, 'busy');
    expect(await c.replays.start({ bus: 'orders', from: 0 })).toMatchObject({ bus: 'orders', state: 'running' });
    expect(proxy.seen.filter((l) => l.endsWith('/replays'))).toHaveLength(3);
    expect((await client.replays.list()).replays).toHaveLength(1);

    proxy.fail(/buses$/, 'hang');
    const err = await rejection(c.buses.list());
    expect(err).toMatchObject({ code: 'TIMEOUT', status: null });
  });
});

// ---- consume --------------------------------------------------------------------------------------

describe('consume', () => {
  it('acks a handler that returns, with the context of the delivery', async () => {
    await pullSubscription('work');
    const seen: Array<[string, unknown]> = [];
    consume(client, 'work', (e, ctx) => void seen.push([e.id, { ...ctx, signal: ctx.signal.aborted }]));
    await client.publish('orders', event('order.placed', {}, { id: 'e-1' }));
    await until(() => seen.length === 1);
    expect(seen[0]).toEqual([
      'e-1',
      {
        subscription: 'work',
        attempt: 1,
        receipt: expect.any(String) as unknown,
        replayId: null,
        signal: false,
        traceparent: null,
      },
    ]);
    await until(async () => (await lineage('e-1')).deliveries[0]!.state === 'delivered');
    expect((await client.subscriptions.get('work')).stats).toMatchObject({ backlog: 0, inFlight: 0, dead: 0 });
  });

  it('sends the outcomes of handlers that finish together in one request per kind', async () => {
    await pullSubscription('work');
    const calls: string[] = [];
    const counting = createClient({
      url: server.url,
      fetch: (input, init) => {
        // The SDK calls fetch with a URL string and a JSON string body.
        calls.push(`${init?.method} ${(input as string).replace(server.url, '')} ${init?.body as string}`);
        return fetch(input, init);
      },
    });
    await client.publish(
      'orders',
      Array.from({ length: 6 }, (_, i) => event('x', {}, { id: `e-${i}` })),
    );
    consume(counting, 'work', (e) => {
      if (e.id === 'e-0') throw new NonRetriableError('bad');
    });
    await until(async () => (await client.subscriptions.get('work')).stats.inFlight === 0 && calls.length > 1);
    const settles = calls.filter((c) => /\/(ack|nack) /.test(c));
    expect(settles).toHaveLength(2);
    expect(settles.find((c) => c.includes('/ack '))).toMatch(/"receipts":\[("[^"]+",?){5}\]/);
    expect(settles.find((c) => c.includes('/nack '))).toMatch(/"deadLetter":true/);
    expect((await client.subscriptions.get('work')).stats).toMatchObject({ backlog: 0, inFlight: 0, dead: 1 });
  });

  it('nacks a handler that throws: the next attempt arrives, and the error is recorded', async () => {
    await pullSubscription('work', { backoff: { initialMs: 50, maxMs: 50 } });
    const attempts: number[] = [];
    consume(client, 'work', (_e, { attempt }) => {
      attempts.push(attempt);
      if (attempt === 1) throw new Error('database busy');
    });
    await client.publish('orders', event('x', {}, { id: 'e-1' }));
    await until(async () => (await lineage('e-1')).deliveries[0]!.state === 'delivered');
    expect(attempts).toEqual([1, 2]);
    const { attempts: records } = (await lineage('e-1')).deliveries[0]!;
    expect(records.map((r) => [r.outcome, r.error?.message ?? null])).toEqual([
      ['error', 'database busy'],
      ['success', null],
    ]);
  });

  it('dead-letters on NonRetriableError, visible through deadLetters.list', async () => {
    await pullSubscription('work');
    consume(client, 'work', () => {
      throw new NonRetriableError('order has no customer');
    });
    await client.publish('orders', event('x', {}, { id: 'e-1' }));
    const page = await until(async () => {
      const p = await client.deadLetters.list('work');
      return p.deadLetters.length > 0 && p;
    });
    expect(page.deadLetters[0]).toMatchObject({
      subscription: 'work',
      reason: 'non_retriable',
      event: { id: 'e-1' },
      attempts: [{ attempt: 1, outcome: 'non_retriable', error: { message: 'order has no customer' } }],
    });
  });

  it('retries after the delay of a RetryAfterError, not the backoff', async () => {
    await pullSubscription('work', { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    const times: number[] = [];
    consume(client, 'work', (_e, { attempt }) => {
      times.push(Date.now());
      if (attempt === 1) throw new RetryAfterError(1_200, 'rate limited');
    });
    await client.publish('orders', event('x', {}, { id: 'e-1' }));
    await until(() => times.length === 2, 8_000);
    const waited = times[1]! - times[0]!;
    expect(waited).toBeGreaterThanOrEqual(1_100);
    expect(waited).toBeLessThan(4_000);
    await until(async () => (await lineage('e-1')).deliveries[0]!.state === 'delivered');
    expect((await lineage('e-1')).deliveries[0]!.attempts[0]!.error?.message).toBe('rate limited');
  }, 15_000);

  it('never runs more than `concurrency` handlers at once', async () => {
    await pullSubscription('work');
    let running = 0;
    let most = 0;
    const handled: string[] = [];
    consume(
      client,
      'work',
      async (e) => {
        most = Math.max(most, ++running);
        await sleep(100);
        running--;
        handled.push(e.id);
      },
      { concurrency: 3 },
    );
    await client.publish(
      'orders',
      Array.from({ length: 12 }, (_, i) => event('x', {}, { id: `e-${i}` })),
    );
    await until(() => handled.length === 12);
    expect(most).toBe(3);
    expect(new Set(handled).size).toBe(12);
    await until(async () => (await client.subscriptions.get('work')).stats.inFlight === 0);
    expect((await client.subscriptions.get('work')).stats).toMatchObject({ backlog: 0, inFlight: 0 });
  });

  it('extends the lease while a handler runs longer than leaseMs, so nobody else gets the event', async () => {
    await pullSubscription('work');
    const calls: Array<[string, number]> = [];
    const slow: ClientHandler = async (_e, { attempt }) => {
      calls.push(['slow', attempt]);
      await sleep(2_500);
    };
    consume(client, 'work', slow, { leaseMs: 1_000 });
    await client.publish('orders', event('x', {}, { id: 'e-1' }));
    await until(() => calls.length === 1);
    // A second consumer polls all the while; the event's lease never lapses.
    consume(createClient({ url: server.url }), 'work', () => void calls.push(['other', 0]), { leaseMs: 1_000 });
    await until(async () => (await lineage('e-1')).deliveries[0]!.state === 'delivered', 6_000);
    expect(calls).toEqual([['slow', 1]]);
    expect((await lineage('e-1')).deliveries[0]!.attempts.map((a) => a.outcome)).toEqual(['success']);
  }, 10_000);

  it('stops gracefully: no more pulls, the in-flight handler finishes and its ack reaches the server', async () => {
    await pullSubscription('work');
    let finished = false;
    const started: string[] = [];
    const consumer = consume(client, 'work', async (e) => {
      started.push(e.id);
      await sleep(600);
      finished = true;
    });
    await client.publish('orders', event('x', {}, { id: 'e-1' }));
    await until(() => started.length === 1);
    const stopping = consumer.stop();
    // Published while stop() waits for the handler (after the closed long-poll reached the server).
    await sleep(200);
    await client.publish('orders', event('x', {}, { id: 'e-2' }));
    await stopping;
    expect(finished).toBe(true);
    // The ack was sent before stop() resolved.
    expect((await lineage('e-1')).deliveries[0]!.state).toBe('delivered');
    await consumer.done;
    await sleep(300);
    expect(started).toEqual(['e-1']);
    expect((await client.subscriptions.get('work')).stats).toMatchObject({ backlog: 1, inFlight: 0 });
  });

  it('stops at once while long-polling, also through its signal', async () => {
    await pullSubscription('work');
    const idle = consume(client, 'work', () => undefined, { waitMs: 20_000 });
    await sleep(100);
    const t0 = Date.now();
    await idle.stop();
    expect(Date.now() - t0).toBeLessThan(1_000);

    const controller = new AbortController();
    const viaSignal = consume(client, 'work', () => undefined, { waitMs: 20_000, signal: controller.signal });
    await sleep(100);
    controller.abort();
    await viaSignal.done;
    // The aborted long-poll leased nothing: the next event goes to the next consumer at once. (An
    // event published in the instant before the server notices the closed connection could be leased
    // for nobody and come back after its lease; hence the pause.)
    await sleep(100);
    const got: string[] = [];
    consume(client, 'work', (e) => void got.push(e.id));
    await client.publish('orders', event('x', {}, { id: 'e-1' }));
    await until(() => got.length === 1);
    expect(got).toEqual(['e-1']);
  });

  it('redelivers the event of a consumer process killed mid-handler, once its lease expires', async () => {
    await pullSubscription('work');
    const script = `
      const { createClient } = await import(process.env.CLIENT_URL);
      createClient({ url: process.env.BUSBAR_URL }).consume('work', async (event, { attempt }) => {
        process.stdout.write(JSON.stringify({ id: event.id, attempt }) + '\\n');
        await new Promise(() => {}); // killed in here
      }, { leaseMs: 1000, waitMs: 1000, concurrency: 1 });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, CLIENT_URL: pathToFileURL(CLIENT_JS).href, BUSBAR_URL: server.url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((done) => child.on('exit', done));
    cleanups.push(async () => void (child.kill('SIGKILL'), await exited));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    await client.publish('orders', event('order.placed', {}, { id: 'crash-1' }));
    await until(() => out.includes('\n'));
    expect(JSON.parse(out)).toEqual({ id: 'crash-1', attempt: 1 });

    // Another consumer waits meanwhile; the child's extensions keep the lease past its 1 s.
    const received: Array<[string, number, number]> = [];
    consume(
      createClient({ url: server.url }),
      'work',
      (e, { attempt }) => void received.push([e.id, attempt, Date.now()]),
      {
        leaseMs: 1_000,
      },
    );
    await sleep(1_500);
    expect(received).toEqual([]);
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await exited;

    await until(() => received.length === 1, 5_000);
    expect(received[0]!.slice(0, 2)).toEqual(['crash-1', 2]);
    expect(received[0]![2] - killedAt).toBeGreaterThanOrEqual(500); // not before the lease ran out
    await until(async () => (await lineage('crash-1')).deliveries[0]!.state === 'delivered');
    expect((await lineage('crash-1')).deliveries[0]!.attempts.map((a) => a.outcome)).toEqual([
      'lease_expired',
      'success',
    ]);
  }, 15_000);

  it('survives transient failures of pull and ack, reporting them through onError', async () => {
    await pullSubscription('work');
    const proxy = await faultyProxy(server.url);
    cleanups.push(() => proxy.close());
    proxy.fail(/pull$/, 503, 2);
    proxy.fail(/ack$/, 502);
    const errors: BusbarError[] = [];
    const got: string[] = [];
    const flaky = createClient({ url: proxy.url, retry: { attempts: 2, initialMs: 10 } });
    consume(flaky, 'work', (e) => void got.push(e.id), { onError: (err) => errors.push(err as BusbarError) });
    await client.publish('orders', event('x', {}, { id: 'e-1' }));
    await until(() => got.length === 1);
    await until(async () => (await lineage('e-1')).deliveries[0]!.state === 'delivered');
    expect(got).toEqual(['e-1']);
    expect(errors.map((e) => [e.code, e.status])).toEqual(
      expect.arrayContaining([
        ['UNAVAILABLE', 503],
        ['UNAVAILABLE', 502],
      ]),
    );
  });

  it('reports a lost lease (STALE_RECEIPT on ack) without throwing, and keeps consuming', async () => {
    await pullSubscription('work');
    const proxy = await faultyProxy(server.url);
    cleanups.push(() => proxy.close());
    proxy.fail(/extend$/, 503, 1_000);
    const errors: BusbarError[] = [];
    const attempts: number[] = [];
    const c = createClient({ url: proxy.url, retry: { attempts: 1 } });
    const consumer = consume(
      c,
      'work',
      async (_e, { attempt }) => {
        attempts.push(attempt);
        if (attempt === 1) await sleep(3_000); // the lease (1 s) lapses: extensions fail
      },
      { leaseMs: 1_000, onError: (err) => errors.push(err as BusbarError) },
    );
    await client.publish('orders', event('x', {}, { id: 'e-1' }));
    await until(() => errors.some((e) => e.code === 'STALE_RECEIPT'), 6_000);
    expect(errors.find((e) => e.code === 'STALE_RECEIPT')).toMatchObject({
      status: 409,
      details: { results: [{ receipt: expect.any(String) as unknown, status: 'stale' }] },
    });
    // The same consumer took the lapsed lease again while handler 1 still ran, and settled it.
    await until(async () => (await lineage('e-1')).deliveries[0]!.state === 'delivered');
    expect(attempts).toEqual([1, 2]);
    await consumer.stop();
    await expect(consumer.done).resolves.toBeUndefined();
  }, 10_000);

  it('stops with a rejected `done` when the subscription does not exist', async () => {
    const errors: unknown[] = [];
    const consumer = client.consume('nope', () => undefined, { onError: (err) => errors.push(err) });
    expect(await rejection(consumer.done)).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(errors).toHaveLength(1);
  });

  it('rejects bad options with TypeErrors that name the option', () => {
    const handler = () => undefined;
    expect(() => client.consume('work', handler, { concurrency: 0 })).toThrow(
      new TypeError('Expected `concurrency` to be an integer from 1 to 1000, got 0 (number)'),
    );
    expect(() => client.consume('work', handler, { leaseMs: 500 })).toThrow(
      new TypeError('Expected `leaseMs` to be an integer from 1000 to 43200000, got 500 (number)'),
    );
    expect(() => client.consume('work', handler, { waitMs: 60_001 })).toThrow(/`waitMs`.*0 to 60000/);
    expect(() => client.consume('work', 'handler' as unknown as ClientHandler)).toThrow(
      new TypeError('Expected `handler` to be a function, got "handler" (string)'),
    );
    expect(() => client.consume('', handler)).toThrow(/`subscription`/);
    expect(() => createClient({ url: 'ftp://example.com' })).toThrow(
      new TypeError('Expected `url` to be an http: or https: URL, got "ftp://example.com" (string)'),
    );
    expect(() => createClient({ url: server.url, retry: { attempts: 0 } })).toThrow(/`retry.attempts`/);
    expect(() => createClient({ url: server.url, timeoutMs: -1 })).toThrow(/`timeoutMs`/);
  });
});

// ---- admin ----------------------------------------------------------------------------------------

describe('admin routes', () => {
  it('buses: put, get, list, delete', async () => {
    const bus = await client.buses.put('audit', { retention: { maxAgeMs: 86_400_000 } });
    expect(bus).toMatchObject({ name: 'audit', retention: { maxAgeMs: 86_400_000, maxBytes: null } });
    expect(await client.buses.get('audit')).toEqual(bus);
    expect((await client.buses.list()).buses.map((b) => b.name)).toEqual(['audit', 'orders']);
    expect(await client.buses.delete('audit')).toBeUndefined();
    expect(await rejection(client.buses.get('audit'))).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('subscriptions: put, get with stats, list, pause, resume, delete; test-pattern', async () => {
    const sub = await client.subscriptions.put('notify', {
      bus: 'orders',
      pattern: { type: ['order.placed'] },
      delivery: { maxAttempts: 3 },
    });
    expect(sub).toMatchObject({ name: 'notify', pattern: '{"type":["order.placed"]}', target: { type: 'pull' } });
    expect(sub.delivery.maxAttempts).toBe(3);
    expect((await client.subscriptions.list({ bus: 'orders' })).subscriptions.map((s) => s.name)).toEqual(['notify']);
    expect((await client.subscriptions.list()).subscriptions).toHaveLength(1);
    expect(await client.subscriptions.get('notify')).toMatchObject({
      name: 'notify',
      stats: { backlog: 0, inFlight: 0, dead: 0, oldestPendingAt: null },
    });
    expect((await client.subscriptions.pause('notify')).paused).toBe(true);
    expect((await client.subscriptions.resume('notify')).paused).toBe(false);
    expect(await client.subscriptions.delete('notify')).toBeUndefined();
    expect((await client.subscriptions.list()).subscriptions).toEqual([]);
    const bad = await rejection(client.subscriptions.put('x', { bus: 'orders', pattern: { type: 'x' } }));
    expect(bad).toMatchObject({ code: 'INVALID_PATTERN', status: 400 });

    expect(await client.testPattern({ data: { total: [{ numeric: ['>', 100] }] } }, { data: { total: 250 } })).toBe(
      true,
    );
    expect(await client.testPattern({ type: ['a'] }, { type: 'b' })).toBe(false);
  });

  it('dead letters: list, get, redrive (dry run first), delete, purge', async () => {
    await pullSubscription('work');
    const dead = consume(client, 'work', () => {
      throw new NonRetriableError('bad');
    });
    await client.publish('orders', [event('a', {}, { id: '1' }), event('b', { big: true }, { id: '2' })]);
    await until(async () => (await client.deadLetters.list('work')).deadLetters.length === 2);
    await dead.stop();
    const first = await client.deadLetters.list('work', { limit: 1 });
    expect(first.deadLetters.map((d) => d.event.id)).toEqual(['1']);
    const second = await client.deadLetters.list('work', { limit: 1, cursor: first.cursor! });
    const id = second.deadLetters[0]!.id;
    expect(await client.deadLetters.get('work', id)).toMatchObject({ id, event: { id: '2' }, reason: 'non_retriable' });
    expect(await client.deadLetters.redrive('work', { pattern: { data: { big: [true] } }, dryRun: true })).toEqual({
      count: 1,
      dryRun: true,
    });
    expect(await client.deadLetters.redrive('work', { ids: [id] })).toEqual({ count: 1, dryRun: false });
    expect(await client.deadLetters.delete('work', first.deadLetters[0]!.id)).toBeUndefined();
    expect((await client.deadLetters.list('work')).deadLetters).toEqual([]);
    expect(await client.deadLetters.purge('work')).toEqual({ deleted: 0 });
    const missing = await rejection(client.deadLetters.get('work', first.deadLetters[0]!.id));
    expect(missing).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('replays and the archive: start, get, list, cancel; events list with a pattern and cursor, lineage', async () => {
    await pullSubscription('work');
    await client.publish('orders', [event('a', { n: 1 }, { id: '1' }), event('b', { n: 2 }, { id: '2' })]);
    const page = await client.events.list('orders', { limit: 1 });
    expect(page.events.map((e) => e.id)).toEqual(['1']);
    const next = await client.events.list('orders', { limit: 1, cursor: page.cursor! });
    expect(next.events.map((e) => e.id)).toEqual(['2']);
    expect((await client.events.list('orders', { pattern: { data: { n: [2] } } })).events.map((e) => e.id)).toEqual([
      '2',
    ]);
    const [story] = await client.events.get('orders', '1');
    expect(story).toMatchObject({ event: { id: '1' }, matchesNow: ['work'], deliveries: [{ subscription: 'work' }] });
    expect(await rejection(client.events.get('orders', 'nope'))).toMatchObject({ code: 'NOT_FOUND' });

    const replay = await client.replays.start({ bus: 'orders', from: 0, subscriptions: ['work'] });
    expect(replay).toMatchObject({ bus: 'orders', from: 0, subscriptions: ['work'] });
    const done = await until(async () => {
      const r = await client.replays.get(replay.id);
      return r.state === 'completed' && r;
    });
    expect(done).toMatchObject({ id: replay.id, scanned: 2, enqueued: 2 });
    const slow = await client.replays.start({ bus: 'orders', from: 0, ratePerSec: 0.5 });
    expect((await client.replays.cancel(slow.id)).state).toMatch(/^(cancelled|completed)$/);
    const listed = await client.replays.list({ bus: 'orders' });
    expect(listed.replays.map((r) => r.id).sort()).toEqual([replay.id, slow.id].sort());
  });

  it('response types are the engine records the routes send', () => {
    // Both ways assignable: a field added to (or dropped from) an engine record breaks `tsc --noEmit`.
    type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
    expectTypeOf<Same<Bus, Engine.BusRecord>>().toEqualTypeOf<true>();
    expectTypeOf<Same<Subscription, Engine.SubscriptionRecord>>().toEqualTypeOf<true>();
    expectTypeOf<
      Same<SubscriptionWithStats, Engine.SubscriptionRecord & { stats: Engine.SubscriptionStats }>
    >().toEqualTypeOf<true>();
    expectTypeOf<Same<DeadLetter, DeadLetterView>>().toEqualTypeOf<true>();
    expectTypeOf<Same<Replay, Engine.ReplayRecord>>().toEqualTypeOf<true>();
    expectTypeOf<Same<ArchivePage, EngineArchivePage>>().toEqualTypeOf<true>();
    expectTypeOf<Same<EventLineage, EngineLineage>>().toEqualTypeOf<true>();
    expectTypeOf<Same<PublishResult, EnginePublishResult>>().toEqualTypeOf<true>();
    expectTypeOf<Same<PulledMessage, EnginePulled>>().toEqualTypeOf<true>();
    expectTypeOf<Same<ReceiptResult, EngineReceipt>>().toEqualTypeOf<true>();
  });
});

// ---- tail -----------------------------------------------------------------------------------------

describe('tail', () => {
  it('streams stored events live, filtered by a pattern, until the loop breaks', async () => {
    const seen: CloudEvent[] = [];
    const reading = (async () => {
      for await (const e of client.tail('orders', { pattern: { type: ['order.placed'] } })) {
        seen.push(e);
        if (e.id === 'p-1') break;
      }
    })();
    // The stream sends what is stored once it is open: publish until the first event comes through.
    let n = 0;
    await until(async () => {
      await client.publish('orders', event('order.placed', { n: 0 }, { id: `warm-${n++}` }));
      return seen.length > 0;
    });
    await client.publish('orders', [event('order.cancelled'), event('order.placed', { n: 1 }, { id: 'p-1' })]);
    await reading; // `break` closed the request: the server can close without waiting for it
    expect(seen.every((e) => e.type === 'order.placed')).toBe(true);
    expect(seen.at(-1)).toMatchObject({ id: 'p-1', data: { n: 1 }, specversion: '1.0', source: '/shop' });
  });

  it('parses Server-Sent Events across chunk boundaries (WHATWG HTML §9.2.6)', async () => {
    const chunks = [
      ': busbar tail\n\nevent: cloudevent\nid: 1\ndata: {"a":',
      '1}\r',
      '\n\r\ndata:no space\rdata:  two spaces\n\n: ping\n\nevent: empty\n\nevent: x\nid',
      ': 7\ndata: {"b":\ndata: 2}\n\ndata: unterminated',
    ];
    const stream = new ReadableStream<string>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    const messages: SseMessage[] = [];
    for await (const m of parseSse(stream.getReader())) messages.push(m);
    expect(messages).toEqual([
      { event: 'cloudevent', id: '1', data: '{"a":1}' },
      { event: 'message', id: '1', data: 'no space\n two spaces' },
      { event: 'x', id: '7', data: '{"b":\n2}' },
    ]);
  });

  it('ends when its signal aborts, and rejects for an unknown bus', async () => {
    const controller = new AbortController();
    const iterator = client.tail('orders', { signal: controller.signal })[Symbol.asyncIterator]();
    const next = iterator.next();
    await sleep(200);
    controller.abort();
    expect(await next).toEqual({ done: true, value: undefined });

    const missing = client.tail('nope')[Symbol.asyncIterator]();
    expect(await rejection(missing.next())).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(() => client.tail('orders', { pattern: 42 as unknown as object })).toThrow(/`pattern`/);
    expect(() => client.tail('orders', { onOpen: 'yes' as unknown as () => void })).toThrow(/`onOpen`/);
  });

  it('tells onOpen when the stream is open: the first event published after it arrives', async () => {
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const iterator = client.tail('orders', { onOpen: () => opened() })[Symbol.asyncIterator]();
    const first = iterator.next();
    await open;
    await client.publish('orders', event('order.placed', {}, { id: 'after-open' }));
    expect((await first).value).toMatchObject({ id: 'after-open' });
    await iterator.return!();
  });
});

// ---- portability ----------------------------------------------------------------------------------

describe('portability', () => {
  it('imports nothing from Node.js anywhere in the import graph of dist/src/client/index.js', () => {
    const builtins = new Set(builtinModules);
    const visited = new Set<string>();
    const problems: string[] = [];
    const walk = (file: string): void => {
      if (visited.has(file)) return;
      visited.add(file);
      // Comments go first: the TSDoc examples import 'busbar/client' and name Node.js.
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '');
      // Static imports and re-exports (`from '...'`), side-effect imports and dynamic import().
      const specifiers = [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      for (const specifier of specifiers) {
        if (specifier.startsWith('.')) walk(resolve(dirname(file), specifier));
        else if (specifier.startsWith('node:') || builtins.has(specifier.split('/')[0]!)) {
          problems.push(`${file}: ${specifier}`);
        } else problems.push(`${file}: package ${specifier} (the SDK has no dependencies)`);
      }
      // Node.js globals that browsers lack.
      for (const m of code.matchAll(
        /\b(?:(Buffer|process|setImmediate)\s*[.(]|(require)\s*\(|(__dirname|__filename)\b)/g,
      )) {
        problems.push(`${file}: uses ${m[0]}`);
      }
    };
    walk(CLIENT_JS);
    expect(problems).toEqual([]);
    expect([...visited].map((f) => f.slice(f.indexOf('dist/')))).toEqual(
      expect.arrayContaining(['dist/src/client/index.js', 'dist/src/client/consumer.js', 'dist/src/core/uuid.js']),
    );
  });
});
