/**
 * Replays with two engine instances on one SQLite file (two processes sharing a store): a replay runs
 * in one of them at a time, a cancel from either stops it, and a replay whose runner died is taken over
 * once its lease lapses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Busbar } from '../../busbar.js';
import { ManualClock } from '../clock.js';
import { REPLAY_LEASE_MS } from './replays.js';

const T0 = Date.parse('2026-11-27T00:00:00Z');
let dir: string;
let clock: ManualClock;
let a: Busbar;
let b: Busbar;

const open = (): Promise<Busbar> =>
  Busbar.open({ storage: join(dir, 'shared.db'), clock, pollIntervalMs: 60_000, maintenanceIntervalMs: 3_600_000 });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'busbar-replays-'));
  clock = new ManualClock(T0);
  a = await open();
  await a.putBus('orders');
  await a.putSubscription('audit', { bus: 'orders', pattern: { source: ['/shop'] } });
  const events = Array.from({ length: 10 }, (_, i) => ({
    specversion: '1.0',
    source: '/shop',
    type: 't',
    data: { i },
  }));
  await a.publish('orders', events);
  b = await open();
});

afterEach(async () => {
  await a.close();
  await b.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Deliveries of the replay `id` to `audit`, across both instances. */
async function replayed(id: string): Promise<number> {
  const page = await a.queryArchive('orders', { limit: 100 });
  let n = 0;
  for (const e of page.events) {
    for (const l of await a.lineage('orders', e.id)) n += l.deliveries.filter((d) => d.replayId === id).length;
  }
  return n;
}

describe('replays on a store shared by two instances', () => {
  it('runs in the instance that started it; the other leaves it alone', async () => {
    const replay = await a.replays.start({ bus: 'orders', from: T0, subscriptions: ['audit'], ratePerSec: 2 });
    // An instance that starts while the replay runs elsewhere resumes only replays no one holds.
    await b.close();
    b = await open();
    await b.runMaintenance();
    await clock.advance(1_000);
    await b.runMaintenance();
    expect((await b.replays.get(replay.id)).owner).toBe((await a.replays.get(replay.id)).owner);
    for (let i = 0; i < 10 && (await a.replays.get(replay.id)).state === 'running'; i++) await clock.advance(1_000);
    const done = await a.replays.wait(replay.id);
    expect(done).toMatchObject({ state: 'completed', scanned: 10, enqueued: 10 });
    expect(await replayed(replay.id)).toBe(10);
  });

  it('is cancelled from the other instance: the runner stops at its next page', async () => {
    const replay = await a.replays.start({ bus: 'orders', from: T0, subscriptions: ['audit'], ratePerSec: 2 });
    await clock.advance(1_000);
    const cancelled = await b.replays.cancel(replay.id);
    expect(cancelled.state).toBe('cancelled');
    await clock.advance(1_000);
    const after = await a.replays.wait(replay.id);
    expect(after.state).toBe('cancelled');
    expect(after.enqueued).toBe(cancelled.enqueued);
    expect(await replayed(replay.id)).toBe(cancelled.enqueued);
  });

  it('is taken over when its runner stops renewing the lease, and finishes once', async () => {
    // A runner that died: a running replay whose owner is gone, its lease still running.
    const record = await a.replays.start({ bus: 'orders', from: T0, subscriptions: ['audit'] });
    await a.replays.wait(record.id);
    await a.driver.putReplay({
      ...record,
      id: 'orphan',
      createdAt: T0 + 1,
      owner: 'crashed-instance',
      leaseUntil: T0 + REPLAY_LEASE_MS,
    });
    await b.runMaintenance();
    expect(await b.replays.get('orphan')).toMatchObject({ state: 'running', owner: 'crashed-instance' });
    await clock.advance(REPLAY_LEASE_MS);
    await Promise.all([a.runMaintenance(), b.runMaintenance()]);
    const done = await b.replays.wait('orphan');
    expect(done.state === 'completed' ? done : await a.replays.wait('orphan')).toMatchObject({
      state: 'completed',
      enqueued: 10,
    });
    expect(await replayed('orphan')).toBe(10);
  });

  it('is released at close and resumed at once by the next instance', async () => {
    const replay = await a.replays.start({ bus: 'orders', from: T0, subscriptions: ['audit'], ratePerSec: 2 });
    await clock.advance(1_000);
    await a.close();
    const paused = await b.replays.get(replay.id);
    expect(paused.state).toBe('running');
    expect(paused.leaseUntil).toBeLessThanOrEqual(clock.now());
    a = await open();
    for (let i = 0; i < 10 && (await a.replays.get(replay.id)).state === 'running'; i++) await clock.advance(1_000);
    expect(await a.replays.wait(replay.id)).toMatchObject({ state: 'completed', scanned: 10 });
    expect(await replayed(replay.id)).toBe(10);
  });
});
