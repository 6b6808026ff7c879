#!/usr/bin/env node
/**
 * The orders demo: `npm run demo` (see README, "The orders demo").
 *
 * Starts `busbar start` on the embedded SQLite default (data in .busbar/demo), declares the `orders`
 * bus and three subscriptions, and runs four services around it until Ctrl-C (or --duration):
 * an order service publishing `order.placed`, inventory (pull consumer), payment (signed webhook)
 * and notifications (pull consumer whose mail provider is broken for some customers, so retries and
 * dead letters happen until you fix it).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient } from 'busbar/client';
import { inventoryService, notificationService, orderService, paymentService } from './services.mjs';

const USAGE = `usage: npm run demo -- [options]
  --port <n>        port of the Busbar server the demo starts (default 4080; 0 picks a free one)
  --data <dir>      its data directory (default .busbar/demo)
  --rate <n>        orders placed per second (default 10)
  --fail-rate <f>   share of orders whose notification fails while the mail provider is broken (default 0.2)
  --duration <s>    stop after this many seconds (default: run until Ctrl-C)
  --json            print the final summary as JSON`;

function options() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4080' },
      data: { type: 'string', default: '.busbar/demo' },
      rate: { type: 'string', default: '10' },
      'fail-rate': { type: 'string', default: '0.2' },
      duration: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const number = (name, min, max) => {
    const n = Number(values[name]);
    if (values[name] === undefined) return undefined;
    if (!Number.isFinite(n) || n < min || n > max) {
      console.error(`demo: expected --${name} to be a number from ${min} to ${max}, got ${values[name]}\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  return {
    port: number('port', 0, 65535),
    data: resolve(values.data),
    rate: number('rate', 0.1, 1000),
    failRate: number('fail-rate', 0, 1),
    duration: number('duration', 1, 86400),
    json: values.json,
  };
}

/** Starts `busbar start` and resolves with its URL once it listens. */
function startServer({ port, data }) {
  const bin = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
  if (!existsSync(bin)) throw new Error('demo: build first (`npm run build`; `npm run demo` does it)');
  const child = spawn(process.execPath, [bin, 'start', '--port', String(port), '--data', data], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolveUrl, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolveUrl({ url: m[1], child });
    });
    child.once('exit', (code) => reject(new Error(`demo: busbar start exited with code ${code}:\n${out}`)));
  });
}

async function main() {
  const opts = options();
  mkdirSync(opts.data, { recursive: true });
  const log = (line) => process.stderr.write(`${line}\n`);
  const { url, child } = await startServer(opts);
  const client = createClient({ url });

  // The topology: one bus, three subscriptions. Each service only knows its subscription's name.
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const payment = await paymentService({ secret, log });
  await client.buses.put('orders', { retention: { maxAgeMs: 24 * 60 * 60 * 1000 } });
  await client.subscriptions.put('inventory', {
    bus: 'orders',
    pattern: { type: ['order.placed'] },
    target: { type: 'pull' },
  });
  await client.subscriptions.put('payment', {
    bus: 'orders',
    pattern: { type: ['order.placed'], data: { total: [{ numeric: ['>', 0] }] } },
    target: { type: 'webhook', url: payment.url, secret },
  });
  await client.subscriptions.put('notifications', {
    bus: 'orders',
    pattern: { type: ['order.placed'] },
    target: { type: 'pull' },
    delivery: { maxAttempts: 3, backoff: { initialMs: 200, maxMs: 1000, multiplier: 2 } },
  });

  const brokenFlag = join(opts.data, 'notifications-broken');
  writeFileSync(brokenFlag, 'While this file exists, the notification service cannot send some e-mails.\n');
  const orders = orderService({ url, rate: opts.rate, log });
  const inventory = inventoryService({ url });
  const notifications = notificationService({ url, failRate: opts.failRate, brokenFlag });

  log(`demo: Busbar at ${url} (data in ${opts.data}); placing ${opts.rate} orders/s. Ctrl-C stops.`);
  log(`demo: watch it:        busbar tail orders --url ${url}`);
  log(`demo: dead letters:    busbar dlq ls notifications --url ${url}`);
  log(`demo: fix the mailer:  rm ${brokenFlag}`);
  log(`demo: then redrive:    busbar dlq redrive notifications --url ${url}`);

  const status = async () => {
    const sub = await client.subscriptions.get('notifications').catch(() => undefined);
    const dead = sub?.stats?.dead ?? '?';
    log(
      `demo: placed ${orders.placed.size} | inventory ${inventory.reserved.size} | payment ${payment.charged.size} | ` +
        `notified ${notifications.notified.size} (failed attempts ${notifications.failures.count}, dead letters ${dead})` +
        `${existsSync(brokenFlag) ? ' | mail provider broken' : ''}`,
    );
    return sub;
  };
  const ticker = setInterval(() => void status(), 2000);

  await new Promise((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (opts.duration !== undefined) setTimeout(done, opts.duration * 1000).unref();
  });
  clearInterval(ticker);
  log('demo: stopping the order service and letting the others catch up…');
  await orders.stop();
  const deadline = Date.now() + 15_000;
  for (;;) {
    const placed = [...orders.placed];
    const sub = await client.subscriptions.get('notifications');
    const caughtUp =
      placed.every((id) => inventory.reserved.has(id) && payment.charged.has(id)) &&
      sub.stats.backlog === 0 &&
      sub.stats.inFlight === 0;
    if (caughtUp || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const final = await status();
  await Promise.all([inventory.stop(), notifications.stop()]);
  await payment.stop();
  const summary = {
    url,
    placed: [...orders.placed].sort(),
    inventory: [...inventory.reserved].sort(),
    payment: [...payment.charged].sort(),
    notified: [...notifications.notified].sort(),
    failedNotificationAttempts: notifications.failures.count,
    deadLetters: final?.stats?.dead ?? null,
    badSignatures: payment.rejected(),
  };
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    log(
      `demo: done: ${summary.placed.length} orders placed, ${summary.inventory.length} reserved, ` +
        `${summary.payment.length} paid, ${summary.notified.length} notified, ${summary.deadLetters} dead letters left`,
    );
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
