/**
 * `npm run bench -- pgboss --storage postgres://... [--wake notify|poll]`: Busbar on PostgreSQL vs
 * pg-boss 10 on the same database, the same workload, in this process.
 *
 * Busbar runs in one fresh schema, pg-boss in another (both dropped at the end), each with its default
 * pool of 10 connections. Every sample runs both, alternating which goes first, and the median over
 * `--samples` is reported next to the individual runs.
 *
 * - enqueue-single-c64: 64 concurrent loops, one event per call: `bus.publish` (one matching
 *   subscription, so each publish makes one durable delivery) vs `boss.send`;
 * - enqueue-batch100-c4: 4 loops of batches of 100: `bus.publish(bus, events)` vs `boss.insert(jobs)`;
 * - e2e-1000: one event per call at 1,000 events/s, consumed in this process: `bus.consume` with
 *   delivery concurrency 64 vs `boss.work` with batches of 100. Latency from just before the send to
 *   the handler's first line, first second dropped, p50/p99.
 *
 * pg-boss 10 workers poll; the shortest interval it accepts is 0.5 s (`MIN_POLLING_INTERVAL_MS` in
 * its src/attorney.js), and it has no LISTEN/NOTIFY wake-up. What it does offer is
 * `boss.notifyWorker(id)`, which wakes a worker in the same process at once; with `--wake notify`
 * (the default, its fastest setting) every send is followed by that call. With `--wake poll` only
 * polling is left, and one worker then takes at most 100 jobs per 0.5 s (200/s, below the 1,000/s
 * offered): its queue grows through the run, not all jobs arrive within the 10 s allowed, and the
 * latencies show the backlog rather than the wake-up.
 */
import { createRequire } from 'node:module';
import PgBoss from 'pg-boss';
import { Busbar } from '../src/busbar.js';
import { afterWarmUp, median, producerId, type BenchOptions, type BenchResult } from './lib.js';
import { commitSettings, dropSchemaAt, isPostgres, serverUrl, withFreshSchema } from './postgres.js';

/** pg-boss 10's minimum `pollingIntervalSeconds` (src/attorney.js: MIN_POLLING_INTERVAL_MS = 500). */
const POLLING_SECONDS = 0.5;

const PGBOSS_VERSION = (createRequire(import.meta.url)('pg-boss/package.json') as { version: string }).version;

const SIDES = ['busbar', 'pgboss'] as const;
type Side = (typeof SIDES)[number];

interface Ctx {
  opts: BenchOptions;
  results: BenchResult[];
  bus: Busbar;
  boss: PgBoss;
  wake: 'notify' | 'poll';
}

const event = (n: number, sentAt = 0) => ({
  specversion: '1.0',
  id: producerId(),
  source: '/bench',
  type: 'order.placed',
  data: {
    n,
    sentAt,
    total: n % 1000,
    customer: `c-${n % 5000}`,
    items: [{ sku: `sku-${n % 200}`, qty: 1 + (n % 5) }],
  },
});
type BenchEvent = ReturnType<typeof event>;

function record(ctx: Ctx, scenario: string, metric: string, value: number, unit: string): void {
  ctx.results.push({ suite: 'pgboss', scenario, metric, value, unit });
}

/** The order of the two sides in sample `i`: alternating, so neither always runs on a warmer server. */
const order = (i: number): readonly Side[] => (i % 2 === 0 ? SIDES : [...SIDES].reverse());

/** Calls `enqueue` from `concurrency` loops with `batch` events each time, for `seconds`; returns events/s. */
async function enqueueRate(
  enqueue: (events: BenchEvent[]) => Promise<unknown>,
  concurrency: number,
  batch: number,
  seconds: number,
): Promise<number> {
  let n = 0;
  let enqueued = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await enqueue(Array.from({ length: batch }, () => event(n++)));
        enqueued += batch;
      }
    }),
  );
  return enqueued / ((performance.now() - start) / 1000);
}

function enqueuer(ctx: Ctx, side: Side): (events: BenchEvent[]) => Promise<unknown> {
  if (side === 'busbar') return (events) => ctx.bus.publish('bench', events.length === 1 ? events[0]! : events);
  return (events) =>
    events.length === 1
      ? ctx.boss.send('bench', events[0]!)
      : ctx.boss.insert(events.map((data) => ({ name: 'bench', data })));
}

async function enqueueScenarios(ctx: Ctx): Promise<void> {
  for (const [scenario, concurrency, batch] of [
    ['enqueue-single-c64', 64, 1],
    ['enqueue-batch100-c4', 4, 100],
  ] as const) {
    const rates: Record<Side, number[]> = { busbar: [], pgboss: [] };
    for (let i = 0; i < ctx.opts.samples; i++) {
      for (const side of order(i)) {
        const enqueue = enqueuer(ctx, side);
        await enqueueRate(enqueue, concurrency, batch, 0.3);
        rates[side].push(await enqueueRate(enqueue, concurrency, batch, ctx.opts.sampleSeconds));
      }
    }
    const line = SIDES.map((side) => {
      const value = median(rates[side]);
      record(ctx, scenario, `${side}_throughput`, value, 'events/s');
      return `${side} ${Math.round(value).toLocaleString('en-US')} [${rates[side].map(Math.round).join(', ')}]`;
    });
    const ratio = median(rates.busbar) / median(rates.pgboss);
    record(ctx, scenario, 'busbar_vs_pgboss', 100 * ratio, '%');
    ctx.opts.log(`${scenario.padEnd(22)} ${line.join('; ')} events/s (busbar/pg-boss ${ratio.toFixed(2)}×)`);
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * Sends one event per call at `rate` for `seconds`, paced in 1 ms ticks (each tick sends what the
 * schedule owes), then waits up to 10 s for `received()` to reach the total; returns the total.
 */
async function paced(
  send: (n: number) => Promise<unknown>,
  received: () => number,
  rate: number,
  seconds: number,
): Promise<number> {
  const total = rate * seconds;
  const start = performance.now();
  const inFlight: Array<Promise<unknown>> = [];
  for (let sent = 0; sent < total;) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    for (; sent < due; sent++) inFlight.push(send(sent));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
  const deadline = performance.now() + 10_000;
  while (received() < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return total;
}

/** One e2e sample of one side on its own bus / queue `name`; returns latencies in ms, unsorted. */
async function e2eSample(
  ctx: Ctx,
  side: Side,
  name: string,
  rate: number,
  seconds: number,
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (side === 'busbar') {
    await ctx.bus.putBus(name, { retention: { maxAgeMs: null, maxBytes: null } });
    await ctx.bus.putSubscription(name, {
      bus: name,
      pattern: { type: ['order.placed'] },
      delivery: { concurrency: 64 },
    });
    const consumer = ctx.bus.consume(name, (e) => {
      const { n, sentAt } = e.data as { n: number; sentAt: number };
      out.set(n, performance.now() - sentAt);
    });
    const total = await paced(
      (n) => ctx.bus.publish(name, event(n, performance.now())),
      () => out.size,
      rate,
      seconds,
    );
    await consumer.stop();
    if (out.size < total) ctx.opts.log(`  busbar: ${out.size} of ${total} events handled within 10 s`);
    return out;
  }
  await ctx.boss.createQueue(name);
  const worker = await ctx.boss.work<BenchEvent>(
    name,
    { batchSize: 100, pollingIntervalSeconds: POLLING_SECONDS },
    (jobs) => {
      const now = performance.now();
      for (const job of jobs) out.set(job.data.data.n, now - job.data.data.sentAt);
      return Promise.resolve();
    },
  );
  const total = await paced(
    async (n) => {
      await ctx.boss.send(name, event(n, performance.now()));
      if (ctx.wake === 'notify') ctx.boss.notifyWorker(worker);
    },
    () => out.size,
    rate,
    seconds,
  );
  await ctx.boss.offWork(name);
  if (out.size < total) ctx.opts.log(`  pg-boss: ${out.size} of ${total} jobs handled within 10 s`);
  return out;
}

async function e2eScenario(ctx: Ctx): Promise<void> {
  const rate = 1_000;
  const scenario = `e2e-${rate}`;
  const seconds = Math.max(3, ctx.opts.sampleSeconds * 3);
  const runs: Record<Side, Array<{ p50: number; p99: number }>> = { busbar: [], pgboss: [] };
  for (let i = 0; i < ctx.opts.samples; i++) {
    for (const side of order(i)) {
      // A bus / queue per sample, so nothing left over from an earlier sample reaches this one's handler.
      const latencies = afterWarmUp(await e2eSample(ctx, side, `e2e${i}`, rate, seconds), rate).sort((a, b) => a - b);
      runs[side].push({ p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
    }
  }
  const line = SIDES.map((side) => {
    const p50 = median(runs[side].map((r) => r.p50));
    const p99 = median(runs[side].map((r) => r.p99));
    record(ctx, scenario, `${side}_latency_p50`, p50, 'ms');
    record(ctx, scenario, `${side}_latency_p99`, p99, 'ms');
    const each = runs[side].map((r) => `${r.p50.toFixed(1)}/${r.p99.toFixed(1)}`).join(', ');
    return `${side} p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms [p50/p99: ${each}]`;
  });
  ctx.opts.log(`${scenario.padEnd(22)} ${line.join('; ')}`);
}

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const storage = opts.args['storage'];
  if (typeof storage !== 'string' || !isPostgres(storage))
    throw new Error(
      `Expected --storage to be a postgres:// URL (the pgboss suite compares on PostgreSQL), got ${String(storage ?? 'nothing')}`,
    );
  const wake = opts.args['wake'] ?? 'notify';
  if (wake !== 'notify' && wake !== 'poll')
    throw new Error(`Expected --wake to be notify or poll, got ${String(wake)}`);
  opts.log(
    `# PostgreSQL (${await commitSettings(storage)}, as the server sets them); Busbar and pg-boss in this process`,
  );
  opts.log(
    `# pg-boss ${PGBOSS_VERSION} workers: batchSize 100, pollingIntervalSeconds ${POLLING_SECONDS} (its minimum)${wake === 'notify' ? ', boss.notifyWorker(id) after every send' : ', polling only (at most 200 jobs/s per worker)'}; Busbar: delivery concurrency 64`,
  );
  const busbarStore = withFreshSchema(storage, 'bench_busbar');
  const bossStore = withFreshSchema(storage, 'bench_pgboss');
  const bossErrors: unknown[] = [];
  try {
    const bus = await Busbar.open({ storage: busbarStore.url, onError: () => undefined });
    try {
      const boss = new PgBoss({ connectionString: serverUrl(storage), schema: bossStore.schema });
      boss.on('error', (err) => bossErrors.push(err));
      await boss.start();
      try {
        await bus.putBus('bench', { retention: { maxAgeMs: null, maxBytes: null } });
        await bus.putSubscription('s', { bus: 'bench', pattern: { type: ['order.placed'] } });
        await boss.createQueue('bench');
        const ctx: Ctx = { opts, results: [], bus, boss, wake };
        const only = opts.args['scenario'];
        const groups: Array<[string, (c: Ctx) => Promise<void>]> = [
          ['enqueue', enqueueScenarios],
          ['e2e', e2eScenario],
        ];
        for (const [name, fn] of groups) if (only === undefined || only === name) await fn(ctx);
        return ctx.results;
      } finally {
        await boss.stop({ graceful: false, wait: true });
      }
    } finally {
      await bus.close();
    }
  } finally {
    await dropSchemaAt(storage, busbarStore.schema);
    await dropSchemaAt(storage, bossStore.schema);
    if (bossErrors.length > 0)
      opts.log(
        `# pg-boss reported ${bossErrors.length} error(s), first: ${bossErrors[0] instanceof Error ? bossErrors[0].message : String(bossErrors[0])}`,
      );
  }
}
