/**
 * Busbar's tracer provider and OTLP/HTTP exporter (src/server/tracer.ts, otlp.ts, tracing.ts): what a
 * collector on 127.0.0.1 receives, decoded by test/support/otlp.ts; sampling; batching and the queue
 * limit; retries; and the environment variables, bad values included.
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Span } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BusbarTracerProvider } from '../src/server/tracer.js';
import { samplerSettings, startTracing, type Tracing } from '../src/server/tracing.js';
import { decodeTraceRequest, type DecodedSpan } from './support/otlp.js';

interface Received {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A collector stub: records each request; `answer` picks the status (200 by default). */
async function collector(
  answer: (n: number) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 }),
) {
  const received: Received[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      received.push({ url: req.url ?? '', headers: req.headers, body });
      const { status, headers = {} } = answer(n++);
      res.writeHead(status, { 'content-type': 'application/x-protobuf', ...headers }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    received,
    endpoint: `http://127.0.0.1:${port}`,
    spans: (): DecodedSpan[] => received.flatMap((r) => decodeTraceRequest(r.body).flatMap((d) => d.spans)),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

let tracing: Tracing | null = null;
let stub: Awaited<ReturnType<typeof collector>>;

beforeEach(async () => {
  stub = await collector();
});

afterEach(async () => {
  await tracing?.shutdown();
  tracing = null;
  trace.disable();
  await stub.close();
});

const tracer = () => trace.getTracer('busbar', '1.2.3');

/** An attribute of every kind a collector must read back as given. */
const VALUES = {
  text: 'plain',
  unicode: 'café ☕ 日本',
  long: 'x'.repeat(300),
  count: 42,
  negative: -7,
  ratio: 0.25,
  flag: true,
  list: ['a', 'b'],
  numbers: [1, 2.5],
};

describe('startTracing with an OTLP endpoint', () => {
  it('sends spans as a collector reads them: ids, parents, kinds, exact times, attributes, events, links, status', async () => {
    tracing = startTracing({
      OTEL_EXPORTER_OTLP_ENDPOINT: `${stub.endpoint}/`,
      OTEL_SERVICE_NAME: 'bus-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,team=a%2Cb',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20t0ken,x-tenant=7',
    })!;
    expect(tracing.endpoint).toBe(`${stub.endpoint}/v1/traces`);
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    const parent = tracer().startSpan(
      'publish orders',
      {
        kind: SpanKind.PRODUCER,
        startTime: 1_700_000_000_123.456,
        attributes: VALUES,
      },
      remote,
    );
    const child = tracer().startSpan(
      'match orders',
      { kind: SpanKind.INTERNAL, startTime: 1_700_000_000_123.5 },
      trace.setSpan(ROOT_CONTEXT, parent),
    );
    child.addLink({
      context: { traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), traceFlags: 1 },
      attributes: { why: 'redrive' },
    });
    child.recordException(new TypeError('bad thing'), new Date(1_700_000_000_124));
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'failed to match' });
    child.end(1_700_000_000_125.5);
    parent.setAttribute('messaging.batch.message_count', 3);
    parent.end(new Date(1_700_000_000_126));
    await tracing.flush();

    expect(stub.received).toHaveLength(1);
    const [request] = stub.received;
    expect(request!.url).toBe('/v1/traces');
    expect(request!.headers['content-type']).toBe('application/x-protobuf');
    expect(request!.headers['authorization']).toBe('Bearer t0ken');
    expect(request!.headers['x-tenant']).toBe('7');
    const [decoded] = decodeTraceRequest(request!.body);
    expect(decoded!.resource).toMatchObject({
      'service.name': 'bus-test',
      'deployment.environment': 'test',
      team: 'a,b',
    });
    expect(typeof decoded!.resource['service.version']).toBe('string');
    const [m, p] = decoded!.spans;
    expect(p).toMatchObject({
      scope: { name: 'busbar', version: '1.2.3' },
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: parent.spanContext().spanId,
      parentSpanId: 'b7ad6b7169203331',
      name: 'publish orders',
      kind: 4,
      startTimeUnixNano: 1_700_000_000_123_456_000n,
      endTimeUnixNano: 1_700_000_000_126_000_000n,
      attributes: { ...VALUES, 'messaging.batch.message_count': 3 },
      status: undefined,
      flags: 0x301, // sampled, and the parent is known to be remote
    });
    expect(m).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentSpanId: parent.spanContext().spanId,
      name: 'match orders',
      kind: 1,
      endTimeUnixNano: 1_700_000_000_125_500_000n,
      links: [{ traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), attributes: { why: 'redrive' } }],
      status: { code: 2, message: 'failed to match' },
      flags: 0x101, // sampled, the parent is local
    });
    expect(m!.events.map((e) => [e.name, e.timeUnixNano, Object.keys(e.attributes)])).toEqual([
      ['exception', 1_700_000_000_124_000_000n, ['exception.type', 'exception.message', 'exception.stacktrace']],
    ]);
    expect(m!.events[0]!.attributes).toMatchObject({ 'exception.type': 'TypeError', 'exception.message': 'bad thing' });
    expect(m!.events[0]!.attributes['exception.stacktrace']).toContain('TypeError: bad thing');
    expect(tracing.stats).toEqual({ exported: 2, dropped: 0 });
  });

  it('sends full batches at once, the rest at a flush, and gzips when asked', async () => {
    tracing = startTracing({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${stub.endpoint}/custom/path`,
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '3',
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
    })!;
    for (let i = 0; i < 7; i++) tracer().startSpan(`s${i}`).end();
    await until(() => stub.received.length === 2);
    const names = () =>
      stub.received
        .map((r) => decodeTraceRequest(r.body)[0]!.spans.map((s) => s.name))
        .sort((a, b) => a[0]!.localeCompare(b[0]!));
    expect(names()).toEqual([
      ['s0', 's1', 's2'],
      ['s3', 's4', 's5'],
    ]);
    await tracing.flush();
    expect(names()).toEqual([['s0', 's1', 's2'], ['s3', 's4', 's5'], ['s6']]);
    expect(stub.received.every((r) => r.url === '/custom/path' && r.headers['content-encoding'] === 'gzip')).toBe(true);
  });

  it('sends what waits once the schedule delay has passed', async () => {
    tracing = startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: stub.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50' })!;
    tracer().startSpan('lonely').end();
    await until(() => stub.received.length === 1);
    expect(stub.spans().map((s) => s.name)).toEqual(['lonely']);
  });

  it('drops what exceeds the queue while the collector does not answer, and counts it', async () => {
    const sends: Array<() => void> = [];
    const provider = new BusbarTracerProvider({
      resource: { 'service.name': 'x' },
      batch: { maxQueueSize: 4, maxExportBatchSize: 2, scheduledDelayMs: 10 },
      send: () => new Promise<void>((resolve) => sends.push(resolve)),
    });
    trace.setGlobalTracerProvider(provider);
    for (let i = 0; i < 10; i++) tracer().startSpan(`s${i}`).end();
    await until(() => sends.length === 2);
    expect(provider.stats).toEqual({ exported: 0, dropped: 6 });
    for (const resolve of sends.splice(0)) resolve();
    await provider.forceFlush();
    expect(provider.stats).toEqual({ exported: 4, dropped: 6 });
  });

  it('never fails the traced call: a span it cannot encode, or a send that throws, is dropped and reported', async () => {
    const errors: string[] = [];
    const provider = new BusbarTracerProvider({
      resource: {},
      batch: { maxExportBatchSize: 1 },
      send: () => {
        throw new Error('no way out');
      },
      onError: (e) => errors.push(e.message),
    });
    const t = provider.getTracer('busbar');
    expect(() => t.startSpan(42 as unknown as string).end()).not.toThrow();
    t.startSpan('fine').end();
    await provider.forceFlush();
    expect(errors).toHaveLength(2);
    expect(errors[1]).toBe('no way out');
    expect(provider.stats).toEqual({ exported: 0, dropped: 2 });
  });

  it('retries a retryable answer, and reports a batch the collector refuses', async () => {
    await stub.close();
    stub = await collector((n) =>
      n === 0 ? { status: 503, headers: { 'retry-after': '0' } } : n === 1 ? { status: 200 } : { status: 400 },
    );
    const errors: string[] = [];
    tracing = startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: stub.endpoint }, { onError: (e) => errors.push(e.message) })!;
    tracer().startSpan('first').end();
    await tracing.flush();
    expect(stub.received).toHaveLength(2); // 503, then the same request again
    expect(stub.spans().map((s) => s.name)).toEqual(['first', 'first']);
    tracer().startSpan('second').end();
    await tracing.flush();
    expect(errors).toEqual([`OTLP export to ${stub.endpoint}/v1/traces failed: HTTP 400`]);
    expect(tracing.stats).toEqual({ exported: 1, dropped: 1 });
  });
});

describe('sampling', () => {
  const recorded = (env: Record<string, string>, parentFlags?: number): Span => {
    const provider = new BusbarTracerProvider({ resource: {}, sampler: samplerSettings(env), send: async () => {} });
    const parent =
      parentFlags === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: '0af7651916cd43dd8448eb211c80319c',
            spanId: 'b7ad6b7169203331',
            traceFlags: parentFlags,
            isRemote: true,
          });
    return provider.getTracer('busbar').startSpan('s', {}, parent);
  };

  it('follows the standard samplers, and the parent when parent-based', () => {
    expect(recorded({}).isRecording()).toBe(true);
    expect(recorded({}, TraceFlags.NONE).isRecording()).toBe(false);
    expect(recorded({ OTEL_TRACES_SAMPLER: 'always_off' }).isRecording()).toBe(false);
    expect(recorded({ OTEL_TRACES_SAMPLER: 'always_on' }, TraceFlags.NONE).isRecording()).toBe(true);
    expect(recorded({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, TraceFlags.SAMPLED).isRecording()).toBe(true);
    const unsampled = recorded({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' });
    expect(unsampled.isRecording()).toBe(false);
    expect(trace.isSpanContextValid(unsampled.spanContext())).toBe(true);
    expect(unsampled.spanContext().traceFlags).toBe(TraceFlags.NONE);
  });

  it('records about the given share of new traces with traceidratio', () => {
    tracing = startTracing({
      OTEL_EXPORTER_OTLP_ENDPOINT: stub.endpoint,
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    })!;
    let sampled = 0;
    for (let i = 0; i < 4000; i++) {
      const span = tracer().startSpan('s');
      if (span.isRecording()) sampled++;
      span.end();
    }
    expect(sampled).toBeGreaterThan(800);
    expect(sampled).toBeLessThan(1200);
  });
});

describe('startTracing settings', () => {
  it('registers nothing without an endpoint, or with OTEL_TRACES_EXPORTER=none', () => {
    expect(startTracing({})).toBeNull();
    expect(startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: stub.endpoint, OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
    expect(tracer().startSpan('s').isRecording()).toBe(false);
  });

  it.each([
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
      'Expected OTEL_EXPORTER_OTLP_ENDPOINT to be an http:// or https:// URL, got "collector:4318"',
    ],
    [
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' },
      'Expected OTEL_EXPORTER_OTLP_TRACES_ENDPOINT to be an http:// or https:// URL',
    ],
    [
      { OTEL_TRACES_SAMPLER: 'sometimes' },
      'Expected OTEL_TRACES_SAMPLER to be one of always_on, always_off, traceidratio',
    ],
    [
      { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' },
      'Expected OTEL_TRACES_SAMPLER_ARG to be a number from 0 to 1, got "1.5"',
    ],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'Expected OTEL_TRACES_EXPORTER to be otlp or none, got "zipkin"'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'Expected OTEL_EXPORTER_OTLP_PROTOCOL to be http/protobuf'],
    [
      { OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'brotli' },
      'Expected OTEL_EXPORTER_OTLP_TRACES_COMPRESSION to be gzip or none, got "brotli"',
    ],
    [
      { OTEL_EXPORTER_OTLP_TIMEOUT: '10s' },
      'Expected OTEL_EXPORTER_OTLP_TIMEOUT to be an integer of at least 1, got "10s"',
    ],
    [{ OTEL_BSP_MAX_QUEUE_SIZE: '0' }, 'Expected OTEL_BSP_MAX_QUEUE_SIZE to be an integer of at least 1, got "0"'],
    [
      { OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' },
      'Expected OTEL_BSP_MAX_EXPORT_BATCH_SIZE to be at most OTEL_BSP_MAX_QUEUE_SIZE (10), got "20"',
    ],
    [
      { OTEL_EXPORTER_OTLP_HEADERS: 'novalue' },
      'Expected OTEL_EXPORTER_OTLP_HEADERS to be comma-separated key=value pairs',
    ],
    [
      { OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'bad name=1' },
      'Expected OTEL_EXPORTER_OTLP_TRACES_HEADERS to be HTTP headers, valid names and values, got "bad name=1"',
    ],
    [
      { OTEL_EXPORTER_OTLP_HEADERS: 'x-token=a%0Ab' },
      'Expected OTEL_EXPORTER_OTLP_HEADERS to be HTTP headers, valid names and values',
    ],
  ])('refuses %o, naming the variable, and registers nothing', (env, message) => {
    expect(() => startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: stub.endpoint, ...env })).toThrow(message);
    expect(tracer().startSpan('s').isRecording()).toBe(false);
  });
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached');
}
