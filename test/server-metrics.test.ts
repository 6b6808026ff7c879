/** `GET /metrics`: Prometheus text with the flow and latency of buses and subscriptions. */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { failureClass } from '../src/server/metrics.js';
import { event, harness, type Harness } from './support/server.js';

let h: Harness;
beforeEach(async () => {
  h = await harness('memory');
  await h.bus.putBus('orders');
  await h.bus.putSubscription('work', {
    bus: 'orders',
    pattern: { type: ['order.placed'] },
    target: { type: 'pull' },
    delivery: { maxAttempts: 2, backoff: { initialMs: 100, maxMs: 100, multiplier: 1 } },
  });
});
afterEach(() => h.close());

/** The samples of the exposition as `name{labels} value` → value. */
async function scrape(headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const res = await h.send('GET', '/metrics', undefined, headers);
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toContain('text/plain');
  const samples = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const pull = async (max = 10) =>
  (await h.send('POST', '/v1/subscriptions/work/pull', { max })).json<{ messages: Array<{ receipt: string }> }>()
    .messages;

describe('GET /metrics', () => {
  it('counts publishes, duplicates, rejections, deliveries, failures, dead letters, redrives and replays', async () => {
    await h.send('POST', '/v1/buses/orders/events', [
      event('order.placed', {}, { id: '1' }),
      event('order.placed', {}, { id: '2' }),
      event('order.shipped', {}, { id: '3' }),
    ]);
    await h.send('POST', '/v1/buses/orders/events', event('order.placed', {}, { id: '1' }));
    const bad = await h.send('POST', '/v1/buses/orders/events', [event('order.placed'), { specversion: '1.0' }]);
    expect(bad.statusCode).toBe(400);

    let m = await scrape();
    expect(m.get('busbar_events_published_total{bus="orders"}')).toBe(3);
    expect(m.get('busbar_events_matched_total{bus="orders"}')).toBe(2);
    expect(m.get('busbar_events_deduplicated_total{bus="orders"}')).toBe(1);
    expect(m.get('busbar_events_rejected_total{bus="orders",reason="INVALID_EVENT"}')).toBe(2);
    expect(m.get('busbar_publish_duration_seconds_count{bus="orders"}')).toBe(2);
    expect(m.get('busbar_subscription_backlog{bus="orders",subscription="work"}')).toBe(2);
    expect(m.get('busbar_subscription_in_flight{bus="orders",subscription="work"}')).toBe(0);

    const [first, second] = await pull();
    m = await scrape();
    expect(m.get('busbar_subscription_in_flight{bus="orders",subscription="work"}')).toBe(2);
    await h.clock.advance(250);
    await h.send('POST', '/v1/subscriptions/work/ack', { receipts: [first!.receipt] });
    await h.send('POST', '/v1/subscriptions/work/nack', { receipts: [second!.receipt], delayMs: 0 });
    const [again] = await pull();
    await h.send('POST', '/v1/subscriptions/work/nack', { receipts: [again!.receipt], error: 'still broken' });

    m = await scrape();
    expect(m.get('busbar_deliveries_succeeded_total{subscription="work"}')).toBe(1);
    expect(m.get('busbar_attempts_failed_total{subscription="work",class="handler_error"}')).toBe(2);
    expect(m.get('busbar_deliveries_dead_lettered_total{subscription="work",reason="max_attempts"}')).toBe(1);
    expect(m.get('busbar_delivery_latency_seconds_count{subscription="work"}')).toBe(1);
    expect(m.get('busbar_delivery_latency_seconds_bucket{le="0.1",subscription="work"}')).toBe(0);
    expect(m.get('busbar_delivery_latency_seconds_bucket{le="0.25",subscription="work"}')).toBe(1);
    expect(m.get('busbar_delivery_attempts_sum{subscription="work"}')).toBe(1 + 2);
    expect(m.get('busbar_subscription_dead_letters{bus="orders",subscription="work"}')).toBe(1);
    expect(m.get('busbar_subscription_backlog{bus="orders",subscription="work"}')).toBe(0);

    await h.send('POST', '/v1/subscriptions/work/dead-letters/redrive', {});
    const replay = await h.send('POST', '/v1/replays', { bus: 'orders', from: 0, subscriptions: ['work'] });
    await h.bus.replays.wait(replay.json<{ id: string }>().id);
    m = await scrape();
    expect(m.get('busbar_deliveries_redriven_total{subscription="work"}')).toBe(1);
    expect(m.get('busbar_deliveries_replayed_total{subscription="work"}')).toBe(2);
    expect(m.get('busbar_subscription_backlog{bus="orders",subscription="work"}')).toBe(3);
    expect(m.get('busbar_subscription_oldest_pending_age_seconds{bus="orders",subscription="work"}')).toBe(0);
    await h.clock.advance(4_000);
    m = await scrape();
    expect(m.get('busbar_subscription_oldest_pending_age_seconds{bus="orders",subscription="work"}')).toBe(4);
  });

  it('drops the series of a deleted subscription and exports no event ids', async () => {
    await h.send('POST', '/v1/buses/orders/events', event('order.placed', {}, { id: 'evt-secret-id' }));
    const [message] = await pull();
    await h.send('POST', '/v1/subscriptions/work/ack', { receipts: [message!.receipt] });
    const text = (await h.send('GET', '/metrics')).body;
    expect(text).not.toContain('evt-secret-id');
    expect(text).toContain('subscription="work"');
    await h.send('DELETE', '/v1/subscriptions/work');
    expect((await h.send('GET', '/metrics')).body).not.toContain('subscription="work"');
  });

  it('exports process metrics only when asked, and needs the admin scope when keys are set', async () => {
    expect((await h.send('GET', '/metrics')).body).not.toContain('process_cpu_user_seconds_total');
    const keyed = await harness('memory', {
      server: { processMetrics: true, apiKeys: [{ key: 'metrics-admin-key-01', scopes: ['admin'] }] },
    });
    try {
      expect((await keyed.send('GET', '/metrics')).statusCode).toBe(401);
      const res = await keyed.send('GET', '/metrics', undefined, { authorization: 'Bearer metrics-admin-key-01' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('process_cpu_user_seconds_total');
      expect(res.body).toContain('# HELP busbar_events_published_total Events stored (accepted) by a bus.');
    } finally {
      await keyed.close();
    }
  });

  it("exports the tracer provider's span counts when tracing is on, and nothing of tracing otherwise", async () => {
    expect([...(await scrape()).keys()].filter((k) => k.startsWith('busbar_trace_'))).toEqual([]);
    const stats = { exported: 7, dropped: 2 };
    const traced = await harness('memory', { server: { tracing: { stats } } });
    try {
      const read = async () => (await traced.send('GET', '/metrics')).body;
      expect(await read()).toContain('busbar_trace_spans_exported_total 7\n');
      expect(await read()).toContain('busbar_trace_spans_dropped_total 2\n');
      stats.exported = 19;
      expect(await read()).toContain('busbar_trace_spans_exported_total 19\n');
    } finally {
      await traced.close();
    }
  });

  it('classes failed attempts by what went wrong', () => {
    const record = (over: object) => ({
      attempt: 1,
      startedAt: 0,
      durationMs: 1,
      outcome: 'error' as const,
      error: { message: 'x', code: null, name: 'Error' },
      httpStatus: null,
      responseBody: null,
      ...over,
    });
    const o = (over: object) => ({
      subscription: 's',
      record: record(over),
      completion: { kind: 'retry', availableAt: 1 } as const,
      endToEndMs: null,
      attemptsUsed: null,
    });
    expect(failureClass(o({ outcome: 'timeout' }))).toBe('timeout');
    expect(failureClass(o({ httpStatus: 503 }))).toBe('http_5xx');
    expect(failureClass(o({ httpStatus: 404, outcome: 'non_retriable' }))).toBe('http_4xx');
    expect(failureClass(o({ error: { message: 'refused', code: 'ECONNREFUSED', name: 'Error' } }))).toBe('network');
    expect(failureClass(o({ error: { message: 'timed out', code: 'TIMEOUT', name: 'Error' } }))).toBe('timeout');
    expect(failureClass(o({}))).toBe('handler_error');
  });
});

describe('deploy/ (Grafana dashboard and Prometheus alerts)', () => {
  it('use only metrics that GET /metrics exports, and docs/metrics.md documents them all', async () => {
    const text = (await h.send('GET', '/metrics')).body;
    const exported = new Set([...text.matchAll(/^# TYPE (busbar_\w+) /gm)].map((m) => m[1]!));
    expect(exported.size).toBeGreaterThan(15);
    const root = new URL('../', import.meta.url);
    const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
    const dashboard = JSON.parse(read('deploy/grafana/busbar.json')) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const alerts = parse(read('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Array<{ expr: string }> }> };
    const exprs = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)),
    ];
    const used = new Set(
      exprs.flatMap((e) => [...e.matchAll(/busbar_\w+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))),
    );
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    const documented = read('docs/metrics.md');
    expect([...exported].filter((name) => !documented.includes(`\`${name}\``))).toEqual([]);
  });
});
