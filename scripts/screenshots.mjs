#!/usr/bin/env node
/**
 * `npm run screenshots`: runs the orders demo, opens every dashboard page in headless Chromium
 * (Debian's `chromium`) and saves docs/screenshots/*.png, which the README shows.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'docs', 'screenshots');
const dir = mkdtempSync(join(tmpdir(), 'busbar-screenshots-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const demo = spawn(
  process.execPath,
  [
    join(root, 'examples/orders/demo.mjs'),
    '--port',
    '0',
    '--data',
    join(dir, 'data'),
    '--rate',
    '15',
    '--duration',
    '120',
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
let log = '';
demo.stderr.setEncoding('utf8').on('data', (chunk) => (log += chunk));
// A fresh profile each run (the directory is removed at the end).
const context = await chromium.launchPersistentContext(join(dir, 'chromium'), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 860 },
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
try {
  for (let i = 0; i < 200 && !/Busbar at (http:\S+)/.test(log); i++) await sleep(100);
  const url = /Busbar at (http:\S+)/.exec(log)?.[1];
  if (url === undefined) throw new Error(`the demo did not start:\n${log}`);
  const api = async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json();
  };
  // Let orders flow and notifications fail long enough for rates, latencies and dead letters to show.
  await sleep(12_000);
  const [first] = (await api('GET', '/v1/buses/orders/events?limit=1')).events;
  await api('POST', '/v1/replays', {
    bus: 'orders',
    from: Date.now() - 60_000,
    subscriptions: ['inventory'],
    ratePerSec: 20,
  });

  mkdirSync(out, { recursive: true });
  const page = context.pages()[0] ?? (await context.newPage());
  const shots = [
    ['flow', '#/flow', '[data-subscription="notifications"]'],
    ['subscription', '#/subscriptions/notifications', 'canvas'],
    ['events', '#/events/orders', 'table'],
    ['event', `#/events/orders/${encodeURIComponent(first.id)}`, 'main'],
    ['dead-letters', '#/dead-letters/notifications', 'table'],
    ['replays', '#/replays', 'table'],
  ];
  for (const [name, hash, ready] of shots) {
    await page.goto(`${url}/${hash}`);
    await page.locator(ready).first().waitFor({ timeout: 15_000 });
    await sleep(2_500); // a few live updates
    await page.screenshot({ path: join(out, `${name}.png`) });
    process.stdout.write(`docs/screenshots/${name}.png\n`);
  }
} finally {
  await context.close();
  demo.kill('SIGTERM');
  await new Promise((resolve) => demo.once('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
}
