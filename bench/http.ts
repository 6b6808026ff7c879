/**
 * `npm run bench -- http [--storage postgres://... [--nodes N]] [--scenario publish|tracing|e2e]`: the
 * server as clients see it. `busbar start` runs in a child process on a fresh SQLite file (durability
 * full) on 127.0.0.1; this process is the load generator, with node:http keep-alive connections
 * (global fetch was measured as the bottleneck: ~3,500 requests/s for /healthz).
 *
 * With a PostgreSQL URL, each server group is N child processes (`--nodes`, default 1) sharing one
 * fresh schema, dropped when the group stops. Clients go round-robin over the nodes (client i to node
 * i % N, paced publishes by event number, pull consumers likewise); buses and subscriptions are made
 * through node 0, and publishing starts once every node lists the same subscriptions (nodes learn
 * catalog changes through LISTEN/NOTIFY).
 *
 * - publish-single-c64: 64 concurrent clients, one event per request;
 * - publish-batch100-c4: 4 clients, batches of 100 (`application/cloudevents-batch+json`);
 * - tracing-*: the same publishes with the server exporting every span over OTLP/HTTP (to a stub
 *   collector in this process) against without (metrics are always on in the server), alternating;
 * - e2e-pull-1000 / e2e-webhook-1000: publish at 1,000 events/s; latency to a pull consumer (long-poll,
 *   ack) and to a webhook receiver in this process, p50/p99.
 *
 * `--warmup S` (default 3): every server is a fresh process, so each measurement first runs the same
 * load for S seconds (not counted) while V8 compiles the hot paths; until the third session it was
 * 0.3 s for publishes and 1 s for latencies, which measured a mostly unoptimised server.
 */
import { spawn } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterWarmUp, median, producerId, type BenchOptions, type BenchResult } from './lib.js';
import { commitSettings, dropSchemaAt, isPostgres, withFreshSchema } from './postgres.js';

const BIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** One server group: its nodes' base URLs (node 0 first) sharing one store. */
interface Server {
  urls: string[];
  stop: () => Promise<void>;
}

/** `--storage` (a SQLite file per group when absent) and `--nodes`. */
interface Setup {
  postgres: string | undefined;
  nodes: number;
  /** Seconds of load before each measurement. */
  warmup: number;
}

/** Starts `busbar start` on `storage` in a child process; resolves with its URL and a stop function. */
async function startNode(
  storage: string,
  env: Record<string, string>,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--storage', storage], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BUSBAR_API_KEYS: '', OTEL_EXPORTER_OTLP_ENDPOINT: '', ...env },
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`busbar start exited with ${String(code)}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function startServer(setup: Setup, env: Record<string, string> = {}): Promise<Server> {
  if (setup.postgres === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'busbar-http-bench-'));
    const node = await startNode(join(dir, 'bench.db'), env);
    return {
      urls: [node.url],
      stop: async () => {
        await node.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const { url, schema } = withFreshSchema(setup.postgres);
  const started = await Promise.allSettled(Array.from({ length: setup.nodes }, () => startNode(url, env)));
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
    await dropSchemaAt(url, schema);
  };
  const failed = started.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  return { urls: nodes.map((node) => node.url), stop };
}

const agent = new Agent({ keepAlive: true, maxSockets: 128 });

/** One JSON request over a keep-alive connection; rejects on a non-2xx answer. */
function call(url: string, method: string, body: unknown, type = 'application/json'): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, agent, headers: payload === undefined ? {} : { 'content-type': type } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) reject(new Error(`${method} ${url}: ${status} ${text}`));
          else resolve(text === '' ? undefined : (JSON.parse(text) as unknown));
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const event = (n: number, sentAt = 0): Record<string, unknown> => ({
  specversion: '1.0',
  id: producerId(),
  source: '/bench',
  type: 'order.placed',
  data: { n, sentAt, total: n % 1000, items: [{ sku: `sku-${n % 200}`, qty: 1 }] },
});

/** Waits until every node lists the subscriptions node 0 lists (catalog changes travel by NOTIFY). */
async function synced(server: Server): Promise<void> {
  if (server.urls.length === 1) return;
  const names = async (url: string): Promise<string> =>
    (
      (await call(`${url}/v1/subscriptions`, 'GET', undefined)) as { subscriptions: Array<{ name: string }> }
    ).subscriptions
      .map((s) => s.name)
      .sort()
      .join(',');
  const want = await names(server.urls[0]!);
  const deadline = performance.now() + 10_000;
  for (const url of server.urls.slice(1)) {
    for (let seen = await names(url); seen !== want; seen = await names(url)) {
      if (performance.now() > deadline)
        throw new Error(`${url} lists subscriptions [${seen}], node 0 [${want}], after 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

async function publishRate(server: Server, clients: number, batch: number, seconds: number): Promise<number> {
  const targets = server.urls.map((url) => `${url}/v1/buses/bench/events`);
  let n = 0;
  let done = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const target = targets[client % targets.length]!;
      while (performance.now() < deadline) {
        if (batch === 1) await call(target, 'POST', event(n++), 'application/cloudevents+json');
        else
          await call(
            target,
            'POST',
            Array.from({ length: batch }, () => event(n++)),
            'application/cloudevents-batch+json',
          );
        done += batch;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Publishes at `rate` for `seconds`, one event per request; returns when all publishes answered. */
async function paced(server: Server, rate: number, seconds: number): Promise<number> {
  const targets = server.urls.map((url) => `${url}/v1/buses/bench/events`);
  const total = rate * seconds;
  const start = performance.now();
  const pending: Array<Promise<unknown>> = [];
  for (let sent = 0; sent < total;) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    for (; sent < due; sent++)
      pending.push(
        call(targets[sent % targets.length]!, 'POST', event(sent, performance.now()), 'application/cloudevents+json'),
      );
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  return total;
}

/** Latency to a pull consumer of events published at `rate` for `warmup` + `seconds`; the first `warmup` seconds' events are left out. */
async function pullLatency(server: Server, rate: number, seconds: number, warmup: number): Promise<number[]> {
  await call(`${server.urls[0]}/v1/subscriptions/pull-bench`, 'PUT', {
    bus: 'bench',
    pattern: { type: ['order.placed'] },
  });
  await synced(server);
  const latencies = new Map<number, number>();
  let running = true;
  const consumers = Array.from({ length: Math.max(4, server.urls.length) }, async (_, consumer) => {
    const url = server.urls[consumer % server.urls.length]!;
    while (running) {
      const { messages } = (await call(`${url}/v1/subscriptions/pull-bench/pull`, 'POST', {
        max: 100,
        waitMs: 500,
      })) as {
        messages: Array<{ receipt: string; event: { data: { n: number; sentAt: number } } }>;
      };
      const now = performance.now();
      for (const m of messages) latencies.set(m.event.data.n, now - m.event.data.sentAt);
      if (messages.length > 0)
        await call(`${url}/v1/subscriptions/pull-bench/ack`, 'POST', {
          receipts: messages.map((m) => m.receipt),
        });
    }
  });
  const total = await paced(server, rate, warmup + seconds);
  const deadline = performance.now() + 10_000;
  while (latencies.size < total && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  running = false;
  await Promise.all(consumers);
  await call(`${server.urls[0]}/v1/subscriptions/pull-bench`, 'DELETE', undefined).catch(() => undefined);
  return afterWarmUp(latencies, Math.round(rate * warmup));
}

/** Latency to a webhook receiver, as {@link pullLatency}. */
async function webhookLatency(server: Server, rate: number, seconds: number, warmup: number): Promise<number[]> {
  const latencies = new Map<number, number>();
  const receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const { n, sentAt } = JSON.parse(body) as { n: number; sentAt: number };
      latencies.set(n, performance.now() - sentAt);
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await call(`${server.urls[0]}/v1/subscriptions/hook-bench`, 'PUT', {
    bus: 'bench',
    pattern: { type: ['order.placed'] },
    target: { type: 'webhook', url: `http://127.0.0.1:${port}/hook`, concurrency: 64 },
  });
  await synced(server);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const total = await paced(server, rate, warmup + seconds);
  const deadline = performance.now() + 10_000;
  while (latencies.size < total && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  await call(`${server.urls[0]}/v1/subscriptions/hook-bench`, 'DELETE', undefined).catch(() => undefined);
  await new Promise((resolve) => receiver.close(resolve));
  return afterWarmUp(latencies, Math.round(rate * warmup));
}

/** Makes the bus and subscription `s` through node 0, waits until every node has them, and warms up. */
async function prepare(server: Server, clients: number, batch: number, warmup: number): Promise<void> {
  await call(`${server.urls[0]}/v1/buses/bench`, 'PUT', { retention: { maxAgeMs: null } });
  await call(`${server.urls[0]}/v1/subscriptions/s`, 'PUT', { bus: 'bench', pattern: { type: ['order.placed'] } });
  await synced(server);
  await publishRate(server, clients, batch, warmup);
}

function parseSetup(args: BenchOptions['args']): Setup {
  const storage = args['storage'];
  if (storage !== undefined && (typeof storage !== 'string' || (storage !== 'sqlite' && !isPostgres(storage))))
    throw new Error(`Expected --storage to be sqlite or a postgres:// URL, got ${String(storage)}`);
  const postgres = storage !== undefined && isPostgres(storage) ? storage : undefined;
  const nodesArg = args['nodes'];
  const nodes = nodesArg === undefined ? 1 : Number(nodesArg);
  if (!Number.isSafeInteger(nodes) || nodes < 1)
    throw new Error(`Expected --nodes to be a positive integer, got ${String(nodesArg)}`);
  if (nodes > 1 && postgres === undefined)
    throw new Error(
      `Expected --storage to be a postgres:// URL with --nodes ${nodes}: SQLite nodes cannot share a store`,
    );
  const scenario = args['scenario'];
  if (scenario !== undefined && scenario !== 'publish' && scenario !== 'tracing' && scenario !== 'e2e')
    throw new Error(`Expected --scenario to be publish, tracing or e2e, got ${String(scenario)}`);
  const warmupArg = args['warmup'];
  const warmup = warmupArg === undefined ? 3 : Number(warmupArg);
  if (!Number.isFinite(warmup) || warmup < 0)
    throw new Error(`Expected --warmup to be a number of seconds, 0 or more, got ${String(warmupArg)}`);
  return { postgres, nodes, warmup };
}

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const setup = parseSetup(opts.args);
  const only = opts.args['scenario'];
  const wanted = (group: string): boolean => only === undefined || only === group;
  if (setup.postgres === undefined)
    opts.log('# server: busbar start in a child process, SQLite durability full, 127.0.0.1; client: this process');
  else
    opts.log(
      `# server: ${setup.nodes} × busbar start in child processes sharing one schema, PostgreSQL (${await commitSettings(setup.postgres)}, as the server sets them), 127.0.0.1; client: this process`,
    );
  const results: BenchResult[] = [];
  const record = (scenario: string, metric: string, value: number, unit: string): void => {
    results.push({ suite: 'http', scenario, metric, value, unit });
  };
  for (const [scenario, clients, batch] of [
    ['publish-single-c64', 64, 1],
    ['publish-batch100-c4', 4, 100],
  ] as const) {
    if (!wanted('publish')) break;
    const rates: number[] = [];
    for (let i = 0; i < opts.samples; i++) {
      const server = await startServer(setup);
      try {
        await prepare(server, clients, batch, setup.warmup);
        rates.push(await publishRate(server, clients, batch, opts.sampleSeconds));
      } finally {
        await server.stop();
      }
    }
    opts.log(
      `${scenario.padEnd(22)} ${Math.round(median(rates)).toLocaleString('en-US').padStart(9)} events/s (runs: ${rates.map((r) => Math.round(r)).join(', ')})`,
    );
    record(scenario, 'throughput', median(rates), 'events/s');
  }
  if (wanted('tracing')) {
    // Tracing on: the server exports every span over OTLP/HTTP to a collector stub in this process.
    const sink = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as { port: number }).port}` };
    for (const [name, clients, batch] of [
      ['single-c64', 64, 1],
      ['batch100-c4', 4, 100],
    ] as const) {
      const rates = { off: [] as number[], on: [] as number[] };
      for (let i = 0; i < opts.samples; i++) {
        for (const mode of ['off', 'on'] as const) {
          const server = await startServer(setup, mode === 'on' ? tracing : {});
          try {
            await prepare(server, clients, batch, setup.warmup);
            rates[mode].push(await publishRate(server, clients, batch, opts.sampleSeconds));
          } finally {
            await server.stop();
          }
        }
      }
      const [off, on] = [median(rates.off), median(rates.on)];
      opts.log(
        `${`tracing-${name}`.padEnd(22)} off ${Math.round(off).toLocaleString('en-US')} / on ${Math.round(on).toLocaleString('en-US')} events/s = ${((100 * on) / off).toFixed(1)} % (runs off: ${rates.off.map(Math.round).join(', ')}; on: ${rates.on.map(Math.round).join(', ')})`,
      );
      record(`tracing-${name}`, 'throughput_off', off, 'events/s');
      record(`tracing-${name}`, 'throughput_on', on, 'events/s');
      record(`tracing-${name}`, 'on_vs_off', (100 * on) / off, '%');
    }
    await new Promise((resolve) => sink.close(resolve));
  }
  for (const [scenario, measure] of [
    ['e2e-pull-1000', pullLatency],
    ['e2e-webhook-1000', webhookLatency],
  ] as const) {
    if (!wanted('e2e')) break;
    const server = await startServer(setup);
    try {
      await call(`${server.urls[0]}/v1/buses/bench`, 'PUT', {});
      const latencies = (await measure(server, 1_000, Math.max(3, opts.sampleSeconds * 3), setup.warmup)).sort(
        (a, b) => a - b,
      );
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      opts.log(
        `${scenario.padEnd(22)} p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms over ${latencies.length} events`,
      );
      record(scenario, 'latency_p50', p50, 'ms');
      record(scenario, 'latency_p99', p99, 'ms');
    } finally {
      await server.stop();
    }
  }
  return results;
}
