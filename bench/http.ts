/**
 * `npm run bench -- http`: the server as clients see it. `busbar start` runs in a child process on a
 * fresh SQLite file (durability full) on 127.0.0.1; this process is the load generator, with node:http
 * keep-alive connections (global fetch was measured as the bottleneck: ~3,500 requests/s for /healthz).
 *
 * - publish-single-c64: 64 concurrent clients, one event per request;
 * - publish-batch100-c4: 4 clients, batches of 100 (`application/cloudevents-batch+json`);
 * - tracing-*: the same publishes with the server exporting every span over OTLP/HTTP (to a stub
 *   collector in this process) against without (metrics are always on in the server), alternating;
 * - e2e-pull-1000 / e2e-webhook-1000: publish at 1,000 events/s; latency to a pull consumer (long-poll,
 *   ack) and to a webhook receiver in this process, p50/p99.
 */
import { spawn } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, type BenchOptions, type BenchResult } from './lib.js';

const BIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Server {
  url: string;
  stop: () => Promise<void>;
}

async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'busbar-http-bench-'));
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--storage', join(dir, 'bench.db')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BUSBAR_API_KEYS: '', OTEL_EXPORTER_OTLP_ENDPOINT: '', ...env },
  });
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
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
  source: '/bench',
  type: 'order.placed',
  data: { n, sentAt, total: n % 1000, items: [{ sku: `sku-${n % 200}`, qty: 1 }] },
});

async function publishRate(server: Server, clients: number, batch: number, seconds: number): Promise<number> {
  const target = `${server.url}/v1/buses/bench/events`;
  let n = 0;
  let done = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
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
  const target = `${server.url}/v1/buses/bench/events`;
  const total = rate * seconds;
  const start = performance.now();
  const pending: Array<Promise<unknown>> = [];
  for (let sent = 0; sent < total;) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    for (; sent < due; sent++)
      pending.push(call(target, 'POST', event(sent, performance.now()), 'application/cloudevents+json'));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  return total;
}

async function pullLatency(server: Server, rate: number, seconds: number): Promise<number[]> {
  await call(`${server.url}/v1/subscriptions/pull-bench`, 'PUT', { bus: 'bench', pattern: { type: ['order.placed'] } });
  const latencies: number[] = [];
  let running = true;
  const consumers = Array.from({ length: 4 }, async () => {
    while (running) {
      const { messages } = (await call(`${server.url}/v1/subscriptions/pull-bench/pull`, 'POST', {
        max: 100,
        waitMs: 500,
      })) as {
        messages: Array<{ receipt: string; event: { data: { sentAt: number } } }>;
      };
      const now = performance.now();
      for (const m of messages) latencies.push(now - m.event.data.sentAt);
      if (messages.length > 0)
        await call(`${server.url}/v1/subscriptions/pull-bench/ack`, 'POST', {
          receipts: messages.map((m) => m.receipt),
        });
    }
  });
  const total = await paced(server, rate, seconds);
  const deadline = performance.now() + 10_000;
  while (latencies.length < total && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  running = false;
  await Promise.all(consumers);
  await call(`${server.url}/v1/subscriptions/pull-bench`, 'DELETE', undefined).catch(() => undefined);
  return latencies.slice(rate);
}

async function webhookLatency(server: Server, rate: number, seconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      latencies.push(performance.now() - (JSON.parse(body) as { sentAt: number }).sentAt);
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await call(`${server.url}/v1/subscriptions/hook-bench`, 'PUT', {
    bus: 'bench',
    pattern: { type: ['order.placed'] },
    target: { type: 'webhook', url: `http://127.0.0.1:${port}/hook`, concurrency: 64 },
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const total = await paced(server, rate, seconds);
  const deadline = performance.now() + 10_000;
  while (latencies.length < total && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  await call(`${server.url}/v1/subscriptions/hook-bench`, 'DELETE', undefined).catch(() => undefined);
  await new Promise((resolve) => receiver.close(resolve));
  return latencies.slice(rate);
}

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  opts.log('# server: busbar start in a child process, SQLite durability full, 127.0.0.1; client: this process');
  const results: BenchResult[] = [];
  const record = (scenario: string, metric: string, value: number, unit: string): void => {
    results.push({ suite: 'http', scenario, metric, value, unit });
  };
  for (const [scenario, clients, batch] of [
    ['publish-single-c64', 64, 1],
    ['publish-batch100-c4', 4, 100],
  ] as const) {
    const rates: number[] = [];
    for (let i = 0; i < opts.samples; i++) {
      const server = await startServer();
      try {
        await call(`${server.url}/v1/buses/bench`, 'PUT', { retention: { maxAgeMs: null } });
        await call(`${server.url}/v1/subscriptions/s`, 'PUT', { bus: 'bench', pattern: { type: ['order.placed'] } });
        await publishRate(server, clients, batch, 0.3);
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
        const server = await startServer(mode === 'on' ? tracing : {});
        try {
          await call(`${server.url}/v1/buses/bench`, 'PUT', { retention: { maxAgeMs: null } });
          await call(`${server.url}/v1/subscriptions/s`, 'PUT', { bus: 'bench', pattern: { type: ['order.placed'] } });
          await publishRate(server, clients, batch, 0.3);
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
  for (const [scenario, measure] of [
    ['e2e-pull-1000', pullLatency],
    ['e2e-webhook-1000', webhookLatency],
  ] as const) {
    const server = await startServer();
    try {
      await call(`${server.url}/v1/buses/bench`, 'PUT', {});
      const latencies = (await measure(server, 1_000, Math.max(3, opts.sampleSeconds * 3))).sort((a, b) => a - b);
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
