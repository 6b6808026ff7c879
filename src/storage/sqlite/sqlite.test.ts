/**
 * SQLite driver: what the conformance suite cannot see — files, connection settings, migrations,
 * reopening, several connections on one file.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BUS,
  T0,
  claimAll,
  claimOne,
  makeAttempt,
  makeEvent,
  makeReplay,
  publish,
  settle,
  setup,
} from '../conformance/fixtures.js';
import { BUCKET_SEQS } from './delivered-runs.js';
import { MIGRATIONS, SCHEMA_VERSION, openSqlite, type SqliteDriver } from './index.js';

let dir: string;
const open: SqliteDriver[] = [];

/** Opens a driver on a file of this test's directory; closed after the test. */
async function openFile(name = 'busbar.db', durability?: 'full' | 'normal'): Promise<SqliteDriver> {
  const driver = openSqlite({ path: join(dir, name), ...(durability === undefined ? {} : { durability }) });
  open.push(driver);
  await driver.migrate();
  return driver;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'busbar-sqlite-'));
});

afterEach(async () => {
  for (const driver of open.splice(0)) await driver.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('files and settings', () => {
  it('creates the database and its missing parent directories', async () => {
    const path = join(dir, 'a', 'b', 'busbar.db');
    const driver = openSqlite({ path });
    open.push(driver);
    await driver.migrate();
    expect(existsSync(path)).toBe(true);
    expect(driver.capabilities).toEqual({ multiProcess: true, persistent: true });
  });

  it("applies WAL and synchronous FULL by default, NORMAL with durability 'normal'", async () => {
    const full = await openFile('full.db');
    expect(full.settings()).toEqual({
      journalMode: 'wal',
      synchronous: 'full',
      busyTimeoutMs: 5_000,
      schemaVersion: SCHEMA_VERSION,
    });
    const normal = await openFile('normal.db', 'normal');
    expect(normal.settings()).toMatchObject({ journalMode: 'wal', synchronous: 'normal' });
  });

  it('keeps :memory: private and volatile', async () => {
    const driver = openSqlite({ path: ':memory:' });
    open.push(driver);
    await driver.migrate();
    expect(driver.capabilities).toEqual({ multiProcess: false, persistent: false });
    expect(driver.settings()).toMatchObject({ journalMode: 'memory', synchronous: 'full' });
  });

  it('rejects an unknown durability, naming the option', () => {
    expect(() => openSqlite({ path: ':memory:', durability: 'fast' as 'full' })).toThrow(
      "Expected `durability` to be 'full' or 'normal', got \"fast\"",
    );
  });
});

describe('migrations', () => {
  it('records one version per step and is idempotent', async () => {
    const driver = await openFile();
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    await setup(driver, ['a']);
    await driver.migrate();
    await driver.migrate();
    expect(driver.settings().schemaVersion).toBe(SCHEMA_VERSION);
    expect((await driver.getBus(BUS))?.name).toBe(BUS);
  });

  it('upgrades a version-1 database, keeping its attempts (without a response body)', async () => {
    const path = join(dir, 'v1.db');
    const raw = new Database(path);
    raw.exec(MIGRATIONS[0]!);
    raw.pragma('user_version = 1');
    raw.exec(`INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, http_status)
      VALUES (7, 1, ${T0}, 5, 'error', 500)`);
    raw.close();
    const driver = openSqlite({ path });
    open.push(driver);
    await driver.migrate();
    expect(driver.settings().schemaVersion).toBe(SCHEMA_VERSION);
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT http_status, response_body FROM attempts').all()).toEqual([
      { http_status: 500, response_body: null },
    ]);
    check.close();
  });

  it('refuses calls before migrate, with the versions in the message', async () => {
    const driver = openSqlite({ path: join(dir, 'fresh.db') });
    open.push(driver);
    await expect(driver.getBus(BUS)).rejects.toThrow(
      `Expected the SQLite schema at version ${SCHEMA_VERSION}, got version 0: call migrate() first`,
    );
    await driver.migrate();
    expect(await driver.getBus(BUS)).toBeNull();
  });

  it('refuses a database written by a newer schema and leaves it untouched', async () => {
    const path = join(dir, 'newer.db');
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const driver = openSqlite({ path });
    open.push(driver);
    await expect(driver.migrate()).rejects.toThrow(`got version ${SCHEMA_VERSION + 1}`);
    expect(driver.settings().schemaVersion).toBe(SCHEMA_VERSION + 1);
  });
});

describe('attempt records', () => {
  it('keeps a first attempt that succeeded on its delivery row, and every other attempt as a row', async () => {
    const d = await openFile();
    await setup(d, ['a']);
    await publish(
      d,
      ['e-1', 'e-2'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
      T0,
    );
    const [first, second] = await claimAll(d, 'a', T0);
    await settle(d, first!, { kind: 'ack' }, T0 + 1);
    await settle(d, second!, { kind: 'retry', availableAt: T0 + 5 }, T0 + 1);
    const retried = await claimOne(d, 'a', T0 + 5);
    await settle(d, retried, { kind: 'ack' }, T0 + 6);
    const raw = new Database(join(dir, 'busbar.db'), { readonly: true });
    const rows = raw.prepare('SELECT delivery_id, attempt, outcome FROM attempts ORDER BY rowid').all();
    raw.close();
    // The first delivery's only attempt is on its row; the second's two attempts are rows.
    expect(rows).toEqual([
      { delivery_id: second!.deliveryId, attempt: 1, outcome: 'error' },
      { delivery_id: second!.deliveryId, attempt: 2, outcome: 'success' },
    ]);
    const [lineage] = await d.deliveriesOf(first!.event.seq);
    expect(lineage!.attempts).toEqual([
      {
        attempt: 1,
        startedAt: T0 + 1,
        durationMs: 12,
        outcome: 'success',
        error: null,
        httpStatus: 200,
        responseBody: null,
      },
    ]);
  });
});

describe('delivered runs', () => {
  /** Stores, in one replay step of replay `r-1`, a delivery its first attempt delivered for each of `seqs`. */
  async function deliverEarly(d: SqliteDriver, subscription: string, seqs: readonly number[], now: number) {
    const first = await d.reserveDeliveryIds(seqs.length);
    const step = {
      deliveries: seqs.map((eventSeq, i) => ({
        subscription,
        eventSeq,
        replayId: 'r-1',
        id: first + i,
        attempted: { attempt: makeAttempt(1, { startedAt: now - 5 }), completion: { kind: 'ack' } } as const,
      })),
      cursor: seqs[seqs.length - 1]!,
      scanned: seqs.length,
      state: 'running',
      error: null,
      leaseUntil: now + 60_000,
    } as const;
    expect(await d.advanceReplay('r-1', 'runner-1', step, now)).not.toBeNull();
    return first;
  }

  const count = (table: string, where = 'true'): number => {
    const raw = new Database(join(dir, 'busbar.db'), { readonly: true });
    try {
      return raw.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).pluck().get() as number;
    } finally {
      raw.close();
    }
  };

  it("keeps a replay step's delivered attempts as a row per subscription and stretch of seqs", async () => {
    const d = await openFile();
    await setup(d, ['a', 'b']);
    // Seqs across a bucket boundary: two runs for each subscription.
    const seqs = await publish(
      d,
      Array.from({ length: BUCKET_SEQS + 10 }, (_, i) => makeEvent(`e-${i}`)),
      T0,
    );
    await d.putReplay(makeReplay('r-1'));
    const firstA = await deliverEarly(d, 'a', seqs, T0 + 100);
    await deliverEarly(d, 'b', seqs.slice(0, 3), T0 + 200);
    expect(count('deliveries')).toBe(0);
    expect(count('delivered_runs', "subscription = 'a'")).toBe(2);
    expect(count('delivered_runs', "subscription = 'b'")).toBe(1);

    const last = seqs[seqs.length - 1]!;
    expect(await d.deliveriesOf(last)).toEqual([
      {
        deliveryId: firstA + seqs.length - 1,
        subscription: 'a',
        state: 'delivered',
        enqueuedAt: T0 + 100,
        availableAt: T0 + 100,
        replayId: 'r-1',
        redriveOf: null,
        deadReason: null,
        attempts: [makeAttempt(1, { startedAt: T0 + 95 })],
      },
    ]);
    expect((await d.deliveriesOf(seqs[1]!)).map((t) => [t.subscription, t.deliveryId])).toEqual([
      ['a', firstA + 1],
      ['b', expect.any(Number)],
    ]);
    expect(await d.deliveredSeqs('b', [seqs[0]!, seqs[5]!, last])).toEqual(new Set([seqs[0]]));
    expect(await d.deliveredSeqs('a', [seqs[0]!, last])).toEqual(new Set([seqs[0], last]));
  });

  it('goes with its subscription, its bus, and the purge of its last event', async () => {
    const d = await openFile();
    await setup(d, ['a', 'b']);
    const seqs = await publish(
      d,
      ['e-1', 'e-2'].map((id) => makeEvent(id)),
      T0,
    );
    await d.putReplay(makeReplay('r-1'));
    await deliverEarly(d, 'a', seqs, T0 + 100);
    await deliverEarly(d, 'b', seqs, T0 + 100);
    await d.deleteSubscription('b');
    expect(count('delivered_runs', "subscription = 'b'")).toBe(0);
    expect(count('delivered_runs')).toBe(1);
    // A purge of the bucket's events leaves no run behind.
    expect(await d.purgeArchive(BUS, { olderThan: T0 + 1, maxBytes: null })).toBe(2);
    expect(count('delivered_runs')).toBe(0);

    const later = await publish(d, [makeEvent('e-3')], T0 + 1_000);
    await d.putReplay(makeReplay('r-1'));
    await deliverEarly(d, 'a', later, T0 + 1_100);
    expect(count('delivered_runs')).toBe(1);
    await d.deleteBus(BUS);
    expect(count('delivered_runs')).toBe(0);
  });
});

describe('reopening a file', () => {
  it('keeps every record, continues seqs and delivery ids, and honours leases', async () => {
    const first = await openFile();
    await setup(first, ['a']);
    const [s1 = 0, s2 = 0] = await publish(
      first,
      ['e-1', 'e-2'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
      T0,
    );
    const held = await claimOne(first, 'a', T0, { leaseMs: 60_000 });
    await first.close();

    const second = await openFile();
    expect((await second.queryArchive(BUS, { limit: 10 })).map((e) => e.seq)).toEqual([s1, s2]);
    expect(await second.subscriptionStats('a')).toMatchObject({ backlog: 1, inFlight: 1 });
    expect(await settle(second, held, { kind: 'ack' }, T0 + 1)).toBe(true);
    // Seqs and ids continue after the largest ever used, even when the newest rows were removed.
    const [s3 = 0] = await publish(second, [makeEvent('e-3')], T0 + 2);
    expect(await second.purgeArchive(BUS, { olderThan: null, maxBytes: 0 })).toBe(2);
    const [s4 = 0] = await publish(second, [makeEvent('e-4', { subscriptions: ['a'] })], T0 + 3);
    expect(s4).toBeGreaterThan(s3);
    const next = await claimAll(second, 'a', T0 + 3);
    expect(next.map((c) => c.event.id)).toEqual(['e-2', 'e-4']);
    expect(next[1]?.deliveryId).toBeGreaterThan(held.deliveryId);
  });

  it('keeps a dedupe window across a restart', async () => {
    const first = await openFile();
    await setup(first, []);
    const [seq] = await publish(first, [makeEvent('e-1')], T0);
    await first.close();
    const second = await openFile();
    const outcomes = await second.append([{ bus: BUS, events: [makeEvent('e-1')], dedupeWindowMs: 60_000 }], T0 + 1);
    expect(outcomes).toEqual([[{ status: 'duplicate', seq }]]);
  });
});

describe('two connections on one file', () => {
  it('never lease one delivery twice and number events in commit order', async () => {
    const one = await openFile();
    const two = await openFile();
    await setup(one, ['a']);
    const seqs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const driver = i % 2 === 0 ? one : two;
      seqs.push(...(await publish(driver, [makeEvent(`e-${i}`, { subscriptions: ['a'] })], T0 + i)));
    }
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    const claimed = [
      ...(await claimAll(one, 'a', T0 + 100, { max: 4 })),
      ...(await claimAll(two, 'a', T0 + 100, { max: 4 })),
      ...(await claimAll(one, 'a', T0 + 100, { max: 4 })),
    ];
    expect(new Set(claimed.map((c) => c.deliveryId)).size).toBe(10);
    expect(claimed.map((c) => c.event.id)).toEqual(Array.from({ length: 10 }, (_, i) => `e-${i}`));
  });
});
