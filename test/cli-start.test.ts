/**
 * `busbar start` as a user runs it: the built binary, a real port on 127.0.0.1, real HTTP, and a
 * graceful stop on SIGTERM that keeps what was acknowledged.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'busbar-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, 'start', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BUSBAR_PORT: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${stderr}`)), 20_000);
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return { child, exited, url, output: () => ({ stdout, stderr }) };
}

describe('busbar start', () => {
  it('serves the API, and stops gracefully on SIGTERM keeping acknowledged events', async () => {
    const db = join(dir, 'a', 'busbar.db');
    const server = start(['--port', '0', '--storage', db]);
    const url = await server.url;
    expect((await (await fetch(`${url}/healthz`)).json()) as unknown).toEqual({ status: 'ok' });
    expect(
      (
        await fetch(`${url}/v1/buses/orders`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).status,
    ).toBe(200);
    const published = await fetch(`${url}/v1/buses/orders/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'e-1', source: '/test', type: 'order.placed', data: { n: 1 } }),
    });
    expect(published.status).toBe(200);
    expect(await published.json()).toEqual({ results: [{ id: 'e-1', status: 'accepted' }] });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.output().stdout).toContain('busbar: stopped');

    const again = start(['--port', '0', '--storage', db]);
    const url2 = await again.url;
    const archive = (await (await fetch(`${url2}/v1/buses/orders/events`)).json()) as { events: Array<{ id: string }> };
    expect(archive.events.map((e) => e.id)).toEqual(['e-1']);
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(0);
  }, 60_000);

  it('stops within seconds even with a long-poll waiting and a connection that never sent a request', async () => {
    const server = start(['--port', '0', '--storage', join(dir, 'idle', 'busbar.db')]);
    const url = await server.url;
    const put = (path: string, body: object) =>
      fetch(`${url}${path}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await put('/v1/buses/orders', {});
    await put('/v1/subscriptions/work', { bus: 'orders', pattern: { source: ['/t'] } });
    const poll = fetch(`${url}/v1/subscriptions/work/pull`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ waitMs: 60_000 }),
    });
    const { port, hostname } = new URL(url);
    const silent = connect(Number(port), hostname);
    await new Promise((resolve) => silent.once('connect', resolve));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopping = performance.now();
    server.child.kill('SIGTERM');
    expect((await (await poll).json()) as unknown).toEqual({ messages: [] });
    expect(await server.exited).toBe(0);
    expect(performance.now() - stopping).toBeLessThan(8_000);
    silent.destroy();
  }, 60_000);

  it('rejects bad settings with one line and exit code 2', async () => {
    const bad = start(['--port', 'abc']);
    expect(await bad.exited).toBe(2);
    expect(bad.output().stderr.trim()).toBe('Expected --port to be a port number from 0 to 65535, got "abc" (string)');
    const tracing = start(['--port', '0', '--storage', join(dir, 'never.db')], {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_TRACES_SAMPLER: 'sometimes',
    });
    expect(await tracing.exited).toBe(2);
    expect(tracing.output().stderr.trim()).toBe(
      'Expected OTEL_TRACES_SAMPLER to be one of always_on, always_off, traceidratio, parentbased_always_on, ' +
        'parentbased_always_off, parentbased_traceidratio, got "sometimes" (string)',
    );
    expect(existsSync(join(dir, 'never.db'))).toBe(false);
  });

  it('names an unreachable PostgreSQL (never its password) and exits 1; a bad schema name exits 2', async () => {
    // Port 1 on loopback: nothing listens there.
    const down = start(['--port', '0', '--storage', 'postgres://busbar:secret@127.0.0.1:1/busbar']);
    expect(await down.exited).toBe(1);
    expect(down.output().stderr.trim()).toBe(
      'Storage failed: Cannot connect to PostgreSQL at 127.0.0.1:1/busbar: connect ECONNREFUSED 127.0.0.1:1',
    );
    const bad = start(['--port', '0', '--storage', 'postgres://busbar@127.0.0.1:1/busbar?schema=Bad-Name']);
    expect(await bad.exited).toBe(2);
    expect(bad.output().stderr.trim()).toBe(
      'Expected the schema name to be 1 to 63 lowercase letters, digits or "_" (not starting with a digit), got "Bad-Name"',
    );
  });

  it('applies a --config topology before listening, idempotently, with the API keys it declares', async () => {
    const config = join(dir, 'busbar.config.yaml');
    writeFileSync(
      config,
      [
        'buses:',
        '  orders:',
        '    retention: { maxAgeMs: 604800000, maxBytes: null }',
        'subscriptions:',
        '  inventory:',
        '    bus: orders',
        '    pattern: { type: [order.placed] }',
        '    target: { type: pull }',
        '    delivery: { maxAttempts: 5 }',
        'apiKeys:',
        '  - key: ${OPS_KEY}',
        '    scopes: [admin]',
      ].join('\n'),
    );
    const key = 'ops-key-0123456789';
    const db = join(dir, 'c', 'busbar.db');
    const server = start(['--port', '0', '--storage', db, '--config', config], { OPS_KEY: key });
    const url = await server.url;
    expect(server.output().stdout).toContain(
      `busbar: topology ${config}: 1 bus, 1 subscription applied (2 created, 0 updated, 0 unchanged;`,
    );
    expect((await fetch(`${url}/v1/subscriptions/inventory`)).status).toBe(401);
    const auth = { authorization: `Bearer ${key}` };
    const bus = (await (await fetch(`${url}/v1/buses/orders`, { headers: auth })).json()) as Record<string, unknown>;
    expect(bus).toMatchObject({ name: 'orders', retention: { maxAgeMs: 604800000, maxBytes: null } });
    const sub = (await (await fetch(`${url}/v1/subscriptions/inventory`, { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    expect(sub).toMatchObject({ bus: 'orders', target: { type: 'pull' }, delivery: { maxAttempts: 5 } });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);

    // A second start over the same storage finds everything as declared and writes nothing.
    const again = start(['--port', '0', '--storage', db], { OPS_KEY: key, BUSBAR_CONFIG: config });
    const url2 = await again.url;
    expect(again.output().stdout).toContain('(0 created, 0 updated, 2 unchanged;');
    const same = (await (await fetch(`${url2}/v1/subscriptions/inventory`, { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    expect(same['updatedAt']).toBe(sub['updatedAt']);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 60_000);

  it('refuses an invalid topology with one line naming the file and the path, and exit code 2', async () => {
    const config = join(dir, 'bad.json');
    writeFileSync(
      config,
      JSON.stringify({ subscriptions: { s: { bus: 'b', pattern: { type: ['x'] }, delivery: { maxAttempts: 0 } } } }),
    );
    const bad = start(['--port', '0', '--storage', 'memory', '--config', config]);
    expect(await bad.exited).toBe(2);
    expect(bad.output().stderr.trim()).toBe(
      `${config}: Expected \`subscriptions.s.delivery.maxAttempts\` to be an integer from 1 to 1000, got 0 (number)`,
    );
    // Found only once storage is open: the bus neither declared nor existing. Storage is closed again.
    writeFileSync(config, JSON.stringify({ subscriptions: { s: { bus: 'b', pattern: { type: ['x'] } } } }));
    const unknown = start(['--port', '0', '--storage', 'memory', '--config', config]);
    expect(await unknown.exited).toBe(2);
    expect(unknown.output().stderr.trim()).toBe(
      `${config}: Expected \`subscriptions.s.bus\` to be a bus declared under \`buses\` or one that exists, got "b" (string)`,
    );
  });
});
