/**
 * The engine's behaviour, on every driver (memory, SQLite, and PostgreSQL when reachable) with a manual
 * clock (no sleeping): publish, delivery outcomes, retries and backoff, timeouts, leases, dead letters
 * and redrive, archive, replay, lineage, ordering, pause/resume and bad input.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Busbar } from '../../busbar.js';
import { BusError } from '../errors.js';
import { ManualClock } from '../clock.js';
import type { CloudEvent } from '../events.js';
import { NonRetriableError, RetryAfterError } from './outcomes.js';
import type { DeliveryContext } from './dispatcher.js';
import type { EventLineage } from './archive.js';
import { dropSchema, freshSchema, postgresUnavailable, testUrl } from '../../storage/postgres/testing.js';

const T0 = Date.parse('2026-11-27T00:00:00Z');
let clock: ManualClock;
let bus: Busbar;

const event = (type: string, data: unknown = {}, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  specversion: '1.0',
  source: '/shop',
  type,
  data,
  ...extra,
});

/** Every behaviour runs on every driver; `storage` picks one per describe block (see the describe.each below). */
let storage = 'memory';
const STORAGES = ['memory', 'sqlite::memory:', ...((await postgresUnavailable()) === null ? ['postgres'] : [])];
/** PostgreSQL schemas made by this test, dropped after it: every `open()` gets a store of its own. */
let schemas: string[] = [];

async function open(options: Parameters<typeof Busbar.open>[0] = {}): Promise<Busbar> {
  let where = storage;
  if (storage === 'postgres') {
    const schema = freshSchema();
    schemas.push(schema);
    where = testUrl(schema);
  }
  return Busbar.open({ storage: where, clock, random: () => 0.5, pollIntervalMs: 60_000, ...options });
}

/** Lets the engine run until `check` holds, advancing the clock by `step` each round. */
async function until(check: () => boolean | Promise<boolean>, step = 0, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await check()) return;
    await clock.advance(step);
  }
  throw new Error('condition not reached');
}

function errorOf(fn: () => unknown): BusError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BusError) return err;
    throw err;
  }
  throw new Error('expected a BusError');
}

async function rejection(promise: Promise<unknown>): Promise<BusError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof BusError) return err;
    throw err;
  }
  throw new Error('expected a BusError');
}

describe.each(STORAGES)('on %s', (name) => {
  beforeAll(() => {
    storage = name;
  });

  beforeEach(async () => {
    // PostgreSQL answers in real time: each step of the manual clock also waits a little.
    clock = new ManualClock(T0, { ioWaitMs: name === 'postgres' ? 10 : 0 });
    bus = await open();
    await bus.putBus('orders');
  });

  afterEach(async () => {
    await bus.close();
    for (const schema of schemas) await dropSchema(schema);
    schemas = [];
  });

  describe('publish and deliver', () => {
    it('delivers a matching event to its subscription and acknowledges it', async () => {
      await bus.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.placed'] } });
      const seen: CloudEvent[] = [];
      bus.consume('notify', (e) => void seen.push(e));
      const result = await bus.publish('orders', event('order.placed', { id: 1 }));
      expect(result.results).toEqual([{ id: expect.any(String) as string, status: 'accepted' }]);
      await until(() => seen.length === 1);
      expect(seen[0]).toMatchObject({ type: 'order.placed', data: { id: 1 }, source: '/shop' });
      // The acknowledgement is committed after the handler returns.
      await until(async () => (await bus.stats('notify')).inFlight === 0);
      expect(await bus.stats('notify')).toMatchObject({ backlog: 0, inFlight: 0, dead: 0 });
    });

    it('assigns ids that sort in publish order across separate publishes within one millisecond', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await bus.publish('orders', event('order.placed'))).results[0]!.id);
      expect([...ids].sort()).toEqual(ids);
    });

    it('routes by the event as stored, with the trace context the publish carries on', async () => {
      const trace = '0af7651916cd43dd8448eb211c80319c';
      await bus.putSubscription('traced', { bus: 'orders', pattern: { traceparent: [{ prefix: `00-${trace}-` }] } });
      await bus.publish('orders', event('order.placed'), { traceparent: `00-${trace}-b7ad6b7169203331-01` });
      await bus.publish('orders', event('order.placed'));
      expect(await bus.stats('traced')).toMatchObject({ backlog: 1 });
    });

    it('counts an id it assigned for dedupe: publishing that id again is a duplicate', async () => {
      await bus.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.placed'] } });
      const [first] = (await bus.publish('orders', event('order.placed'))).results;
      const again = await bus.publish('orders', event('order.placed', {}, { id: first!.id }));
      expect(again.results).toEqual([{ id: first!.id, status: 'duplicate' }]);
      expect(await bus.stats('notify')).toMatchObject({ backlog: 1 });
    });

    it('delivers to every matching subscription independently, and archives unmatched events', async () => {
      await bus.putSubscription('a', { bus: 'orders', pattern: { type: ['order.placed'] } });
      await bus.putSubscription('b', { bus: 'orders', pattern: { data: { total: [{ numeric: ['>', 100] }] } } });
      await bus.publish('orders', [
        event('order.placed', { total: 50 }),
        event('order.placed', { total: 500 }),
        event('order.shipped'),
      ]);
      expect(await bus.stats('a')).toMatchObject({ backlog: 2 });
      expect(await bus.stats('b')).toMatchObject({ backlog: 1 });
      const archive = await bus.queryArchive('orders');
      expect(archive.events.map((e) => e.type)).toEqual(['order.placed', 'order.placed', 'order.shipped']);
      const shipped = archive.events[2]!;
      const [lineage] = await bus.lineage('orders', shipped.id);
      expect(lineage?.deliveries).toEqual([]);
      expect(lineage?.matchesNow).toEqual([]);
    });

    it('queues deliveries while no consumer is attached and delivers once one attaches', async () => {
      await bus.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.placed'] } });
      for (let i = 0; i < 5; i++) await bus.publish('orders', event('order.placed', { i }));
      expect((await bus.stats('notify')).backlog).toBe(5);
      const seen: number[] = [];
      bus.consume('notify', (e) => void seen.push((e.data as { i: number }).i));
      await until(() => seen.length === 5);
      expect(seen.sort()).toEqual([0, 1, 2, 3, 4]);
    });

    it('pauses (the backlog grows) and resumes', async () => {
      await bus.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.placed'] } });
      const seen: CloudEvent[] = [];
      bus.consume('notify', (e) => void seen.push(e));
      // The consumer's first claim (finding nothing) completes: a claim in flight when pause is called
      // still hands out what it leased.
      await clock.advance(0);
      expect((await bus.pause('notify')).paused).toBe(true);
      await bus.publish('orders', [event('order.placed'), event('order.placed')]);
      await clock.advance(5_000);
      expect(seen).toHaveLength(0);
      expect((await bus.stats('notify')).backlog).toBe(2);
      await bus.resume('notify');
      await until(() => seen.length === 2);
    });

    it('reports duplicates of source + id within the dedupe window and accepts them after it', async () => {
      await bus.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.placed'] } });
      const e = event('order.placed', {}, { id: 'order-1' });
      expect((await bus.publish('orders', e)).results[0]?.status).toBe('accepted');
      expect((await bus.publish('orders', e)).results[0]?.status).toBe('duplicate');
      expect((await bus.publish('orders', { ...e, source: '/other' })).results[0]?.status).toBe('accepted');
      expect((await bus.stats('notify')).backlog).toBe(2);
      await clock.advance(10 * 60 * 1000 + 1);
      expect((await bus.publish('orders', e)).results[0]?.status).toBe('accepted');
    });

    it('shares commits between concurrent publishes (group commit)', async () => {
      const driver = bus.driver;
      let appends = 0;
      const original = driver.append.bind(driver);
      driver.append = (requests, now) => {
        appends++;
        return original(requests, now);
      };
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) => bus.publish('orders', event('order.placed', { i }))),
      );
      expect(results.every((r) => r.results[0]?.status === 'accepted')).toBe(true);
      expect(appends).toBeLessThan(8);
      expect((await bus.queryArchive('orders', { limit: 1000 })).events).toHaveLength(64);
    });
  });

  describe('bad input changes nothing', () => {
    it('rejects a batch with one invalid event whole, with per-event results', async () => {
      const err = await rejection(
        bus.publish('orders', [event('ok'), { specversion: '1.0', source: '/x', type: 42 }, event('ok')]),
      );
      expect(err.code).toBe('INVALID_EVENT');
      expect(err.message).toBe(
        'Event 2 of 3 (index 1): Expected `type` to be a non-empty string, got 42 (number) (nothing was published)',
      );
      expect(err.details?.['results']).toEqual([
        { index: 0, status: 'valid' },
        {
          index: 1,
          status: 'invalid',
          error: { code: 'INVALID_EVENT', message: 'Expected `type` to be a non-empty string, got 42 (number)' },
        },
        { index: 2, status: 'valid' },
      ]);
      expect((await bus.queryArchive('orders')).events).toHaveLength(0);
    });

    it('rejects oversized events, unknown buses, empty batches and non-objects', async () => {
      const big = await open({ maxEventBytes: 1_000 });
      await big.putBus('b');
      expect((await rejection(big.publish('b', event('x', 'y'.repeat(2_000))))).code).toBe('EVENT_TOO_LARGE');
      await big.close();
      expect((await rejection(bus.publish('nope', event('x')))).code).toBe('NOT_FOUND');
      expect((await rejection(bus.publish('orders', []))).message).toBe(
        'Expected at least one event, got an empty batch',
      );
      expect((await rejection(bus.publish('orders', '{"not":"an event"}'))).message).toBe(
        'Expected `specversion` to be "1.0", got undefined',
      );
      const malformed = await rejection(bus.publish('orders', '{"specversion": "1.0", '));
      expect(malformed.code).toBe('INVALID_JSON');
      expect(malformed.message).toMatch(/^Expected the events to be JSON text, got invalid JSON: /);
      expect((await rejection(bus.publish('orders', 42))).message).toBe(
        'Expected the event to be an object, got 42 (number)',
      );
      expect((await bus.queryArchive('orders')).events).toHaveLength(0);
    });

    it('accepts events as JSON text, one or a batch', async () => {
      const text = JSON.stringify([event('a'), event('b')]);
      expect((await bus.publish('orders', text)).results.map((r) => r.status)).toEqual(['accepted', 'accepted']);
      expect((await bus.publish('orders', JSON.stringify(event('c')))).results).toHaveLength(1);
      expect((await bus.queryArchive('orders')).events.map((e) => e.type)).toEqual(['a', 'b', 'c']);
    });

    it('validates subscriptions: pattern, bus, policy, target, names', async () => {
      expect((await rejection(bus.putSubscription('s', { bus: 'orders', pattern: { type: 'x' } }))).code).toBe(
        'INVALID_PATTERN',
      );
      expect((await rejection(bus.putSubscription('s', { bus: 'nope', pattern: { type: ['x'] } }))).code).toBe(
        'NOT_FOUND',
      );
      const policy = await rejection(
        bus.putSubscription('s', { bus: 'orders', pattern: { type: ['x'] }, delivery: { maxAttempts: 0 } }),
      );
      expect(policy.message).toBe('Expected `delivery.maxAttempts` to be an integer from 1 to 1000, got 0 (number)');
      const unknown = await rejection(
        bus.putSubscription('s', { bus: 'orders', pattern: { type: ['x'] }, delivery: { retries: 3 } as never }),
      );
      expect(unknown.message).toContain('delivery.retries');
      expect(
        (await rejection(bus.putSubscription('bad name!', { bus: 'orders', pattern: { type: ['x'] } }))).code,
      ).toBe('INVALID_ARGUMENT');
      expect(
        (await rejection(bus.putSubscription('s', { bus: 'orders', pattern: { type: ['x'] }, target: { url: 'x' } })))
          .code,
      ).toBe('INVALID_ARGUMENT');
      expect(bus.listSubscriptions()).toEqual([]);
      expect(errorOf(() => bus.getSubscription('s')).code).toBe('NOT_FOUND');
    });

    it('rejects bad consumer options, redrive selections and dedupe windows', async () => {
      await bus.putSubscription('s', { bus: 'orders', pattern: { type: ['x'] }, delivery: { timeoutMs: 2_000 } });
      expect(errorOf(() => bus.consume('s', () => undefined, { concurrency: 0 })).message).toBe(
        'Expected `concurrency` to be an integer from 1 to 10000, got 0 (number)',
      );
      expect(errorOf(() => bus.consume('s', () => undefined, { leaseMs: 2_500 })).message).toContain(
        "at least the subscription's timeoutMs + 1000 (3000)",
      );
      expect((await rejection(bus.deadLetters.redrive('s', { dryRun: 'yes' as never }))).message).toBe(
        'Expected `dryRun` to be a boolean, got "yes" (string)',
      );
      expect((await rejection(bus.deadLetters.redrive('s', { ids: [1], from: 'abc' as never }))).code).toBe(
        'INVALID_ARGUMENT',
      );
      expect((await rejection(bus.publish('orders', event('x'), { dedupeWindowMs: -1 }))).code).toBe(
        'INVALID_ARGUMENT',
      );
      expect((await bus.queryArchive('orders')).events).toHaveLength(0);
    });

    it('an old consumer handle does not stop a newer consumer', async () => {
      await bus.putSubscription('s', { bus: 'orders', pattern: { type: ['x'] } });
      const first = bus.consume('s', () => undefined);
      await first.stop();
      const seen: string[] = [];
      bus.consume('s', (e) => void seen.push(e.id));
      await first.stop();
      await bus.publish('orders', event('x'));
      await until(() => seen.length === 1);
    });

    it('a publish that fails on its own does not fail the others sharing its commit', async () => {
      const driver = bus.driver;
      const original = driver.append.bind(driver);
      driver.append = (requests, now) =>
        requests.some((r) => r.events.some((e) => e.type === 'poison'))
          ? Promise.reject(new Error('disk says no'))
          : original(requests, now);
      const [good, bad, other] = await Promise.allSettled([
        bus.publish('orders', event('fine')),
        bus.publish('orders', event('poison')),
        bus.publish('orders', event('fine')),
      ]);
      expect(good.status).toBe('fulfilled');
      expect(other.status).toBe('fulfilled');
      expect(bad.status === 'rejected' && (bad.reason as BusError).code).toBe('STORAGE_UNAVAILABLE');
      expect((await bus.queryArchive('orders')).events.map((e) => e.type)).toEqual(['fine', 'fine']);
    });

    it('rejects bad retention and a second consumer on one subscription', async () => {
      expect((await rejection(bus.putBus('b', { retention: { maxAgeMs: -1 } }))).message).toBe(
        'Expected `retention.maxAgeMs` to be an integer from 1 to 9007199254740991, got -1 (number)',
      );
      await bus.putSubscription('s', { bus: 'orders', pattern: { type: ['x'] } });
      bus.consume('s', () => undefined);
      expect(errorOf(() => bus.consume('s', () => undefined)).code).toBe('CONFLICT');
    });
  });

  describe('retries, timeouts and dead letters', () => {
    beforeEach(async () => {
      await bus.putSubscription('pay', {
        bus: 'orders',
        pattern: { type: ['order.placed'] },
        delivery: { maxAttempts: 3, backoff: { initialMs: 1_000, maxMs: 60_000, multiplier: 2 }, timeoutMs: 5_000 },
      });
    });

    it('retries a failing handler on the backoff schedule (full jitter) and succeeds', async () => {
      const times: number[] = [];
      bus.consume('pay', () => {
        times.push(clock.now());
        if (times.length < 3) throw new Error(`boom ${times.length}`);
      });
      const { results } = await bus.publish('orders', event('order.placed'));
      await until(() => times.length === 3, 100, 200);
      // random() = 0.5: retry 1 waits 0.5 × 1000 ms, retry 2 waits 0.5 × 2000 ms.
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(500);
      expect(times[1]! - times[0]!).toBeLessThan(600);
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1_000);
      expect(times[2]! - times[1]!).toBeLessThan(1_100);
      await until(async () => (await bus.lineage('orders', results[0]!.id))[0]?.deliveries[0]?.state === 'delivered');
      const deliveries = (await bus.lineage('orders', results[0]!.id))[0]!.deliveries;
      expect(deliveries[0]!.attempts.map((a) => [a.outcome, a.error?.message ?? null])).toEqual([
        ['error', 'boom 1'],
        ['error', 'boom 2'],
        ['success', null],
      ]);
    });

    it('dead-letters after maxAttempts, keeping the event and every attempt', async () => {
      bus.consume('pay', () => {
        throw Object.assign(new Error('card declined'), { code: 'DECLINED' });
      });
      await bus.publish('orders', event('order.placed', { total: 9 }));
      await until(async () => (await bus.stats('pay')).dead === 1, 500, 100);
      const { deadLetters } = await bus.deadLetters.list('pay');
      expect(deadLetters).toHaveLength(1);
      const dl = deadLetters[0]!;
      expect(dl.reason).toBe('max_attempts');
      expect(dl.event).toMatchObject({ type: 'order.placed', data: { total: 9 } });
      expect(dl.attempts.map((a) => [a.attempt, a.outcome, a.error?.message, a.error?.code])).toEqual([
        [1, 'error', 'card declined', 'DECLINED'],
        [2, 'error', 'card declined', 'DECLINED'],
        [3, 'error', 'card declined', 'DECLINED'],
      ]);
      expect(await bus.deadLetters.get('pay', dl.id)).toEqual(dl);
    });

    it('dead-letters at once on NonRetriableError', async () => {
      let calls = 0;
      bus.consume('pay', () => {
        calls++;
        throw new NonRetriableError('no such customer');
      });
      await bus.publish('orders', event('order.placed'));
      await until(async () => (await bus.stats('pay')).dead === 1);
      expect(calls).toBe(1);
      const { deadLetters } = await bus.deadLetters.list('pay');
      expect(deadLetters[0]).toMatchObject({
        reason: 'non_retriable',
        attempts: [{ outcome: 'non_retriable', error: { message: 'no such customer' } }],
      });
    });

    it('records the HTTP status a handler reports through its result or its error', async () => {
      const outcomes = [
        () => {
          throw Object.assign(new Error('bad gateway'), { httpStatus: 502 });
        },
        () => {
          throw new Error('no status');
        },
        () => ({ httpStatus: 204 }),
      ];
      let calls = 0;
      bus.consume('pay', () => outcomes[calls++]!());
      const { results } = await bus.publish('orders', event('order.placed'));
      const trace = async (): Promise<EventLineage> => (await bus.lineage('orders', results[0]!.id))[0]!;
      await until(async () => (await trace()).deliveries[0]?.state === 'delivered', 1_000, 100);
      expect((await trace()).deliveries[0]!.attempts.map((a) => [a.outcome, a.httpStatus])).toEqual([
        ['error', 502],
        ['error', null],
        ['success', 204],
      ]);
    });

    it('keeps the HTTP status of a non-retriable failure on the dead letter', async () => {
      bus.consume('pay', () => {
        throw Object.assign(new NonRetriableError('gone'), { httpStatus: 410 });
      });
      await bus.publish('orders', event('order.placed'));
      await until(async () => (await bus.stats('pay')).dead === 1);
      const { deadLetters } = await bus.deadLetters.list('pay');
      expect(deadLetters[0]).toMatchObject({ reason: 'non_retriable', attempts: [{ httpStatus: 410 }] });
    });

    it('retries after the delay a RetryAfterError asks for', async () => {
      const times: number[] = [];
      bus.consume('pay', () => {
        times.push(clock.now());
        if (times.length === 1) throw new RetryAfterError(7_000);
      });
      await bus.publish('orders', event('order.placed'));
      await until(() => times.length === 2, 1_000, 20);
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(7_000);
      expect(times[1]! - times[0]!).toBeLessThan(8_000);
    });

    it('counts an attempt that exceeds timeoutMs as failed and aborts its signal', async () => {
      const signals: AbortSignal[] = [];
      bus.consume('pay', (_e, ctx: DeliveryContext) => {
        signals.push(ctx.signal);
        // A well-behaved slow handler: it gives up when its signal is aborted.
        if (ctx.attempt === 1) {
          return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
        }
        return undefined;
      });
      const { results } = await bus.publish('orders', event('order.placed'));
      await until(() => signals.length === 2, 1_000, 20);
      expect(signals[0]!.aborted).toBe(true);
      await until(async () => (await bus.lineage('orders', results[0]!.id))[0]?.deliveries[0]?.state === 'delivered');
      const [trace] = await bus.lineage('orders', results[0]!.id);
      expect(trace!.deliveries[0]!.attempts.map((a) => a.outcome)).toEqual(['timeout', 'success']);
      expect(trace!.deliveries[0]!.attempts[0]!.durationMs).toBe(5_000);
    });

    it('hands a handler that reads its signal only after the timeout a signal already aborted', async () => {
      let release!: () => void;
      const late: AbortSignal[] = [];
      bus.consume('pay', async (_e, ctx: DeliveryContext) => {
        if (ctx.attempt > 1) return;
        await new Promise<void>((resolve) => (release = resolve));
        late.push(ctx.signal);
      });
      const { results } = await bus.publish('orders', event('order.placed'));
      await until(async () => {
        const [trace] = await bus.lineage('orders', results[0]!.id);
        return trace?.deliveries[0]?.attempts[0]?.outcome === 'timeout';
      }, 1_000);
      release();
      await until(() => late.length === 1, 1_000, 20);
      expect(late[0]!.aborted).toBe(true);
      expect(late[0]!.reason).toMatchObject({ name: 'AttemptTimeout', message: 'attempt timed out after 5000 ms' });
    });

    it('records a handler that throws at once, before returning anything, as a failed attempt', async () => {
      const attempts: number[] = [];
      bus.consume('pay', (_e, ctx: DeliveryContext) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) throw Object.assign(new Error('not yet'), { code: 'E_NOT_YET' });
      });
      const { results } = await bus.publish('orders', event('order.placed'));
      await until(
        async () => (await bus.lineage('orders', results[0]!.id))[0]?.deliveries[0]?.state === 'delivered',
        100,
        200,
      );
      const [trace] = await bus.lineage('orders', results[0]!.id);
      expect(trace!.deliveries[0]!.attempts.map((a) => [a.outcome, a.error?.code ?? null])).toEqual([
        ['error', 'E_NOT_YET'],
        ['success', null],
      ]);
    });

    it('dead-letters when the next retry would pass maxAgeMs', async () => {
      await bus.putSubscription('pay', {
        bus: 'orders',
        pattern: { type: ['order.placed'] },
        delivery: { maxAttempts: 10, maxAgeMs: 1_500 },
      });
      bus.consume('pay', () => {
        throw new Error('down');
      });
      await bus.publish('orders', event('order.placed'));
      await until(async () => (await bus.stats('pay')).dead === 1, 250, 100);
      expect((await bus.deadLetters.list('pay')).deadLetters[0]!.reason).toBe('max_age');
    });

    it('redelivers when a worker crashes mid-delivery: the lease expires', async () => {
      const { results } = await bus.publish('orders', event('order.placed'));
      // A worker (another process) claims, then dies without completing.
      const lost = await bus.driver.claim('pay', { max: 1, leaseMs: 10_000, ordered: false }, clock.now());
      expect(lost).toHaveLength(1);
      const seen: number[] = [];
      bus.consume('pay', (_e, ctx) => void seen.push(ctx.attempt));
      await clock.advance(5_000);
      expect(seen).toEqual([]);
      await until(() => seen.length === 1, 1_000, 20);
      expect(seen).toEqual([2]);
      await until(async () => (await bus.lineage('orders', results[0]!.id))[0]?.deliveries[0]?.state === 'delivered');
      const [trace] = await bus.lineage('orders', results[0]!.id);
      expect(trace!.deliveries[0]!.attempts.map((a) => a.outcome)).toEqual(['lease_expired', 'success']);
    });
  });

  describe('observers', () => {
    it('are told of publishes, rejections, every settled attempt, redrives and replays', async () => {
      const seen: Array<[string, unknown]> = [];
      const off = bus.observe({
        publish: (o) => seen.push(['publish', { ...o, durationMs: typeof o.durationMs }]),
        reject: (o) => seen.push(['reject', o]),
        attempt: (o) =>
          seen.push([
            'attempt',
            [o.subscription, o.record?.outcome ?? null, o.completion.kind, o.endToEndMs, o.attemptsUsed],
          ]),
        redrive: (sub, n) => seen.push(['redrive', [sub, n]]),
        replay: (sub, n) => seen.push(['replay', [sub, n]]),
      });
      await bus.putSubscription('flaky', {
        bus: 'orders',
        pattern: { type: ['a'] },
        delivery: { maxAttempts: 2, backoff: { initialMs: 100, maxMs: 100, multiplier: 1 } },
      });
      await bus.putSubscription('pulled', { bus: 'orders', pattern: { type: ['a'] }, target: { type: 'pull' } });
      await bus.publish('orders', [event('a', {}, { id: 'e-1' }), event('b')]);
      await bus.publish('orders', event('a', {}, { id: 'e-1' }));
      await rejection(bus.publish('orders', [event('a'), { specversion: '1.0' }]));
      let calls = 0;
      const flaky = bus.consume('flaky', () => {
        if (++calls === 1) throw new Error('first fails');
        throw new NonRetriableError('then gives up');
      });
      await until(async () => (await bus.stats('flaky')).dead === 1, 50);
      const [message] = await bus.pull.receive('pulled', {});
      await clock.advance(7);
      const ackedAfter = clock.now() - T0;
      await bus.pull.ack('pulled', [message!.receipt]);
      await flaky.stop(); // the redriven delivery waits
      await bus.deadLetters.redrive('flaky', {});
      const replay = await bus.replays.start({ bus: 'orders', from: T0, subscriptions: ['pulled'] });
      await bus.replays.wait(replay.id);
      const [replayed] = await bus.pull.receive('pulled', {});
      await bus.pull.ack('pulled', [replayed!.receipt]);
      off();
      await bus.publish('orders', event('b'));
      expect(seen).toEqual([
        ['publish', { bus: 'orders', accepted: 2, duplicates: 0, matched: 1, deliveries: 2, durationMs: 'number' }],
        ['publish', { bus: 'orders', accepted: 0, duplicates: 1, matched: 0, deliveries: 0, durationMs: 'number' }],
        ['reject', { bus: 'orders', code: 'INVALID_EVENT', events: 2 }],
        ['attempt', ['flaky', 'error', 'retry', null, null]],
        ['attempt', ['flaky', 'non_retriable', 'dead', null, 2]],
        ['attempt', ['pulled', 'success', 'ack', ackedAfter, 1]],
        ['redrive', ['flaky', 1]],
        ['replay', ['pulled', 1]],
        // A replayed event's age is not a delivery latency.
        ['attempt', ['pulled', 'success', 'ack', null, 1]],
      ]);
    });
  });

  describe('dead-letter queue', () => {
    beforeEach(async () => {
      await bus.putSubscription('pay', {
        bus: 'orders',
        pattern: { type: [{ prefix: 'order.' }] },
        delivery: { maxAttempts: 1 },
      });
      const consumer = bus.consume('pay', () => {
        throw new Error('down');
      });
      await bus.publish('orders', [
        event('order.placed', { n: 1 }),
        event('order.placed', { n: 2 }),
        event('order.paid', { n: 3 }),
      ]);
      await until(async () => (await bus.stats('pay')).dead === 3);
      await consumer.stop();
    });

    it('lists in pages, counts, and filters by time', async () => {
      const first = await bus.deadLetters.list('pay', { limit: 2 });
      expect(first.deadLetters.map((d) => (d.event.data as { n: number }).n)).toEqual([1, 2]);
      expect(first.cursor).not.toBeNull();
      const second = await bus.deadLetters.list('pay', { limit: 2, cursor: first.cursor! });
      expect(second.deadLetters.map((d) => (d.event.data as { n: number }).n)).toEqual([3]);
      expect(second.cursor).toBeNull();
      expect(await bus.deadLetters.count('pay')).toBe(3);
      expect(await bus.deadLetters.count('pay', { from: clock.now() + 1 })).toBe(0);
    });

    it('redrives by pattern with a dry run first, and only once', async () => {
      expect(await bus.deadLetters.redrive('pay', { pattern: { type: ['order.paid'] }, dryRun: true })).toEqual({
        count: 1,
        dryRun: true,
      });
      expect(await bus.deadLetters.count('pay')).toBe(3);
      const seen: CloudEvent[] = [];
      bus.consume('pay', (e) => void seen.push(e));
      expect(await bus.deadLetters.redrive('pay', { pattern: { type: ['order.paid'] } })).toEqual({
        count: 1,
        dryRun: false,
      });
      expect(await bus.deadLetters.redrive('pay', { pattern: { type: ['order.paid'] } })).toEqual({
        count: 0,
        dryRun: false,
      });
      await until(() => seen.length === 1);
      expect(seen[0]!.type).toBe('order.paid');
      expect(await bus.deadLetters.count('pay')).toBe(2);
    });

    it('redrives by ids idempotently, deletes one, purges the rest', async () => {
      const { deadLetters } = await bus.deadLetters.list('pay');
      const [a, b, c] = deadLetters as [(typeof deadLetters)[0], (typeof deadLetters)[0], (typeof deadLetters)[0]];
      expect((await bus.deadLetters.redrive('pay', { ids: [a.id, a.id] })).count).toBe(1);
      expect((await bus.deadLetters.redrive('pay', { ids: [a.id, 999_999] })).count).toBe(0);
      await bus.deadLetters.delete('pay', b.id);
      expect((await rejection(bus.deadLetters.delete('pay', b.id))).code).toBe('NOT_FOUND');
      expect(await bus.deadLetters.purge('pay')).toBe(1);
      expect(await bus.deadLetters.count('pay')).toBe(0);
      expect((await rejection(bus.deadLetters.get('pay', c.id))).code).toBe('NOT_FOUND');
      const [trace] = await bus.lineage('orders', a.event.id);
      expect(trace!.deliveries.map((d) => [d.state, d.redriveOf])).toEqual([
        ['redriven', null],
        ['pending', a.id],
      ]);
    });
  });

  describe('archive and replay', () => {
    beforeEach(async () => {
      await bus.putSubscription('audit', { bus: 'orders', pattern: { source: ['/shop'] } });
      await bus.putSubscription('big', { bus: 'orders', pattern: { data: { total: [{ numeric: ['>=', 100] }] } } });
      for (let i = 0; i < 10; i++) {
        await bus.publish('orders', event(i % 2 === 0 ? 'order.placed' : 'order.paid', { total: i * 25 }));
        await clock.advance(1_000);
      }
    });

    it('queries by time range, type, source and pattern, in pages', async () => {
      expect((await bus.queryArchive('orders', { from: T0 + 2_000, to: T0 + 4_000 })).events).toHaveLength(3);
      expect((await bus.queryArchive('orders', { type: 'order.paid' })).events).toHaveLength(5);
      expect((await bus.queryArchive('orders', { source: '/nowhere' })).events).toHaveLength(0);
      const byPattern = await bus.queryArchive('orders', {
        pattern: { data: { total: [{ numeric: ['>', 150] }] } },
        limit: 2,
      });
      expect(byPattern.events.map((e) => (e.data as { total: number }).total)).toEqual([175, 200]);
      const next = await bus.queryArchive('orders', {
        pattern: { data: { total: [{ numeric: ['>', 150] }] } },
        limit: 2,
        cursor: byPattern.cursor!,
      });
      expect(next.events.map((e) => (e.data as { total: number }).total)).toEqual([225]);
      expect(next.cursor).toBeNull();
      expect((await rejection(bus.queryArchive('orders', { cursor: 'abc' }))).code).toBe('INVALID_ARGUMENT');
    });

    it('replays a time range to a named subscription, marked as a replay, not archived again', async () => {
      const seen: Array<[unknown, string | null]> = [];
      bus.consume('audit', (e, ctx) => void seen.push([e['replayid'], ctx.replayId]));
      await until(() => seen.length === 10);
      seen.length = 0;
      const replay = await bus.replays.start({ bus: 'orders', from: T0, to: T0 + 4_500, subscriptions: ['audit'] });
      const done = await bus.replays.wait(replay.id);
      expect(done).toMatchObject({ state: 'completed', scanned: 5, enqueued: 5 });
      await until(() => seen.length === 5);
      expect(seen.every(([ext, ctx]) => ext === replay.id && ctx === replay.id)).toBe(true);
      expect((await bus.queryArchive('orders', { limit: 1000 })).events).toHaveLength(10);
      expect((await bus.stats('big')).backlog).toBe(6);
    });

    it('replays to every subscription whose pattern matches now, filtered by a pattern, skipping delivered events', async () => {
      const seen: string[] = [];
      bus.consume('audit', (e) => void seen.push(e.id));
      await until(() => seen.length === 10);
      const replay = await bus.replays.start({
        bus: 'orders',
        from: T0,
        pattern: { type: ['order.paid'] },
        skipDelivered: true,
      });
      const done = await bus.replays.wait(replay.id);
      // audit already had all five order.paid events; big had none delivered (no consumer): it gets the three ≥ 100.
      expect(done).toMatchObject({ state: 'completed', scanned: 10, enqueued: 3 });
      expect((await bus.stats('big')).backlog).toBe(6 + 3);
    });

    it('replays to an in-process consumer by attempting first and storing each delivery settled, with its attempt', async () => {
      const seen: Array<[string, number]> = [];
      bus.consume('audit', (e, ctx) => void seen.push([e.id, ctx.deliveryId]));
      await until(() => seen.length === 10);
      seen.length = 0;
      let completed = 0;
      const complete = bus.driver.complete.bind(bus.driver);
      bus.driver.complete = (items, now) => {
        completed += items.length;
        return complete(items, now);
      };
      const replay = await bus.replays.start({ bus: 'orders', from: T0, subscriptions: ['audit'] });
      // The step that stores the page comes after its attempts: once the replay is done, so are they.
      expect(await bus.replays.wait(replay.id)).toMatchObject({ state: 'completed', scanned: 10, enqueued: 10 });
      expect(seen).toHaveLength(10);
      expect(completed).toBe(0);
      const [id, deliveryId] = seen[3]!;
      const [lineage] = await bus.lineage('orders', id);
      const replayed = lineage!.deliveries.filter((d) => d.replayId === replay.id);
      expect(replayed).toEqual([
        expect.objectContaining({
          deliveryId,
          subscription: 'audit',
          state: 'delivered',
          attempts: [expect.objectContaining({ attempt: 1, outcome: 'success' })],
        }),
      ]);
      expect(await bus.stats('audit')).toMatchObject({ backlog: 0, inFlight: 0, dead: 0 });
    });

    it('stores a replayed delivery whose early attempt failed for its retries, or as a dead letter', async () => {
      let calls = 0;
      const replayedAttempts: number[] = [];
      bus.consume('audit', (e, ctx) => {
        if (ctx.replayId === null) return;
        calls++;
        replayedAttempts.push(ctx.attempt);
        const total = (e.data as { total: number }).total;
        if (total === 50) throw new NonRetriableError('refused');
        if (total === 75 && ctx.attempt === 1) throw new Error('flaky');
      });
      await until(async () => (await bus.stats('audit')).backlog === 0);
      const replay = await bus.replays.start({
        bus: 'orders',
        from: T0 + 2_000,
        to: T0 + 3_500,
        subscriptions: ['audit'],
      });
      expect(await bus.replays.wait(replay.id)).toMatchObject({ state: 'completed', scanned: 2, enqueued: 2 });
      expect(calls).toBe(2);
      // total 75 is retried on the backoff schedule as its second attempt; total 50 is a dead letter.
      await until(() => calls === 3, 1_000);
      expect(replayedAttempts).toEqual([1, 1, 2]);
      const dead = await bus.deadLetters.list('audit');
      expect(dead.deadLetters.map((d) => [d.reason, d.replayId, d.attempts.map((a) => a.outcome)])).toEqual([
        ['non_retriable', replay.id, ['non_retriable']],
      ]);
      await until(async () => (await bus.stats('audit')).backlog === 0);
    });

    it('renews its lease on the replay while a page of early attempts runs longer than the lease', async () => {
      const release: Array<() => void> = [];
      bus.consume('audit', (_e, ctx) =>
        ctx.replayId === null ? undefined : new Promise<void>((resolve) => release.push(resolve)),
      );
      await until(async () => (await bus.stats('audit')).backlog === 0);
      const started = clock.now();
      const replay = await bus.replays.start({ bus: 'orders', from: T0, subscriptions: ['audit'] });
      // The whole page is handed to the consumer at once (its concurrency allows ten), in flight before
      // it is stored.
      await until(() => release.length === 10);
      expect(await bus.stats('audit')).toMatchObject({ backlog: 0, inFlight: 10 });
      await clock.advance(25_000);
      // Renewed at 10 s and 20 s: another instance must not take a replay whose runner is alive.
      expect((await bus.replays.get(replay.id)).leaseUntil).toBeGreaterThanOrEqual(started + 20_000 + 30_000);
      for (;;) {
        for (const resolve of release.splice(0)) resolve();
        if ((await bus.replays.get(replay.id)).state !== 'running') break;
        await clock.advance(0);
      }
      expect(await bus.replays.wait(replay.id)).toMatchObject({ state: 'completed', enqueued: 10 });
    });

    it('pages a replay by the size of its events, so that a page of large events stays about 8 MiB', async () => {
      await bus.putSubscription('large', { bus: 'orders', pattern: { type: ['order.large'] } });
      const from = clock.now();
      const blob = 'x'.repeat(200_000);
      for (let i = 0; i < 7; i++) {
        await bus.publish(
          'orders',
          Array.from({ length: 10 }, () => event('order.large', { blob })),
        );
      }
      const steps: number[] = [];
      const advance = bus.driver.advanceReplay.bind(bus.driver);
      bus.driver.advanceReplay = (id, owner, step, now) => {
        steps.push(step.deliveries.length);
        return advance(id, owner, step, now);
      };
      const replay = await bus.replays.start({ bus: 'orders', from, subscriptions: ['large'] });
      expect(await bus.replays.wait(replay.id)).toMatchObject({ state: 'completed', scanned: 70, enqueued: 70 });
      // A first page of 20 events, then as many of ~200 kB as fit in 8 MiB, then the rest (and the end).
      expect(steps).toEqual([20, 41, 9, 0]);
    });

    it('closes without waiting for a replayed page whose handler hangs past the shutdown grace', async () => {
      const b = await open({ shutdownGraceMs: 20 });
      await b.putBus('orders');
      await b.putSubscription('audit', { bus: 'orders', pattern: { source: ['/shop'] } });
      await b.publish('orders', event('order.placed'));
      let replayed = 0;
      b.consume('audit', (_e, ctx) => {
        if (ctx.replayId === null) return;
        replayed++;
        // Ignores its signal, and the manual clock never times it out.
        return new Promise(() => undefined);
      });
      await until(async () => (await b.stats('audit')).backlog === 0);
      await b.replays.start({ bus: 'orders', from: T0, subscriptions: ['audit'] });
      await until(() => replayed === 1);
      await b.close();
    });

    it('stores replayed deliveries pending, unattempted, for a paused subscription or an ordered one', async () => {
      await bus.putSubscription('fifo', { bus: 'orders', pattern: { source: ['/shop'] }, delivery: { ordered: true } });
      const seen: Array<[string, number]> = [];
      bus.consume('fifo', (_e, ctx) => void seen.push(['fifo', ctx.attempt]));
      bus.consume('audit', (_e, ctx) => void seen.push(['audit', ctx.attempt]));
      await until(() => seen.length === 10);
      seen.length = 0;
      await bus.pause('audit');
      const replay = await bus.replays.start({
        bus: 'orders',
        from: T0,
        to: T0 + 1_500,
        subscriptions: ['audit', 'fifo'],
      });
      expect(await bus.replays.wait(replay.id)).toMatchObject({ state: 'completed', enqueued: 4 });
      expect((await bus.stats('audit')).backlog).toBe(2);
      await until(() => seen.length === 2);
      await bus.resume('audit');
      await until(() => seen.length === 4);
      expect(seen.sort()).toEqual([
        ['audit', 1],
        ['audit', 1],
        ['fifo', 1],
        ['fifo', 1],
      ]);
    });

    it('rate-limits and cancels', async () => {
      const replay = await bus.replays.start({ bus: 'orders', from: T0, subscriptions: ['audit'], ratePerSec: 2 });
      await clock.advance(1_000);
      const cancelled = await bus.replays.cancel(replay.id);
      expect(cancelled.state).toBe('cancelled');
      expect(cancelled.scanned).toBeGreaterThan(0);
      expect(cancelled.scanned).toBeLessThan(10);
      expect((await bus.replays.list('orders')).map((r) => r.id)).toEqual([replay.id]);
    });

    it('rejects bad replays', async () => {
      expect((await rejection(bus.replays.start({ bus: 'orders', from: T0 + 10, to: T0 }))).code).toBe(
        'INVALID_ARGUMENT',
      );
      expect((await rejection(bus.replays.start({ bus: 'nope', from: T0 }))).code).toBe('NOT_FOUND');
      expect((await rejection(bus.replays.start({ bus: 'orders', from: T0, subscriptions: ['ghost'] }))).code).toBe(
        'NOT_FOUND',
      );
      expect((await rejection(bus.replays.start({ bus: 'orders', from: T0, pattern: { a: 1 } }))).code).toBe(
        'INVALID_PATTERN',
      );
      expect((await rejection(bus.replays.get('nope'))).code).toBe('NOT_FOUND');
    });
  });

  describe('pull consumers', () => {
    beforeEach(async () => {
      await bus.putSubscription('inv', {
        bus: 'orders',
        pattern: { type: ['order.placed'] },
        delivery: { maxAttempts: 2, backoff: { initialMs: 1_000, maxMs: 1_000, multiplier: 1 } },
      });
    });

    it('receives leased messages with receipts and acknowledges them', async () => {
      await bus.publish('orders', [event('order.placed', { n: 1 }), event('order.placed', { n: 2 })]);
      const messages = await bus.pull.receive('inv', { max: 10 });
      expect(messages.map((m) => [(m.event.data as { n: number }).n, m.attempt])).toEqual([
        [1, 1],
        [2, 1],
      ]);
      expect(await bus.pull.receive('inv')).toEqual([]);
      const results = await bus.pull.ack(
        'inv',
        messages.map((m) => m.receipt),
      );
      expect(results.map((r) => r.status)).toEqual(['ok', 'ok']);
      expect(await bus.pull.ack('inv', [messages[0]!.receipt])).toEqual([
        { receipt: messages[0]!.receipt, status: 'stale' },
      ]);
      expect(await bus.pull.ack('inv', ['nonsense'])).toEqual([{ receipt: 'nonsense', status: 'invalid' }]);
      expect(await bus.stats('inv')).toMatchObject({ backlog: 0, inFlight: 0 });
      const [trace] = await bus.lineage('orders', messages[0]!.event.id);
      expect(trace!.deliveries[0]!.attempts.map((a) => a.outcome)).toEqual(['success']);
    });

    it('nacks to retry on the backoff schedule, then dead-letters after maxAttempts', async () => {
      await bus.publish('orders', event('order.placed'));
      const [first] = await bus.pull.receive('inv');
      expect(await bus.pull.nack('inv', [first!.receipt], { error: 'inventory down' })).toEqual([
        { receipt: first!.receipt, status: 'ok' },
      ]);
      expect(await bus.pull.receive('inv')).toEqual([]);
      await clock.advance(500);
      const [second] = await bus.pull.receive('inv');
      expect(second!.attempt).toBe(2);
      await bus.pull.nack('inv', [second!.receipt]);
      const { deadLetters } = await bus.deadLetters.list('inv');
      expect(deadLetters[0]).toMatchObject({ reason: 'max_attempts' });
      expect(deadLetters[0]!.attempts.map((a) => a.error?.message)).toEqual([
        'inventory down',
        'nacked by the consumer',
      ]);
    });

    it('nack with deadLetter dead-letters at once; a lease taken over makes the old receipt stale; extend keeps one', async () => {
      await bus.publish('orders', [event('order.placed'), event('order.placed')]);
      const [a, b] = await bus.pull.receive('inv', { leaseMs: 5_000 });
      expect((await bus.pull.extend('inv', [b!.receipt], 60_000))[0]!.status).toBe('ok');
      await clock.advance(6_000);
      const [again] = await bus.pull.receive('inv');
      expect([again!.attempt, again!.event.id]).toEqual([2, a!.event.id]);
      expect((await bus.pull.ack('inv', [a!.receipt]))[0]!.status).toBe('stale');
      expect((await bus.pull.ack('inv', [again!.receipt]))[0]!.status).toBe('ok');
      expect((await bus.pull.nack('inv', [b!.receipt], { deadLetter: true }))[0]!.status).toBe('ok');
      expect((await bus.deadLetters.list('inv')).deadLetters[0]!.reason).toBe('non_retriable');
    });

    it('long-polls until an event arrives, and validates its input', async () => {
      const waiting = bus.pull.receive('inv', { waitMs: 10_000 });
      await clock.advance(200);
      await bus.publish('orders', event('order.placed', { late: true }));
      await clock.advance(0);
      const messages = await waiting;
      expect(messages.map((m) => m.event.data)).toEqual([{ late: true }]);
      expect((await rejection(bus.pull.receive('inv', { max: 0 }))).message).toBe(
        'Expected `max` to be an integer from 1 to 1000, got 0 (number)',
      );
      expect((await rejection(bus.pull.ack('inv', []))).code).toBe('INVALID_ARGUMENT');
      expect((await rejection(bus.pull.receive('ghost'))).code).toBe('NOT_FOUND');
    });
  });

  describe('ordering', () => {
    it('delivers events with the same partition key one at a time, in publish order, even across retries', async () => {
      await bus.putSubscription('fifo', {
        bus: 'orders',
        pattern: { type: ['order.updated'] },
        delivery: {
          ordered: true,
          concurrency: 10,
          maxAttempts: 5,
          backoff: { initialMs: 100, maxMs: 100, multiplier: 1 },
        },
      });
      const log: string[] = [];
      let failedOnce = false;
      bus.consume('fifo', (e) => {
        const { key, n } = e.data as { key: string; n: number };
        if (key === 'a' && n === 0 && !failedOnce) {
          failedOnce = true;
          throw new Error('transient');
        }
        log.push(`${key}${n}`);
      });
      const batch = [];
      for (let n = 0; n < 4; n++)
        for (const key of ['a', 'b']) batch.push(event('order.updated', { key, n }, { partitionkey: key }));
      await bus.publish('orders', batch);
      await until(() => log.length === 8, 100, 100);
      expect(log.filter((x) => x.startsWith('a'))).toEqual(['a0', 'a1', 'a2', 'a3']);
      expect(log.filter((x) => x.startsWith('b'))).toEqual(['b0', 'b1', 'b2', 'b3']);
    });
  });

  describe('subscriptions and buses', () => {
    it('tells change listeners about puts, pauses and deletes, until removed', async () => {
      const seen: string[] = [];
      const off = bus.onSubscriptionChange(({ kind, subscription }) => {
        seen.push(`${kind} ${subscription.name} ${subscription.paused}`);
      });
      await bus.putSubscription('s', { bus: 'orders', pattern: { type: ['a'] } });
      await bus.pause('s');
      await bus.deleteSubscription('s');
      await bus.putSubscription('t', { bus: 'orders', pattern: { type: ['a'] } });
      await bus.deleteBus('orders');
      off();
      await bus.putBus('orders');
      await bus.putSubscription('u', { bus: 'orders', pattern: { type: ['a'] } });
      expect(seen).toEqual(['put s false', 'put s true', 'delete s true', 'put t false', 'delete t false']);
    });

    it('updates a subscription without losing its queue, lists and deletes', async () => {
      await bus.putSubscription('s', { bus: 'orders', pattern: { type: ['a'] } });
      await bus.publish('orders', event('a'));
      const updated = await bus.putSubscription('s', {
        bus: 'orders',
        pattern: { type: ['b'] },
        delivery: { maxAttempts: 2 },
      });
      expect(updated.delivery.maxAttempts).toBe(2);
      expect(updated.delivery.timeoutMs).toBe(30_000);
      expect((await bus.stats('s')).backlog).toBe(1);
      await bus.publish('orders', [event('a'), event('b')]);
      expect((await bus.stats('s')).backlog).toBe(2);
      expect(bus.listSubscriptions('orders').map((s) => s.name)).toEqual(['s']);
      await bus.deleteSubscription('s');
      expect(bus.listSubscriptions()).toEqual([]);
    });

    it('persists buses and subscriptions across reopen of the same storage', async () => {
      await bus.putSubscription('s', { bus: 'orders', pattern: { type: ['a'] } });
      const driver = bus.driver;
      const reopened = await open({ storage: driver });
      expect(reopened.listBuses().map((b) => b.name)).toEqual(['orders']);
      expect(reopened.getSubscription('s').pattern).toBe('{"type":["a"]}');
    });

    it('deletes a bus with its subscriptions', async () => {
      await bus.putSubscription('s', { bus: 'orders', pattern: { type: ['a'] } });
      await bus.deleteBus('orders');
      expect(bus.listBuses()).toEqual([]);
      expect(bus.listSubscriptions()).toEqual([]);
    });

    it('closes within the grace period even when a handler ignores its aborted signal', async () => {
      const impatient = await open({ shutdownGraceMs: 50 });
      await impatient.putBus('b');
      await impatient.putSubscription('s', { bus: 'b', pattern: { type: ['x'] } });
      let started = false;
      impatient.consume('s', () => {
        started = true;
        return new Promise(() => undefined);
      });
      await impatient.publish('b', event('x'));
      await until(() => started);
      const t = Date.now();
      await impatient.close();
      expect(Date.now() - t).toBeLessThan(2_000);
    });

    it('applies archive retention on schedule, keeping events still owed to a subscription', async () => {
      await bus.putBus('short', { retention: { maxAgeMs: 1_000 } });
      await bus.putSubscription('keep', { bus: 'short', pattern: { type: ['owed'] } });
      await bus.publish('short', [event('owed'), event('archived-only')]);
      await clock.advance(60_000);
      // Maintenance runs on its timer; with a server in between (PostgreSQL) it takes a little real time.
      await until(async () => (await bus.queryArchive('short')).events.length === 1);
      const left = await bus.queryArchive('short');
      expect(left.events.map((e) => e.type)).toEqual(['owed']);
      expect((await bus.stats('keep')).backlog).toBe(1);
    });

    it('refuses calls after close', async () => {
      await bus.close();
      expect((await rejection(bus.publish('orders', event('a')))).code).toBe('CLOSED');
      bus = await open();
    });
  });
});
