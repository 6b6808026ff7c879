/**
 * Webhook delivery end to end: a real HTTP receiver on 127.0.0.1, the engine on the memory driver with
 * short backoff, and the runner following subscription changes.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Busbar } from '../src/busbar.js';
import { BusError } from '../src/core/errors.js';
import type { DeliveryPolicyInput } from '../src/core/engine/policy.js';
import { TokenBucket, WebhookRunner, parseRetryAfter } from '../src/server/webhooks/index.js';

const SECRET_BYTES = Buffer.from('0123456789abcdef0123456789abcdef');
const SECRET = `whsec_${SECRET_BYTES.toString('base64')}`;

interface Received {
  readonly at: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Hold the response this long (the request times out first). */
  delayMs?: number;
}

let server: Server;
let url: string;
let received: Received[];
/** The reply to the n-th request (0-based); the last one repeats. */
let replies: Reply[];
let bus: Busbar;
let runner: WebhookRunner;
let errors: unknown[];

const policy: DeliveryPolicyInput = {
  maxAttempts: 4,
  backoff: { initialMs: 10, maxMs: 20, multiplier: 2 },
  timeoutMs: 2_000,
};

const event = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  specversion: '1.0',
  id: 'evt-1',
  source: '/shop',
  type: 'order.placed',
  subject: 'order 42',
  data: { id: 42, note: 'café' },
  ...extra,
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 4_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached');
}

async function hook(target: Record<string, unknown> = {}, name = 'hook'): Promise<void> {
  await bus.putSubscription(name, {
    bus: 'orders',
    pattern: { type: ['order.placed'] },
    target: { type: 'webhook', url, ...target },
    delivery: policy,
  });
}

async function attemptsOf(id: string): Promise<Array<[string, number | null]>> {
  const delivery = (await bus.lineage('orders', id))[0]?.deliveries[0];
  return delivery === undefined ? [] : delivery.attempts.map((a) => [a.outcome, a.httpStatus]);
}

function signatureOf(r: Received): string {
  const content = `${String(r.headers['webhook-id'])}.${String(r.headers['webhook-timestamp'])}.${r.body.toString()}`;
  return `v1,${createHmac('sha256', SECRET_BYTES).update(content).digest('base64')}`;
}

beforeEach(async () => {
  received = [];
  replies = [{ status: 200 }];
  errors = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = replies[Math.min(received.length, replies.length - 1)]!;
      received.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks) });
      const send = (): void => {
        if (!res.writable) return;
        res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
      };
      if (reply.delayMs === undefined) send();
      else setTimeout(send, reply.delayMs).unref();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  bus = await Busbar.open({ storage: 'memory', pollIntervalMs: 50, onError: (err) => errors.push(err) });
  await bus.putBus('orders');
  runner = new WebhookRunner(bus, { onError: (err) => errors.push(err) });
  runner.start();
});

afterEach(async () => {
  await runner.stop();
  await bus.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  expect(errors).toEqual([]);
});

describe('webhook delivery', () => {
  it('POSTs in binary mode: ce-* headers, data as the body, signed per Standard Webhooks', async () => {
    await hook({ secret: SECRET });
    await bus.publish('orders', event({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }));
    await waitFor(() => received.length === 1);
    const r = received[0]!;
    expect(r.headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-id': 'evt-1',
      'ce-source': '/shop',
      'ce-type': 'order.placed',
      // CloudEvents HTTP binding: spaces in header values are percent-encoded.
      'ce-subject': 'order%2042',
      'content-type': 'application/json',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(r.headers['ce-data']).toBeUndefined();
    expect(JSON.parse(r.body.toString())).toEqual({ id: 42, note: 'café' });
    expect(r.headers['webhook-id']).toMatch(/^dlv_\d+$/);
    expect(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(r.headers['webhook-signature']).toBe(signatureOf(r));
  });

  it('sends a text payload as is, with its content type', async () => {
    await hook();
    await bus.publish('orders', event({ datacontenttype: 'text/plain', data: 'hello' }));
    await waitFor(() => received.length === 1);
    expect(received[0]!.headers['content-type']).toBe('text/plain');
    expect(received[0]!.headers['ce-datacontenttype']).toBeUndefined();
    expect(received[0]!.body.toString()).toBe('hello');
    expect(received[0]!.headers['webhook-signature']).toBeUndefined();
  });

  it('POSTs in structured mode: the whole event as application/cloudevents+json', async () => {
    await hook({ mode: 'structured', secret: SECRET });
    await bus.publish('orders', event());
    await waitFor(() => received.length === 1);
    const r = received[0]!;
    expect(r.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    expect(r.headers['ce-id']).toBeUndefined();
    expect(JSON.parse(r.body.toString())).toMatchObject({ id: 'evt-1', type: 'order.placed', data: { id: 42 } });
    expect(r.headers['webhook-signature']).toBe(signatureOf(r));
  });

  it('retries a 500 and records each status on the attempts', async () => {
    replies = [{ status: 500, body: 'database down' }, { status: 200 }];
    await hook();
    const { results } = await bus.publish('orders', event());
    await waitFor(async () => (await attemptsOf(results[0]!.id)).length === 2);
    expect(await attemptsOf(results[0]!.id)).toEqual([
      ['error', 500],
      ['success', 200],
    ]);
    const first = (await bus.lineage('orders', 'evt-1'))[0]!.deliveries[0]!.attempts[0]!;
    expect(first.error?.message).toBe('webhook answered 500: database down');
    expect(first.responseBody).toBe('database down');
    expect((await bus.lineage('orders', 'evt-1'))[0]!.deliveries[0]!.attempts[1]!.responseBody).toBeNull();
    // Standard Webhooks: the same message id on every retry.
    expect(received[1]!.headers['webhook-id']).toBe(received[0]!.headers['webhook-id']);
  });

  it('dead-letters a 400 at once, with the status, a 200-character excerpt and the first KiB of the body', async () => {
    replies = [{ status: 400, body: `invalid order ${'x'.repeat(2000)}` }];
    await hook();
    await bus.publish('orders', event());
    await waitFor(async () => (await bus.stats('hook')).dead === 1);
    expect(received).toHaveLength(1);
    const dl = (await bus.deadLetters.list('hook')).deadLetters[0]!;
    expect(dl).toMatchObject({ reason: 'non_retriable', attempts: [{ outcome: 'non_retriable', httpStatus: 400 }] });
    const message = dl.attempts[0]!.error!.message;
    expect(message.startsWith('webhook answered 400: invalid order xxx')).toBe(true);
    expect(message.length).toBe('webhook answered 400: '.length + 200);
    expect(dl.attempts[0]!.responseBody).toBe(`invalid order ${'x'.repeat(1024 - 'invalid order '.length)}`);
  });

  it('honours Retry-After on 429', async () => {
    replies = [{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }];
    await hook();
    const { results } = await bus.publish('orders', event());
    await waitFor(() => received.length === 2);
    expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(950);
    await waitFor(async () => (await attemptsOf(results[0]!.id)).length === 2);
    expect(await attemptsOf(results[0]!.id)).toEqual([
      ['error', 429],
      ['success', 200],
    ]);
  });

  it('retries a request that times out', async () => {
    replies = [{ status: 200, delayMs: 1_000 }, { status: 200 }];
    await hook({ timeoutMs: 100 });
    const { results } = await bus.publish('orders', event());
    await waitFor(async () => (await attemptsOf(results[0]!.id)).length === 2);
    expect(await attemptsOf(results[0]!.id)).toEqual([
      ['error', null],
      ['success', 200],
    ]);
    const first = (await bus.lineage('orders', 'evt-1'))[0]!.deliveries[0]!.attempts[0]!;
    expect(first.error).toMatchObject({ message: 'webhook timed out after 100 ms', code: 'TIMEOUT' });
  });

  it('retries connection errors', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
    await new Promise((resolve) => closed.close(resolve));
    await hook({ url: deadUrl });
    const { results } = await bus.publish('orders', event());
    await waitFor(async () => (await bus.stats('hook')).dead === 1);
    const attempts = (await bus.lineage('orders', results[0]!.id))[0]!.deliveries[0]!.attempts;
    expect(attempts.map((a) => [a.outcome, a.httpStatus, a.error?.code])).toEqual(
      Array.from({ length: 4 }, () => ['error', null, 'ECONNREFUSED']),
    );
  });
});

describe('the webhook runner', () => {
  it('starts for a subscription created after start and stops for a deleted one', async () => {
    expect(runner.names()).toEqual([]);
    await hook({}, 'late');
    await runner.idle();
    expect(runner.names()).toEqual(['late']);
    await bus.publish('orders', event());
    await waitFor(() => received.length === 1);
    await bus.deleteSubscription('late');
    await runner.idle();
    expect(runner.names()).toEqual([]);
    await hook({}, 'late');
    await bus.putSubscription('late', { bus: 'orders', pattern: { type: ['order.placed'] }, target: { type: 'pull' } });
    await runner.idle();
    expect(runner.names()).toEqual([]);
    await bus.publish('orders', event({ id: 'evt-2' }));
    expect((await bus.stats('late')).backlog).toBe(1);
    expect(received).toHaveLength(1);
  });

  it('picks up subscriptions that exist before it starts, and restarts on a target change', async () => {
    await runner.stop();
    await hook({}, 'early');
    runner = new WebhookRunner(bus, { onError: (err) => errors.push(err) });
    runner.start();
    await runner.idle();
    expect(runner.names()).toEqual(['early']);
    await hook({ mode: 'structured' }, 'early');
    await runner.idle();
    await bus.publish('orders', event());
    await waitFor(() => received.length === 1);
    expect(received[0]!.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
  });

  it('spaces requests by ratePerSec', async () => {
    await hook({ ratePerSec: 20, concurrency: 5 });
    await bus.publish(
      'orders',
      Array.from({ length: 25 }, (_, i) => event({ id: `evt-${i}` })),
    );
    await waitFor(() => received.length === 25);
    // A burst of 20 (one second's worth), then one every 50 ms.
    expect(received[24]!.at - received[0]!.at).toBeGreaterThanOrEqual(200);
  });
});

describe('target validation', () => {
  const put = async (target: Record<string, unknown>): Promise<BusError> => {
    try {
      await bus.putSubscription('v', { bus: 'orders', pattern: { type: ['x'] }, target });
    } catch (err) {
      if (err instanceof BusError) return err;
      throw err;
    }
    throw new Error('expected a BusError');
  };

  it('names the field, what was expected and what came', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ type: 'email' }, 'Expected `target.type` to be one of "handler", "pull", "webhook", got "email" (string)'],
      [{ type: 'webhook' }, 'Expected `target.url` to be an absolute http or https URL, got undefined'],
      [
        { type: 'webhook', url: 'ftp://x/' },
        'Expected `target.url` to be an absolute http or https URL, got "ftp://x/" (string)',
      ],
      [
        { type: 'webhook', url: '/relative' },
        'Expected `target.url` to be an absolute http or https URL, got "/relative" (string)',
      ],
      [
        { type: 'webhook', url, mode: 'batch' },
        'Expected `target.mode` to be "binary" or "structured", got "batch" (string)',
      ],
      [
        { type: 'webhook', url, secret: 'abc' },
        'Expected `target.secret` to be "whsec_" followed by the base64 of at least 16 bytes, got "abc" (string)',
      ],
      [
        { type: 'webhook', url, secret: 'whsec_c2hvcnQ=' },
        'Expected `target.secret` to be "whsec_" followed by the base64 of at least 16 bytes, got "whsec_c2hvcnQ=" (string)',
      ],
      [
        { type: 'webhook', url, timeoutMs: 0 },
        'Expected `target.timeoutMs` to be an integer from 1 to 900000, got 0 (number)',
      ],
      [
        { type: 'webhook', url, concurrency: 1001 },
        'Expected `target.concurrency` to be an integer from 1 to 1000, got 1001 (number)',
      ],
      [
        { type: 'webhook', url, ratePerSec: -1 },
        'Expected `target.ratePerSec` to be a positive number, got -1 (number)',
      ],
      [
        { type: 'webhook', url, headers: {} },
        'Expected `target.headers` to be one of type, url, mode, secret, timeoutMs, concurrency, ratePerSec (unknown field), got "headers" (string)',
      ],
      [{ type: 'pull', url }, 'Expected `target.url` to be absent: a pull target has only `type`, got "url" (string)'],
    ];
    for (const [target, message] of cases) {
      const err = await put(target);
      expect([err.code, err.message]).toEqual(['INVALID_ARGUMENT', message]);
    }
    expect(bus.listSubscriptions()).toEqual([]);
  });

  it('stores a valid target with the default mode', async () => {
    const sub = await bus.putSubscription('v', {
      bus: 'orders',
      pattern: { type: ['x'] },
      target: { type: 'webhook', url, secret: SECRET, timeoutMs: 900_000, concurrency: 1, ratePerSec: 0.5 },
    });
    expect(sub.target).toEqual({
      type: 'webhook',
      url,
      mode: 'binary',
      secret: SECRET,
      timeoutMs: 900_000,
      concurrency: 1,
      ratePerSec: 0.5,
    });
  });
});

describe('helpers', () => {
  it('parses Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3)', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });

  it('the token bucket allows a burst of one second, then one token per 1000 / rate ms', () => {
    let now = 0;
    const bucket = new TokenBucket(2, () => now);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 500, 1000]);
    now = 1_000;
    expect(bucket.reserve()).toBe(500);
    bucket.refund();
    now = 3_000;
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 500]);
  });
});
