/**
 * The dashboard: its static files as the server serves them (content types, caching, no traversal,
 * no key needed), and the built app in a real Chromium (playwright-core) against the built
 * `busbar start`: the live flow, dead letters with a dry-run redrive, event search and lineage,
 * replays, the subscription page, the live tail, and the API key prompt.
 *
 * The browser tests need /usr/bin/chromium (Debian's `chromium` package; .ci/run installs it). Without
 * it they are skipped with a printed reason, except in CI (CI=true), where they fail.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Busbar } from '../src/busbar.js';
import { notFoundHandler } from '../src/server/errors.js';
import { buildServer } from '../src/server/index.js';
import { serveDashboard } from '../src/server/static.js';
import type { FlowSnapshot, FlowSubscription } from '../dashboard/src/api.js';
import { layoutFlow, NODE_WIDTH } from '../dashboard/src/pages/flow-layout.js';
import { parseRoute } from '../dashboard/src/router.js';

const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const BUILT_INDEX = fileURLToPath(new URL('../dist/dashboard/index.html', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'busbar-dashboard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dashboard static files', () => {
  const root = join(dir, 'static', 'dashboard');
  let app: FastifyInstance;

  beforeAll(async () => {
    mkdirSync(join(root, 'assets'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>Busbar</title>');
    writeFileSync(join(root, 'assets', 'index-AbC123.js'), 'console.log(1)');
    writeFileSync(join(root, 'assets', 'index-AbC123.css'), 'body{}');
    writeFileSync(join(dir, 'static', 'secret.txt'), 'SECRET');
    app = Fastify();
    app.setNotFoundHandler(notFoundHandler);
    serveDashboard(app, { root });
    app.get('/v1/buses', () => ({ buses: [] }));
    await app.ready();
  });
  afterAll(() => app.close());

  it('serves index.html at / and for unknown non-API paths, revalidated, with a CSP', async () => {
    for (const url of ['/', '/index.html', '/flow', '/some/deep/path?x=1']) {
      const res = await app.inject(url);
      expect([url, res.statusCode, res.body]).toEqual([url, 200, '<!doctype html><title>Busbar</title>']);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('serves hashed assets with their content type, cached for a year', async () => {
    const js = await app.inject('/assets/index-AbC123.js');
    expect([js.statusCode, js.body, js.headers['content-type']]).toEqual([
      200,
      'console.log(1)',
      'text/javascript; charset=utf-8',
    ]);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const css = await app.inject('/assets/index-AbC123.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('answers HEAD without a body and If-None-Match with 304', async () => {
    const head = await app.inject({ method: 'HEAD', url: '/assets/index-AbC123.js' });
    expect([head.statusCode, head.body, head.headers['content-length']]).toEqual([200, '', '14']);
    const etag = head.headers['etag'] as string;
    const again = await app.inject({ url: '/assets/index-AbC123.js', headers: { 'if-none-match': etag } });
    expect([again.statusCode, again.body]).toEqual([304, '']);
  });

  it('leaves API paths, missing assets, other methods and matched routes alone', async () => {
    const api = await app.inject('/v1/nope');
    expect([api.statusCode, api.json()]).toEqual([
      404,
      { error: { code: 'NOT_FOUND', message: 'No route GET /v1/nope' } },
    ]);
    expect((await app.inject('/metrics')).statusCode).toBe(404);
    expect((await app.inject('/assets/gone-123.js')).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/' })).statusCode).toBe(404);
    expect((await app.inject('/v1/buses')).json()).toEqual({ buses: [] });
  });

  it('never serves a file outside its directory', async () => {
    for (const url of [
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/..%5c..%5csecret.txt',
      '/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/assets/%00.js',
      '/%E0%A4%A',
    ]) {
      const res = await app.inject(url);
      expect([url, res.body]).not.toEqual([url, 'SECRET']);
      expect(res.body).not.toContain('SECRET');
    }
  });

  it.skipIf(!existsSync(BUILT_INDEX))('needs no API key, while the API still does (the built dashboard)', async () => {
    const bus = await Busbar.open({ storage: 'memory' });
    const server = buildServer(bus, { apiKeys: [{ key: 'admin-key-0123456789', scopes: ['admin'] }] });
    try {
      const page = await server.inject('/');
      expect([page.statusCode, page.headers['content-type']]).toEqual([200, 'text/html; charset=utf-8']);
      expect(page.body).toMatch(/<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
      const script = /src="(\/assets\/[^"]+)"/.exec(page.body)![1]!;
      expect((await server.inject(script)).statusCode).toBe(200);
      expect((await server.inject('/v1/buses')).statusCode).toBe(401);
      expect((await server.inject('/v1/nope')).statusCode).toBe(401);
      const authed = await server.inject({
        url: '/v1/buses',
        headers: { authorization: 'Bearer admin-key-0123456789' },
      });
      expect(authed.statusCode).toBe(200);
    } finally {
      await server.close();
      await bus.close();
    }
  });
});

describe('dashboard logic', () => {
  it('routes hashes to pages, decoding names', () => {
    expect(parseRoute('')).toEqual({ page: 'flow' });
    expect(parseRoute('#/flow')).toEqual({ page: 'flow' });
    expect(parseRoute('#/subscriptions/a%2Fb')).toEqual({ page: 'subscription', name: 'a/b' });
    expect(parseRoute('#/events')).toEqual({ page: 'events', bus: null });
    expect(parseRoute('#/events/orders')).toEqual({ page: 'events', bus: 'orders' });
    expect(parseRoute('#/events/orders/o%201')).toEqual({ page: 'event', bus: 'orders', id: 'o 1' });
    expect(parseRoute('#/dead-letters')).toEqual({ page: 'dead-letters', subscription: null });
    expect(parseRoute('#/dead-letters/notify')).toEqual({ page: 'dead-letters', subscription: 'notify' });
    expect(parseRoute('#/replays')).toEqual({ page: 'replays' });
    expect(parseRoute('#/tail')).toEqual({ page: 'tail' });
    expect(parseRoute('#/nope/x')).toEqual({ page: 'not-found', path: 'nope/x' });
  });

  it('lays the flow out in four columns without overlaps, one edge per link', () => {
    const sub = (name: string, bus: string, extra: Partial<FlowSubscription> = {}): FlowSubscription => ({
      name,
      bus,
      paused: false,
      target: { type: 'pull' },
      deliveredPerSec: 1,
      failedPerSec: 0,
      errorRate: 0,
      latencyMs: null,
      backlog: 0,
      inFlight: 0,
      dead: 0,
      oldestPendingAgeMs: 0,
      status: 'ok',
      ...extra,
    });
    const hook = { type: 'webhook', url: 'https://example.com/hook' } as const;
    const snapshot: FlowSnapshot = {
      at: 0,
      buses: [
        {
          name: 'orders',
          publishedPerSec: 3,
          rejectedPerSec: 0,
          sources: [
            { source: '/shop', perSec: 2 },
            { source: '/pos', perSec: 1 },
          ],
        },
        { name: 'audit', publishedPerSec: 1, rejectedPerSec: 0, sources: [{ source: '/shop', perSec: 1 }] },
        { name: 'idle', publishedPerSec: 0, rejectedPerSec: 0, sources: [] },
      ],
      subscriptions: [
        sub('notify', 'orders', { target: hook, failedPerSec: 2, status: 'failing' }),
        sub('inventory', 'orders'),
        sub('archive', 'audit', { target: hook, paused: true, status: 'paused' }),
      ],
    };
    const layout = layoutFlow(snapshot);
    const columns = (kind: string) => layout.boxes.filter((b) => b.kind === kind);
    expect(columns('source').map((b) => b.key)).toEqual(expect.arrayContaining(['source /shop', 'source /pos']));
    expect(columns('source')).toHaveLength(2);
    expect(columns('bus')).toHaveLength(3);
    expect(columns('subscription')).toHaveLength(3);
    // Two subscriptions share one webhook: one target box.
    expect(columns('target').map((b) => b.key)).toEqual(
      expect.arrayContaining(['target webhook https://example.com/hook', 'target pull inventory']),
    );
    expect(columns('target')).toHaveLength(2);
    for (const kind of ['source', 'bus', 'subscription', 'target']) {
      const boxes = columns(kind).sort((a, b) => a.y - b.y);
      expect(new Set(boxes.map((b) => b.x)).size).toBe(1);
      for (let i = 1; i < boxes.length; i++)
        expect(boxes[i]!.y).toBeGreaterThanOrEqual(boxes[i - 1]!.y + boxes[i - 1]!.height);
    }
    expect(layout.width).toBe(columns('target')[0]!.x + NODE_WIDTH);
    expect(Math.max(...layout.boxes.map((b) => b.y + b.height))).toBeLessThanOrEqual(layout.height);
    // 3 source→bus, 3 bus→subscription, 3 subscription→target.
    expect(layout.edges).toHaveLength(9);
    const edge = (from: string, to: string) => layout.edges.find((e) => e.key === `${from}→${to}`)!;
    expect(edge('bus orders', 'subscription notify')).toMatchObject({ perSec: 3, tone: 'ok' });
    expect(edge('subscription notify', 'target webhook https://example.com/hook')).toMatchObject({
      perSec: 1,
      failedPerSec: 2,
      tone: 'failing',
    });
    expect(edge('subscription archive', 'target webhook https://example.com/hook').tone).toBe('paused');
    expect(edge('source /shop', 'bus audit').perSec).toBe(1);
  });
});

// ---- in Chromium -----------------------------------------------------------------------------------

const inCi = process.env['CI'] === 'true';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !inCi) {
  console.warn(
    `test/dashboard.test.ts: browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium); in CI they fail instead`,
  );
}

interface Server {
  readonly url: string;
  stop(): Promise<void>;
}

/** The built `busbar start` on a free port with its own storage. */
async function startServer(name: string, env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--storage', join(dir, name, 'busbar.db')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BUSBAR_PORT: '', BUSBAR_API_KEYS: '', BUSBAR_CONFIG: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`busbar start did not listen; stderr: ${stderr}`)), 20_000);
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(stdout);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`busbar start exited ${code}; stderr: ${stderr}`)));
  });
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A fresh Chromium profile; console errors of the page are collected for the assertions. */
async function openBrowser(): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  if (!haveChromium) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (see .ci/run)`);
  const context = await chromium.launchPersistentContext(mkdtempSync(join(dir, 'chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  return { context, page, errors };
}

/** JSON over HTTP to the server, with a key when given; throws on a non-2xx. */
function api(server: Server, key?: string) {
  return async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key !== undefined) headers['authorization'] = `Bearer ${key}`;
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
}

const orders = (ids: number[]) =>
  ids.map((n) => ({ specversion: '1.0', id: `o-${n}`, source: '/shop', type: 'order.placed', data: { total: n } }));

describe.skipIf(!haveChromium && !inCi)('dashboard in Chromium', () => {
  let server: Server;
  let call: ReturnType<typeof api>;
  let browser: Awaited<ReturnType<typeof openBrowser>>;
  let page: Page;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startServer('open'), openBrowser()]);
    page = browser.page;
    call = api(server);
    await call('PUT', '/v1/buses/orders', {});
    await call('PUT', '/v1/subscriptions/inventory', { bus: 'orders', pattern: { type: ['order.placed'] } });
    await call('PUT', '/v1/subscriptions/notify', {
      bus: 'orders',
      pattern: { type: ['order.placed'] },
      delivery: { maxAttempts: 1 },
    });
  }, 30_000);
  afterAll(async () => {
    await browser?.context.close();
    await server?.stop();
  });

  it('Flow shows the bus and subscriptions and follows publishes and failures live', async () => {
    await page.goto(`${server.url}/`);
    await page.locator('[data-subscription="notify"]').waitFor();
    expect(await page.locator('[data-bus="orders"]').count()).toBe(1);
    expect(await page.locator('[data-subscription="inventory"]').getAttribute('data-status')).toBe('ok');
    expect(await page.locator('[data-subscription="notify"]').getAttribute('data-status')).toBe('ok');
    expect(await page.locator('[data-bus="orders"] [data-metric="published"]').textContent()).toBe('0/s');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    await call('POST', '/v1/buses/orders/events', orders([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    const inventory = await call<{ messages: Array<{ receipt: string }> }>('POST', '/v1/subscriptions/inventory/pull', {
      max: 100,
      waitMs: 2000,
    });
    await call('POST', '/v1/subscriptions/inventory/ack', { receipts: inventory.messages.map((m) => m.receipt) });
    const notify = await call<{ messages: Array<{ receipt: string }> }>('POST', '/v1/subscriptions/notify/pull', {
      max: 100,
      waitMs: 2000,
    });
    expect([inventory.messages.length, notify.messages.length]).toEqual([10, 10]);
    await call('POST', '/v1/subscriptions/notify/nack', {
      receipts: notify.messages.map((m) => m.receipt),
      error: 'mail provider down',
    });

    // No reload: the same document (the marker survives) shows the new numbers.
    await page.locator('[data-subscription="notify"][data-status="failing"]').waitFor();
    await page.waitForFunction(
      () => document.querySelector('[data-bus="orders"] [data-metric="published"]')?.textContent !== '0/s',
    );
    expect(await page.locator('[data-subscription="inventory"] [data-metric="latency"]').textContent()).toMatch(
      /^p50 [\d.]+ m?s · p99 [\d.]+ m?s$/,
    );
    expect(await page.locator('[data-subscription="notify"] [data-metric="dead"]').textContent()).toContain('dead 10');
    const stroke = await page
      .locator('[data-subscription="notify"] rect')
      .evaluate((rect) => getComputedStyle(rect).stroke);
    expect(stroke).toBe('rgb(197, 48, 48)');
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(await page.locator('tr.status-failing').textContent()).toContain('notify');
    expect(browser.errors).toEqual([]);
  }, 30_000);

  it('Subscription page: charts, the failures with their errors, pause and resume', async () => {
    await page.locator('a[aria-label^="Subscription notify"]').click();
    await page.waitForURL(/#\/subscriptions\/notify$/);
    const failures = page.locator('table.failures tbody tr');
    await failures.first().waitFor();
    expect(await failures.count()).toBe(10);
    expect(await failures.first().textContent()).toContain('mail provider down');
    expect(await failures.first().textContent()).toContain('dead letter');
    await page.locator('.chart .uplot').first().waitFor();
    expect(await page.locator('.chart canvas').count()).toBe(2);
    expect(await page.locator('table.histogram').textContent()).toContain('1 attempt');

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    expect((await call<{ paused: boolean }>('GET', '/v1/subscriptions/notify')).paused).toBe(true);
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    expect((await call<{ paused: boolean }>('GET', '/v1/subscriptions/notify')).paused).toBe(false);
  }, 20_000);

  it('Dead letters: redrives after showing the dry-run count', async () => {
    await page.getByRole('link', { name: 'Dead letters', exact: true }).click();
    await page.locator('table a', { hasText: 'notify' }).click();
    await page.waitForURL(/#\/dead-letters\/notify$/);
    await page.locator('tr.dead-letter').first().waitFor();
    expect(await page.locator('tr.dead-letter').count()).toBe(10);

    await page.locator('tr.dead-letter').first().getByRole('button', { name: /^▸/ }).click();
    expect(await page.locator('tr.details').textContent()).toContain('mail provider down');

    await page.getByRole('button', { name: 'Redrive…' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.waitFor();
    expect(await confirm.locator('p').textContent()).toBe('Dry run: 10 dead letters would be redriven.');
    // The dry run changed nothing.
    expect((await call<{ stats: { dead: number } }>('GET', '/v1/subscriptions/notify')).stats.dead).toBe(10);

    await confirm.getByRole('button', { name: 'Redrive 10' }).click();
    await page.getByRole('status').filter({ hasText: 'Redrove 10 dead letters' }).waitFor();
    await page.getByText('No dead letters.').waitFor();
    const after = await call<{ stats: { dead: number; backlog: number } }>('GET', '/v1/subscriptions/notify');
    expect([after.stats.dead, after.stats.backlog]).toEqual([0, 10]);
  }, 20_000);

  it('Events: the archive search finds an event and opens its lineage', async () => {
    await page.getByRole('link', { name: 'Events', exact: true }).click();
    await page.locator('table.events tbody tr').first().waitFor();
    expect(await page.locator('table.events tbody tr').count()).toBe(10);

    await page.locator('input[name="type"]').fill('order.placed');
    await page.locator('textarea[name="pattern"]').fill('{"data":{"total":[{"numeric":[">",8]}]}}');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForFunction(() => document.querySelectorAll('table.events tbody tr').length === 2);
    expect(await page.locator('table.events tbody td:nth-child(2)').allTextContents()).toEqual(['o-9', 'o-10']);

    await page.getByRole('link', { name: 'o-9', exact: true }).click();
    await page.waitForURL(/#\/events\/orders\/o-9$/);
    await page.locator('.delivery').first().waitFor();
    expect(await page.locator('.delivery[data-subscription="inventory"]').getAttribute('data-state')).toBe('delivered');
    expect(
      await page
        .locator('.delivery[data-subscription="notify"]')
        .evaluateAll((els) => els.map((e) => e.dataset['state'])),
    ).toEqual(expect.arrayContaining(['redriven', 'pending']));
    const dead = page.locator('.delivery[data-subscription="notify"][data-state="redriven"]');
    expect(await dead.locator('li[data-outcome="error"]').textContent()).toContain('mail provider down');
    expect(await page.locator('.lineage').textContent()).toContain('Matches now: inventory, notify.');
  }, 20_000);

  it('Replays: starts one for a subscription and shows it completed', async () => {
    await page.getByRole('link', { name: 'Replays', exact: true }).click();
    await page.locator('input[name="subscription"][value="inventory"]').check();
    await page.getByRole('button', { name: 'Start replay' }).click();
    const row = page.locator('tr[data-replay][data-state="completed"]');
    await row.waitFor();
    expect(await row.locator('td').nth(3).textContent()).toBe('inventory');
    expect(await row.locator('td.num').allTextContents()).toEqual(['10', '10']);
    const { replays } = await call<{ replays: Array<{ state: string; enqueued: number }> }>('GET', '/v1/replays');
    expect(replays.map((r) => [r.state, r.enqueued])).toEqual([['completed', 10]]);
  }, 20_000);

  it('Live tail: shows events as they are published', async () => {
    await page.goto(`${server.url}/#/tail`);
    await page.getByRole('button', { name: 'Start tail' }).click();
    await page.getByText('Waiting for events…').waitFor();
    await call('POST', '/v1/buses/orders/events', orders([11]));
    await page.getByRole('link', { name: 'o-11', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Stop' }).click();
    expect(browser.errors).toEqual([]);
  }, 20_000);
});

describe.skipIf(!haveChromium && !inCi)('dashboard in Chromium, with API keys', () => {
  const ADMIN = 'dash-admin-key-000001';
  const PUBLISHER = 'dash-publish-key-00001';
  let server: Server;
  let browser: Awaited<ReturnType<typeof openBrowser>>;

  beforeAll(async () => {
    [server, browser] = await Promise.all([
      startServer('auth', { BUSBAR_API_KEYS: `${ADMIN}=admin;${PUBLISHER}=publish:orders` }),
      openBrowser(),
    ]);
    await api(server, ADMIN)('PUT', '/v1/buses/orders', {});
  }, 30_000);
  afterAll(async () => {
    await browser?.context.close();
    await server?.stop();
  });

  it('asks for a key, refuses a bad one, explains a key without admin, and loads with an admin key', async () => {
    const { page } = browser;
    await page.goto(`${server.url}/`);
    const key = page.getByLabel('API key');
    await key.waitFor();

    await key.fill('not-a-key-of-this-server');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').filter({ hasText: 'The server did not accept that key.' }).waitFor();

    await key.fill(PUBLISHER);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'This key cannot use the dashboard' }).waitFor();
    expect(await page.locator('.card').textContent()).toContain('publish:orders');
    expect(await page.getByRole('link', { name: 'Flow' }).count()).toBe(0);

    await page.getByRole('button', { name: 'Use another key' }).click();
    await key.fill(ADMIN);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('[data-bus="orders"]').waitFor();
    expect(await page.locator('header').textContent()).toContain('key: admin');

    // The key lasts for the tab: a reload goes straight to the flow.
    await page.reload();
    await page.locator('[data-bus="orders"]').waitFor();
    expect(await key.count()).toBe(0);
    expect(browser.errors).toEqual([]);
  }, 30_000);
});
