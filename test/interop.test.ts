/**
 * Interop with clients no one here wrote: the official CloudEvents JavaScript SDK (`cloudevents`)
 * publishes over real HTTP and parses webhook deliveries, and the Standard Webhooks reference library
 * (`standardwebhooks`) verifies their signatures. Server and receiver listen on 127.0.0.1, port 0.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEvent, HTTP } from 'cloudevents';
import type { FastifyInstance } from 'fastify';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Busbar } from '../src/busbar.js';
import { buildServer } from '../src/server/index.js';
import { WebhookRunner } from '../src/server/webhooks/index.js';

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const OTHER_SECRET = `whsec_${Buffer.from('fedcba9876543210fedcba9876543210').toString('base64')}`;

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

let bus: Busbar;
let app: FastifyInstance;
let base: string;
let receiver: Server;
let hookUrl: string;
let received: Received[];
let runner: WebhookRunner;
let errors: unknown[];

/** An SDK event with JSON data and string extensions (the only type that survives binary mode as is). */
function sdkEvent(id: string, extra: Record<string, unknown> = {}): CloudEvent<unknown> {
  return new CloudEvent<unknown>({
    id,
    source: '/shop',
    type: 'order.placed',
    subject: 'order-42',
    time: '2026-11-27T10:00:00.000Z',
    datacontenttype: 'application/json',
    data: { id: 42, note: 'café', items: [1, 2] },
    partitionkey: 'customer-7',
    tenant: 'acme',
    ...extra,
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 4_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** POSTs what `HTTP.binary` / `HTTP.structured` produced, as the SDK's users would with fetch. */
async function post(message: { headers: Record<string, unknown>; body: unknown }): Promise<Response> {
  const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, String(v)]));
  const raw = message.body as string | Uint8Array | undefined;
  const body = raw === undefined || typeof raw === 'string' ? raw : new Uint8Array(raw);
  return fetch(`${base}/v1/buses/orders/events`, { method: 'POST', headers, body });
}

async function stored(): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${base}/v1/buses/orders/events`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: Array<Record<string, unknown>> }).events;
}

/** The SDK's view of a delivery: `HTTP.toEvent` over the headers and body the receiver got. */
function parse(r: Received): CloudEvent<unknown> {
  const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)]));
  const event = HTTP.toEvent<unknown>({ headers, body: r.body.toString('utf8') });
  if (!(event instanceof CloudEvent)) throw new Error('expected one event');
  return event as CloudEvent<unknown>;
}

function signed(r: Received): Record<string, string> {
  return {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  };
}

beforeEach(async () => {
  received = [];
  errors = [];
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  bus = await Busbar.open({ storage: 'memory', pollIntervalMs: 20, onError: (err) => errors.push(err) });
  await bus.putBus('orders');
  app = buildServer(bus);
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  runner = new WebhookRunner(bus, { onError: (err) => errors.push(err) });
  runner.start();
});

afterEach(async () => {
  await runner.stop();
  await app.close();
  await bus.close();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
  expect(errors).toEqual([]);
});

describe('publishing with the cloudevents SDK', () => {
  it.each([
    ['binary', HTTP.binary],
    ['structured', HTTP.structured],
  ] as const)('accepts %s mode and stores the event unchanged', async (mode, encode) => {
    const original = sdkEvent(`sdk-${mode}`);
    const res = await post(encode(original));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ results: [{ id: `sdk-${mode}`, status: 'accepted' }] });
    const events = await stored();
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      specversion: '1.0',
      id: `sdk-${mode}`,
      source: '/shop',
      type: 'order.placed',
      subject: 'order-42',
      time: '2026-11-27T10:00:00.000Z',
      datacontenttype: 'application/json',
      data: { id: 42, note: 'café', items: [1, 2] },
      partitionkey: 'customer-7',
      tenant: 'acme',
    });
  });

  it('keeps integer and boolean extensions in structured mode', async () => {
    const original = sdkEvent('sdk-typed', { priority: 5, urgent: true });
    const res = await post(HTTP.structured(original));
    expect(res.status).toBe(200);
    expect((await stored())[0]).toMatchObject({ id: 'sdk-typed', priority: 5, urgent: true, tenant: 'acme' });
  });

  it('accepts binary mode with text and octet-stream data', async () => {
    const text = new CloudEvent<unknown>({
      id: 'sdk-text',
      source: '/shop',
      type: 'note',
      datacontenttype: 'text/plain',
      data: 'hello, world',
    });
    const bytes = new CloudEvent<unknown>({
      id: 'sdk-bytes',
      source: '/shop',
      type: 'blob',
      datacontenttype: 'application/octet-stream',
      data: new Uint8Array([0, 1, 2, 255]),
    });
    for (const e of [text, bytes]) {
      const res = await post(HTTP.binary(e));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ results: [{ id: e.id, status: 'accepted' }] });
    }
    const [storedText, storedBytes] = await stored();
    expect(storedText).toMatchObject({ id: 'sdk-text', datacontenttype: 'text/plain', data: 'hello, world' });
    expect(storedBytes).toMatchObject({
      id: 'sdk-bytes',
      datacontenttype: 'application/octet-stream',
      data_base64: 'AAEC/w==',
    });
    expect(storedBytes).not.toHaveProperty('data');
  });
});

describe('webhook deliveries read by the cloudevents SDK and standardwebhooks', () => {
  it.each(['binary', 'structured'] as const)(
    'delivers in %s mode: HTTP.toEvent gives back the original, Webhook.verify accepts it',
    async (mode) => {
      await bus.putSubscription('hook', {
        bus: 'orders',
        pattern: { type: ['order.placed'] },
        target: { type: 'webhook', url: hookUrl, mode, secret: SECRET },
        delivery: { maxAttempts: 1, timeoutMs: 2_000 },
      });
      await runner.idle();
      const original = sdkEvent(`hook-${mode}`);
      // Published through the HTTP API in the other mode, so both directions are exercised together.
      const res = await post(mode === 'binary' ? HTTP.structured(original) : HTTP.binary(original));
      expect(res.status).toBe(200);
      await waitFor(() => received.length === 1);
      const r = received[0]!;

      if (mode === 'binary') {
        expect(r.headers).toMatchObject({ 'ce-id': 'hook-binary', 'content-type': 'application/json' });
      } else {
        expect(r.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
        expect(r.headers['ce-id']).toBeUndefined();
      }
      const parsed = parse(r);
      expect(parsed.toJSON()).toEqual(original.toJSON());
      expect(parsed.data).toEqual({ id: 42, note: 'café', items: [1, 2] });

      const webhook = new Webhook(SECRET);
      expect(r.headers['webhook-id']).toMatch(/^dlv_\d+$/);
      expect(() => webhook.verify(r.body, signed(r))).not.toThrow();
      const tampered = Buffer.from(r.body.toString('utf8').replace('café', 'cafe'));
      expect(tampered.equals(r.body)).toBe(false);
      expect(() => webhook.verify(tampered, signed(r))).toThrow(WebhookVerificationError);
      expect(() => new Webhook(OTHER_SECRET).verify(r.body, signed(r))).toThrow(WebhookVerificationError);

      // The attempt is recorded after the receiver answered; wait for it rather than race it.
      const attempts = async (): Promise<unknown[][]> =>
        ((await bus.lineage('orders', `hook-${mode}`))[0]?.deliveries[0]?.attempts ?? []).map((a) => [
          a.outcome,
          a.httpStatus,
        ]);
      await waitFor(async () => (await attempts()).length > 0);
      expect(await attempts()).toEqual([['success', 204]]);
    },
  );
});

/**
 * Known divergence, pinned so it is seen: CloudEvents HTTP binding §3.1.3.2 requires percent-encoding
 * ce-* header values (space, `"`, `%`, non-printable-ASCII) on send and decoding on receive. Busbar
 * does both; cloudevents 10.0.0 does neither (cloudevents/spec#1397 measures the same gap in sdk-go
 * and sdk-java). Structured mode is unaffected.
 */
describe('percent-encoding of binary-mode header values (SDK does not implement §3.1.3.2)', () => {
  it('the SDK reads escapes in Busbar binary deliveries literally', async () => {
    await bus.putSubscription('hook', {
      bus: 'orders',
      pattern: { type: ['order.placed'] },
      target: { type: 'webhook', url: hookUrl, mode: 'binary' },
      delivery: { maxAttempts: 1, timeoutMs: 2_000 },
    });
    await runner.idle();
    await bus.publish('orders', sdkEvent('pct', { subject: 'order 42' }).toJSON());
    await waitFor(() => received.length === 1);
    const r = received[0]!;
    expect(r.headers['ce-subject']).toBe('order%2042');
    expect(parse(r).subject).toBe('order%2042');
    expect(decodeURIComponent(parse(r).subject!)).toBe('order 42');
  });

  it('Busbar takes an SDK binary event whose header holds a bare "%" as sent, like structured mode', async () => {
    const original = sdkEvent('pct-off', { subject: '50% off' });
    const binary = HTTP.binary(original);
    expect(binary.headers['ce-subject']).toBe('50% off');
    const res = await post(binary);
    expect(res.status).toBe(200);
    expect((await stored()).map((e) => e['subject'])).toEqual(['50% off']);
  });
});
