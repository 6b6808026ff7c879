/**
 * The orders demo end to end (`npm run demo`): the real server, four services, the mail provider
 * broken and then fixed by this test, which redrives the dead letters over the HTTP API.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const DEMO = new URL('../examples/orders/demo.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'busbar-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Summary {
  url: string;
  placed: string[];
  inventory: string[];
  payment: string[];
  notified: string[];
  failedNotificationAttempts: number;
  deadLetters: number | null;
  badSignatures: number;
}

async function api<T>(url: string, method = 'GET', body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const until = async (check: () => Promise<boolean>, ms: number): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('the orders demo', () => {
  it('reaches inventory and payment with every order; failed notifications dead-letter, then a redrive delivers them', async () => {
    const data = join(dir, 'data');
    const child = spawn(
      process.execPath,
      [DEMO, '--port', '0', '--data', data, '--rate', '40', '--fail-rate', '0.3', '--duration', '8', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await until(() => Promise.resolve(/Busbar at (http:\/\/\S+)/.test(err)), 20_000);
      const url = /Busbar at (http:\/\/\S+)/.exec(err)![1]!;
      const deadLetters = async (): Promise<number> =>
        (await api<{ stats: { dead: number } }>(`${url}/v1/subscriptions/notifications`)).stats.dead;

      // The mail provider is broken: some notifications exhaust their three attempts.
      await until(async () => (await deadLetters()) >= 3, 15_000);
      const flag = join(data, 'notifications-broken');
      expect(existsSync(flag)).toBe(true);
      unlinkSync(flag); // the fix
      // Let retries already scheduled run out (backoff is at most 1 s), then redrive what died.
      await new Promise((r) => setTimeout(r, 2_500));
      const dryRun = await api<{ count: number }>(
        `${url}/v1/subscriptions/notifications/dead-letters/redrive`,
        'POST',
        {
          dryRun: true,
        },
      );
      expect(dryRun.count).toBeGreaterThan(0);
      const redriven = await api<{ count: number }>(
        `${url}/v1/subscriptions/notifications/dead-letters/redrive`,
        'POST',
        {},
      );
      expect(redriven.count).toBe(dryRun.count);
      await until(async () => (await deadLetters()) === 0, 10_000);

      expect(await exited).toBe(0);
      const summary = JSON.parse(out) as Summary;
      expect(summary.placed.length).toBeGreaterThan(100);
      const missing = (from: string[]) => summary.placed.filter((id) => !from.includes(id));
      expect(missing(summary.inventory)).toEqual([]);
      expect(missing(summary.payment)).toEqual([]);
      expect(missing(summary.notified)).toEqual([]);
      expect(summary.failedNotificationAttempts).toBeGreaterThanOrEqual(3 * dryRun.count);
      expect(summary.deadLetters).toBe(0);
      expect(summary.badSignatures).toBe(0);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- demo stderr ---\n${err}`, { cause: error });
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
