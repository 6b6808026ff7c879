/**
 * `npm run bench -- engine [--storage memory|sqlite|postgres://...] [--durability full|normal]`: the
 * embedded engine. With a PostgreSQL URL every store is a fresh schema on that server (the URL's
 * `schema` parameter is replaced), dropped afterwards; `--durability` is SQLite's and does not apply
 * there, where the server's `synchronous_commit` decides (the log line says what it is).
 *
 * Scenarios (each on a fresh store: a temporary directory, or a fresh schema):
 * - publish-single-cN: N concurrent publishers, one event per publish (group commit shares syncs);
 * - publish-batchB-c1 / -c4: batches of B events;
 * - e2e-R: publish at R events/s for a few seconds to one subscription with an in-process consumer;
 *   latency from just before `publish` to the handler's first line, p50/p99;
 * - fanout-S: ingest (batches of 100, 4 publishers) with S subscriptions that all match;
 * - replay: 100,000 archived events replayed to an in-process consumer, until all are handled;
 * - memory: RSS idle after start, and with 1,000,000 archived events;
 * - monitoring-*: publish throughput with metrics and OTLP tracing off and on (alternating runs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Busbar } from '../src/busbar.js';
import { createMetrics } from '../src/server/metrics.js';
import { startTracing } from '../src/server/tracing.js';
import { afterWarmUp, median, producerId, type BenchOptions, type BenchResult } from './lib.js';
import { commitSettings, dropSchemaAt, isPostgres, withFreshSchema } from './postgres.js';

interface Ctx {
  opts: BenchOptions;
  results: BenchResult[];
  /** 'memory', 'sqlite' or a postgres:// URL. */
  storage: string;
  durability: 'full' | 'normal';
}

const event = (n: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  specversion: '1.0',
  id: producerId(),
  source: '/bench',
  type: 'order.placed',
  data: { n, total: n % 1000, customer: `c-${n % 5000}`, items: [{ sku: `sku-${n % 200}`, qty: 1 + (n % 5) }] },
  ...extra,
});

/** A fresh store: a temporary directory for SQLite (and memory), a fresh schema for PostgreSQL. */
function freshStore(ctx: Ctx): { storage: string; cleanup: () => Promise<void> } {
  if (isPostgres(ctx.storage)) {
    const { url, schema } = withFreshSchema(ctx.storage);
    return { storage: url, cleanup: () => dropSchemaAt(url, schema) };
  }
  const dir = mkdtempSync(join(tmpdir(), 'busbar-bench-'));
  return {
    storage: ctx.storage === 'memory' ? 'memory' : join(dir, 'bench.db'),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

async function withBus<T>(ctx: Ctx, work: (bus: Busbar) => Promise<T>): Promise<T> {
  const { storage, cleanup } = freshStore(ctx);
  try {
    const bus = await Busbar.open({ storage, durability: ctx.durability, onError: () => undefined });
    try {
      await bus.putBus('bench', { retention: { maxAgeMs: null, maxBytes: null } });
      return await work(bus);
    } finally {
      await bus.close();
    }
  } finally {
    await cleanup();
  }
}

function record(ctx: Ctx, scenario: string, metric: string, value: number, unit: string): void {
  ctx.results.push({ suite: 'engine', scenario, metric, value, unit });
}

/** Publishes for `seconds` with `concurrency` loops of `batch` events; returns events/s. */
async function publishRate(bus: Busbar, concurrency: number, batch: number, seconds: number): Promise<number> {
  let n = 0;
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let published = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const events = batch === 1 ? event(n++) : Array.from({ length: batch }, () => event(n++));
        await bus.publish('bench', events);
        published += batch;
      }
    }),
  );
  return published / ((performance.now() - start) / 1000);
}

async function publishScenarios(ctx: Ctx): Promise<void> {
  const cases: Array<[string, number, number]> = [
    ['publish-single-c1', 1, 1],
    ['publish-single-c64', 64, 1],
    ['publish-batch10-c1', 1, 10],
    ['publish-batch100-c1', 1, 100],
    ['publish-batch100-c4', 4, 100],
  ];
  for (const [scenario, concurrency, batch] of cases) {
    const rates: number[] = [];
    for (let i = 0; i < ctx.opts.samples; i++) {
      rates.push(
        await withBus(ctx, async (bus) => {
          await bus.putSubscription('s', { bus: 'bench', pattern: { type: ['order.placed'] } });
          await publishRate(bus, concurrency, batch, 0.3);
          return publishRate(bus, concurrency, batch, ctx.opts.sampleSeconds);
        }),
      );
    }
    ctx.opts.log(
      `${scenario.padEnd(22)} ${Math.round(median(rates)).toLocaleString('en-US').padStart(9)} events/s (runs: ${rates.map((r) => Math.round(r)).join(', ')})`,
    );
    record(ctx, scenario, 'throughput', median(rates), 'events/s');
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function latencyScenarios(ctx: Ctx): Promise<void> {
  for (const rate of [1_000, 5_000]) {
    const scenario = `e2e-${rate}`;
    const latencies = await withBus(ctx, async (bus) => {
      await bus.putSubscription('s', {
        bus: 'bench',
        pattern: { type: ['order.placed'] },
        delivery: { concurrency: 64 },
      });
      const out = new Map<number, number>();
      bus.consume('s', (e) => {
        const { n, sentAt } = e.data as { n: number; sentAt: number };
        out.set(n, performance.now() - sentAt);
      });
      const seconds = Math.max(3, ctx.opts.sampleSeconds * 3);
      const total = rate * seconds;
      const start = performance.now();
      const inFlight: Array<Promise<unknown>> = [];
      // Paced in 1 ms ticks: each tick publishes what the schedule owes, one event per publish.
      for (let sent = 0; sent < total;) {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
        for (; sent < due; sent++)
          inFlight.push(bus.publish('bench', event(sent, { data: { n: sent, sentAt: performance.now() } })));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await Promise.all(inFlight);
      const deadline = performance.now() + 10_000;
      while (out.size < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      return afterWarmUp(out, rate); // the events sent in the first second are the warm-up
    });
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    ctx.opts.log(
      `${scenario.padEnd(22)} p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms over ${latencies.length} events`,
    );
    record(ctx, scenario, 'latency_p50', p50, 'ms');
    record(ctx, scenario, 'latency_p99', p99, 'ms');
  }
}

async function fanoutScenarios(ctx: Ctx): Promise<void> {
  for (const subs of [1, 10, 100]) {
    const scenario = `fanout-${subs}`;
    const rates: number[] = [];
    for (let i = 0; i < ctx.opts.samples; i++) {
      rates.push(
        await withBus(ctx, async (bus) => {
          for (let s = 0; s < subs; s++)
            await bus.putSubscription(`s${s}`, { bus: 'bench', pattern: { source: ['/bench'] } });
          await publishRate(bus, 4, 100, 0.3);
          return publishRate(bus, 4, 100, ctx.opts.sampleSeconds);
        }),
      );
    }
    ctx.opts.log(
      `${scenario.padEnd(22)} ${Math.round(median(rates)).toLocaleString('en-US').padStart(9)} events/s ingested (${subs} deliveries each)`,
    );
    record(ctx, scenario, 'throughput', median(rates), 'events/s');
  }
}

/** The collector stub: reads and drops each request. */
const COLLECTOR = `const s = require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;

/** A collector stub on 127.0.0.1 that reads and drops each request, in a process of its own. */
async function startCollector(): Promise<{ port: string; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', COLLECTOR], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (line: Buffer) => resolve(line.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the collector stub exited with code ${code}`)));
  });
  return { port, stop: () => child.kill() };
}

/**
 * Monitoring on: the server's metrics registry observing the engine, and a tracer provider exporting
 * every span over OTLP/HTTP (batched) to the collector stub. The stub is a process of its own, as a
 * collector is: in this one, its share of the work would count against the bus.
 */
async function withMonitoring<T>(bus: Busbar, port: string, sampled: number, work: () => Promise<T>): Promise<T> {
  const tracing = startTracing({
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_TRACES_SAMPLER: sampled === 1 ? 'parentbased_always_on' : 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(sampled),
  })!;
  const metrics = createMetrics(bus, { processMetrics: true });
  try {
    return await work();
  } finally {
    metrics.close();
    await tracing.shutdown();
  }
}

/**
 * Publish throughput with monitoring off, on with every trace sampled, and on with 10 % of traces
 * sampled (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`), alternating runs on fresh stores.
 */
async function monitoringScenarios(ctx: Ctx): Promise<void> {
  const modes = [
    ['off', 0],
    ['on', 1],
    ['on-sampled-10pct', 0.1],
  ] as const;
  // One stub for the whole scenario, up before the first sample (its start-up is not measured).
  const collector = await startCollector();
  try {
    await monitoringRuns(ctx, modes, collector.port);
  } finally {
    collector.stop();
  }
}

async function monitoringRuns(ctx: Ctx, modes: ReadonlyArray<readonly [string, number]>, port: string): Promise<void> {
  for (const [name, concurrency, batch] of [
    ['single-c64', 64, 1],
    ['batch100-c4', 4, 100],
  ] as const) {
    const rates = new Map<string, number[]>(modes.map(([mode]) => [mode, []]));
    for (let i = 0; i < ctx.opts.samples; i++) {
      for (const [mode, sampled] of modes) {
        rates.get(mode)!.push(
          await withBus(ctx, async (bus) => {
            await bus.putSubscription('s', { bus: 'bench', pattern: { type: ['order.placed'] } });
            const run = async (): Promise<number> => {
              await publishRate(bus, concurrency, batch, 0.3);
              return publishRate(bus, concurrency, batch, ctx.opts.sampleSeconds);
            };
            return sampled === 0 ? run() : withMonitoring(bus, port, sampled, run);
          }),
        );
      }
    }
    const off = median(rates.get('off')!);
    const line = modes.map(([mode]) => {
      const value = median(rates.get(mode)!);
      record(ctx, `monitoring-${name}`, `throughput_${mode}`, value, 'events/s');
      if (mode !== 'off') record(ctx, `monitoring-${name}`, `${mode}_vs_off`, (100 * value) / off, '%');
      const share = mode === 'off' ? '' : ` (${((100 * value) / off).toFixed(1)} %)`;
      return `${mode} ${Math.round(value).toLocaleString('en-US')}${share} [${rates.get(mode)!.map(Math.round).join(', ')}]`;
    });
    ctx.opts.log(`${`monitoring-${name}`.padEnd(22)} ${line.join('; ')} events/s`);
  }
}

async function replayScenario(ctx: Ctx): Promise<void> {
  const count = 100_000;
  const rate = await withBus(ctx, async (bus) => {
    const from = Date.now();
    for (let n = 0; n < count; n += 1000)
      await bus.publish(
        'bench',
        Array.from({ length: 1000 }, (_, i) => event(n + i)),
      );
    await bus.putSubscription('r', {
      bus: 'bench',
      pattern: { type: ['order.placed'] },
      delivery: { concurrency: 512 },
    });
    let handled = 0;
    bus.consume('r', () => {
      handled++;
    });
    const start = performance.now();
    const replay = await bus.replays.start({ bus: 'bench', from, subscriptions: ['r'] });
    while (handled < count && performance.now() - start < 120_000)
      await new Promise((resolve) => setTimeout(resolve, 5));
    const seconds = (performance.now() - start) / 1000;
    await bus.replays.wait(replay.id);
    return handled / seconds;
  });
  ctx.opts.log(
    `${'replay'.padEnd(22)} ${Math.round(rate).toLocaleString('en-US').padStart(9)} events/s replayed and handled`,
  );
  record(ctx, 'replay', 'throughput', rate, 'events/s');
}

/** Collects garbage when node runs with --expose-gc (npm run bench passes it). */
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

async function memoryScenario(ctx: Ctx): Promise<void> {
  const rss = (): number => process.memoryUsage().rss / 2 ** 20;
  const archived = typeof ctx.opts.args['archive'] === 'string' ? Number(ctx.opts.args['archive']) : 1_000_000;
  await withBus(ctx, async (bus) => {
    await bus.putSubscription('s', { bus: 'bench', pattern: { type: ['order.placed'] } });
    gc();
    const idle = rss();
    record(ctx, 'memory', 'rss_idle', idle, 'MiB');
    for (let n = 0; n < archived; n += 1000)
      await bus.publish(
        'bench',
        Array.from({ length: 1000 }, (_, i) => event(n + i)),
      );
    gc();
    const full = rss();
    record(ctx, 'memory', 'rss_archived', full, 'MiB');
    record(ctx, 'memory', 'archived_events', archived, 'events');
    ctx.opts.log(
      `${'memory'.padEnd(22)} RSS idle ${idle.toFixed(0)} MiB, with ${archived.toLocaleString('en-US')} archived events ${full.toFixed(0)} MiB`,
    );
  });
}

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const storage = typeof opts.args['storage'] === 'string' ? opts.args['storage'] : 'sqlite';
  const durability = opts.args['durability'] === 'normal' ? 'normal' : 'full';
  if (storage !== 'sqlite' && storage !== 'memory' && !isPostgres(storage))
    throw new Error(`Expected --storage to be sqlite, memory or a postgres:// URL, got ${storage}`);
  if (isPostgres(storage)) opts.log(`# storage postgres (${await commitSettings(storage)}, as the server sets them)`);
  else
    opts.log(
      `# storage ${storage}, durability ${durability} (${durability === 'full' ? 'every commit fsynced before the ack' : 'fsync at checkpoints'})`,
    );
  const ctx: Ctx = { opts, results: [], storage, durability };
  const only = typeof opts.args['scenario'] === 'string' ? opts.args['scenario'] : undefined;
  const groups: Array<[string, (c: Ctx) => Promise<void>]> = [
    ['memory', memoryScenario],
    ['publish', publishScenarios],
    ['e2e', latencyScenarios],
    ['fanout', fanoutScenarios],
    ['replay', replayScenario],
    ['monitoring', monitoringScenarios],
  ];
  for (const [name, fn] of groups) if (only === undefined || only === name) await fn(ctx);
  return ctx.results;
}
