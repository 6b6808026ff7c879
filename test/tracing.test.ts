/**
 * Tracing: spans for publish, match and every attempt, joined through the `traceparent` each stored
 * event carries; the webhook request and the pull consumer continue the attempt's span. In-process
 * with an in-memory exporter, then through `busbar start` exporting OTLP/HTTP (protobuf) to a local collector.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Busbar } from '../src/busbar.js';
import type { CloudEvent } from '../src/core/events.js';
import type { DeliveryContext } from '../src/core/engine/dispatcher.js';
import { parentContext, parseTraceparent } from '../src/core/engine/tracing.js';
import { WebhookRunner } from '../src/server/webhooks/index.js';
import { decodeTraceRequest, type DecodedSpan } from './support/otlp.js';

const CALLER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const CALLER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const event = (extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  source: '/shop',
  type: 'order.placed',
  ...extra,
});
const until = async (check: () => boolean | Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not reached');
};

describe('with a tracer provider', () => {
  let exporter: InMemorySpanExporter;
  let provider: BasicTracerProvider;
  let bus: Busbar;

  beforeEach(async () => {
    // A fresh exporter each time: shutting the provider down stops its exporter for good.
    exporter = new InMemorySpanExporter();
    provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
    bus = await Busbar.open({ storage: 'memory', pollIntervalMs: 50 });
    await bus.putBus('orders');
  });

  afterEach(async () => {
    await bus.close();
    await provider.shutdown();
    trace.disable();
  });

  const spans = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);

  it('traces publish and match under the caller, and the event carries the publish span on', async () => {
    const [stored] = (await bus.publish('orders', event(), { traceparent: CALLER })).results;
    const [publish] = spans('publish orders');
    const [match] = spans('match orders');
    expect(publish!.spanContext().traceId).toBe(CALLER_TRACE);
    expect(publish!.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(publish!.attributes).toMatchObject({ 'messaging.destination.name': 'orders' });
    expect(publish!.attributes).not.toHaveProperty('messaging.batch.message_count');
    await bus.publish('orders', [event(), event()]);
    expect(spans('publish orders')[1]!.attributes['messaging.batch.message_count']).toBe(2);
    expect(match!.parentSpanContext?.spanId).toBe(publish!.spanContext().spanId);
    const archived = (await bus.queryArchive('orders')).events.find((e) => e.id === stored!.id)!;
    expect(archived['traceparent']).toBe(`00-${CALLER_TRACE}-${publish!.spanContext().spanId}-01`);
    // An event with its own trace context keeps it.
    const own = '00-11111111111111111111111111111111-2222222222222222-01';
    const [kept] = (await bus.publish('orders', event({ traceparent: own }), { traceparent: CALLER })).results;
    const keptEvent = (await bus.queryArchive('orders')).events.find((e) => e.id === kept!.id)!;
    expect(keptEvent['traceparent']).toBe(own);
    // A failed publish ends its span as an error.
    await bus.publish('orders', { specversion: '1.0' }).catch(() => undefined);
    expect(spans('publish orders').at(-1)!.status.code).toBe(2);
  });

  it('traces every attempt under the event, and hands the attempt span to the handler', async () => {
    await bus.putSubscription('notify', {
      bus: 'orders',
      pattern: { type: ['order.placed'] },
      delivery: { maxAttempts: 3, backoff: { initialMs: 10, maxMs: 10, multiplier: 1 } },
    });
    const seen: Array<{ event: CloudEvent; context: DeliveryContext }> = [];
    bus.consume('notify', (e, context) => {
      seen.push({ event: e, context });
      if (seen.length === 1) throw new Error('first try fails');
    });
    await bus.publish('orders', event(), { traceparent: CALLER });
    await until(() => spans('deliver notify').length === 2);
    const [publish] = spans('publish orders');
    const [failed, ok] = spans('deliver notify');
    for (const span of [failed!, ok!]) {
      expect(span.spanContext().traceId).toBe(CALLER_TRACE);
      expect(span.parentSpanContext?.spanId).toBe(publish!.spanContext().spanId);
    }
    expect(failed!.status.code).toBe(2);
    expect(failed!.attributes).toMatchObject({
      'busbar.attempt': 1,
      'busbar.completion': 'retry',
      'busbar.outcome': 'error',
    });
    expect(ok!.attributes).toMatchObject({
      'busbar.attempt': 2,
      'busbar.completion': 'ack',
      'busbar.outcome': 'success',
    });
    expect(seen[1]!.context.traceparent).toBe(`00-${CALLER_TRACE}-${ok!.spanContext().spanId}-01`);
  });

  it('makes one trace from the publish across the webhook hop into the receiver', async () => {
    // The receiver is a traced service too: its span continues the traceparent header it gets.
    const receiver = http.createServer((req, res) => {
      const parent = parentContext(parseTraceparent(req.headers['traceparent']));
      const span = trace.getTracer('receiver').startSpan('receive order', {}, parent);
      req.resume();
      req.on('end', () => {
        span.end();
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const runner = new WebhookRunner(bus);
    try {
      const { port } = receiver.address() as { port: number };
      await bus.putSubscription('hook', {
        bus: 'orders',
        pattern: { type: ['order.placed'] },
        target: { type: 'webhook', url: `http://127.0.0.1:${port}/orders` },
      });
      runner.start();
      await bus.publish('orders', event(), { traceparent: CALLER });
      await until(() => spans('receive order').length === 1 && spans('deliver hook').length === 1);
      const [publish] = spans('publish orders');
      const [deliver] = spans('deliver hook');
      const [received] = spans('receive order');
      const ids = [publish!, deliver!, received!].map((span) => span.spanContext().traceId);
      expect(ids).toEqual([CALLER_TRACE, CALLER_TRACE, CALLER_TRACE]);
      expect(deliver!.parentSpanContext?.spanId).toBe(publish!.spanContext().spanId);
      expect(received!.parentSpanContext?.spanId).toBe(deliver!.spanContext().spanId);
      expect(deliver!.attributes).toMatchObject({ 'busbar.completion': 'ack', 'http.response.status_code': 204 });
    } finally {
      await runner.stop();
      await new Promise((r) => receiver.close(r));
    }
  });

  it('traces a pull attempt from the lease to the ack, and gives the consumer its span', async () => {
    await bus.putSubscription('work', { bus: 'orders', pattern: { type: ['order.placed'] }, target: { type: 'pull' } });
    await bus.publish('orders', event(), { traceparent: CALLER });
    const [message] = await bus.pull.receive('work', {});
    expect(spans('deliver work')).toEqual([]);
    await bus.pull.ack('work', [message!.receipt]);
    const [span] = spans('deliver work');
    expect(span!.spanContext().traceId).toBe(CALLER_TRACE);
    expect(span!.attributes).toMatchObject({ 'busbar.completion': 'ack' });
    expect(message!.traceparent).toBe(`00-${CALLER_TRACE}-${span!.spanContext().spanId}-01`);
  });
});

describe('without a tracer provider', () => {
  it('exports nothing, passes a caller context on with the event, and adds none otherwise', async () => {
    const bus = await Busbar.open({ storage: 'memory' });
    try {
      await bus.putBus('orders');
      await bus.putSubscription('work', {
        bus: 'orders',
        pattern: { type: ['order.placed'] },
        target: { type: 'pull' },
      });
      await bus.publish('orders', event({ id: 'with' }), { traceparent: CALLER });
      await bus.publish('orders', event({ id: 'without' }));
      const bodies = (await bus.queryArchive('orders')).events;
      expect(bodies.map((b) => [b.id, b['traceparent']])).toEqual([
        ['with', CALLER],
        ['without', undefined],
      ]);
      const messages = await bus.pull.receive('work', { max: 10 });
      expect(messages.map((m) => m.traceparent)).toEqual([CALLER, null]);
    } finally {
      await bus.close();
    }
  });
});

describe('busbar start with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'busbar-tracing-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exports publish and attempt spans over OTLP/HTTP and sends the attempt context to the webhook', async () => {
    const exported: DecodedSpan[] = [];
    const collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/v1/traces') {
          for (const r of decodeTraceRequest(Buffer.concat(chunks))) exported.push(...r.spans);
        }
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    const hooks: string[] = [];
    const receiver = http.createServer((req, res) => {
      hooks.push(String(req.headers['traceparent']));
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await Promise.all([collector, receiver].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    const port = (s: http.Server) => (s.address() as { port: number }).port;
    const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--storage', join(dir, 'busbar.db')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port(collector)}`,
        OTEL_SERVICE_NAME: 'bus-test',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await until(() => /listening on (http:\S+)/.test(out));
      expect(out).toContain(`tracing: spans to http://127.0.0.1:${port(collector)}/v1/traces`);
      const url = /listening on (http:\S+)/.exec(out)![1]!;
      const send = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
        fetch(`${url}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        });
      await send('PUT', '/v1/buses/orders', {});
      await send('PUT', '/v1/subscriptions/hook', {
        bus: 'orders',
        pattern: { type: ['order.placed'] },
        target: { type: 'webhook', url: `http://127.0.0.1:${port(receiver)}/hook` },
      });
      const res = await send('POST', '/v1/buses/orders/events', event({ id: 'traced' }), { traceparent: CALLER });
      expect(res.status).toBe(200);
      await until(() => hooks.length === 1);
      // The spans go out within the schedule delay, and /metrics counts them.
      await until(async () => {
        const metrics = await (await fetch(`${url}/metrics`)).text();
        const exported = /^busbar_trace_spans_exported_total (\d+)$/m.exec(metrics);
        return exported !== null && Number(exported[1]) >= 3 && /^busbar_trace_spans_dropped_total 0$/m.test(metrics);
      });
      expect(exported.some((s) => s.name === 'deliver hook')).toBe(true);
      child.kill('SIGTERM');
      await exited;
      const publish = exported.find((s) => s.name === 'publish orders')!;
      const deliver = exported.find((s) => s.name === 'deliver hook')!;
      expect(publish.traceId).toBe(CALLER_TRACE);
      expect(publish.parentSpanId).toBe('b7ad6b7169203331');
      expect(deliver.traceId).toBe(CALLER_TRACE);
      expect(deliver.parentSpanId).toBe(publish.spanId);
      expect(exported.some((s) => s.name === 'match orders')).toBe(true);
      expect(hooks[0]).toBe(`00-${CALLER_TRACE}-${deliver.spanId}-01`);
    } finally {
      child.kill('SIGKILL');
      await Promise.all([collector, receiver].map((s) => new Promise((r) => s.close(r))));
    }
  }, 30_000);
});
