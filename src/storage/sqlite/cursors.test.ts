/**
 * SQLite driver: cursor subscriptions (see "Cursor subscriptions" in schema.ts) — what the contract
 * cannot see: which rows exist when, and upgrading a version-3 database. The conformance suite's
 * "owed deliveries" area covers their behaviour.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BUS,
  DEFAULT_DELIVERY_POLICY,
  T0,
  claimAll,
  makeEvent,
  makeSubscription,
  publish,
  setup,
} from '../conformance/fixtures.js';
import { MIGRATIONS, SCHEMA_VERSION, openSqlite, type SqliteDriver } from './index.js';

let dir: string;
let path: string;
let d: SqliteDriver;
let raw: Database.Database;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'busbar-cursors-'));
  path = join(dir, 'busbar.db');
  d = openSqlite({ path });
  await d.migrate();
  raw = new Database(path, { readonly: true });
});

afterEach(async () => {
  raw.close();
  await d.close();
  rmSync(dir, { recursive: true, force: true });
});

const rowsOf = (subscription: string) =>
  raw.prepare('SELECT count(*) FROM deliveries WHERE subscription = ?').pluck().get(subscription) as number;
const ordered = { ...DEFAULT_DELIVERY_POLICY, ordered: true };

describe('cursor subscriptions', () => {
  it('a publish writes rows only for ordered subscriptions; a claim makes the rows it needs', async () => {
    await setup(d, ['a', 'b']);
    await d.putSubscription(makeSubscription('fifo', { delivery: ordered }));
    const all = ['a', 'b', 'fifo'];
    await publish(
      d,
      ['e-1', 'e-2', 'e-3'].map((id) => makeEvent(id, { subscriptions: all })),
      T0,
    );
    expect([rowsOf('a'), rowsOf('b'), rowsOf('fifo')]).toEqual([0, 0, 3]);
    expect(await d.subscriptionStats('a')).toEqual({ backlog: 3, inFlight: 0, dead: 0, oldestPendingAt: T0 });

    const [first, second] = await claimAll(d, 'a', T0 + 1, { max: 2 });
    expect([first?.event.id, second?.event.id]).toEqual(['e-1', 'e-2']);
    expect([rowsOf('a'), rowsOf('b')]).toEqual([2, 0]);
    expect(first?.enqueuedAt).toBe(T0);
    expect(await d.subscriptionStats('a')).toEqual({ backlog: 1, inFlight: 2, dead: 0, oldestPendingAt: T0 });
  });

  it("a caught-up subscription's cursor jumps to just before its next match", async () => {
    await setup(d, ['a', 'rare']);
    const cursorOf = () => raw.prepare("SELECT cursor FROM subscriptions WHERE name = 'rare'").pluck().get();
    const many = Array.from({ length: 1000 }, (_, i) => makeEvent(`e-${i}`, { subscriptions: ['a'] }));
    await publish(d, many, T0);
    expect(cursorOf()).toBe(0);
    const [first] = await publish(d, [makeEvent('r-1', { subscriptions: ['a', 'rare'] })], T0 + 1);
    expect(cursorOf()).toBe(first! - 1);
    // With something unclaimed it stays where the next claim must start.
    await publish(
      d,
      many.map((e, i) => ({ ...e, id: `f-${i}` })),
      T0 + 2,
    );
    await publish(d, [makeEvent('r-2', { subscriptions: ['rare'] })], T0 + 3);
    expect(cursorOf()).toBe(first! - 1);
    expect((await claimAll(d, 'rare', T0 + 4)).map((c) => c.event.id)).toEqual(['r-1', 'r-2']);
  });

  it('upgrading a version-3 database keeps its deliveries and reads later events by cursor', async () => {
    await d.close();
    raw.close();
    rmSync(path);
    const old = new Database(path);
    for (const step of MIGRATIONS.slice(0, 3)) old.exec(step);
    old.pragma('user_version = 3');
    const policy = JSON.stringify(DEFAULT_DELIVERY_POLICY);
    const fifo = JSON.stringify(ordered);
    old.exec(`
      INSERT INTO buses VALUES ('${BUS}', NULL, NULL, ${T0}, ${T0});
      INSERT INTO subscriptions VALUES ('a', '${BUS}', '{}', '{}', '${policy}', 0, ${T0}, ${T0});
      INSERT INTO subscriptions VALUES ('fifo', '${BUS}', '{}', '{}', '${fifo}', 0, ${T0}, ${T0});
      INSERT INTO events VALUES (1, '${BUS}', 'e-1', '/shop', 'order.placed', '', ${T0}, ${T0}, NULL, 2, '{}');
      INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count, available_at, due_at,
        enqueued_at) VALUES (1, 'a', 1, 'pending', 1, 0, ${T0}, ${T0}, ${T0}),
        (2, 'fifo', 1, 'pending', 1, 0, ${T0}, ${T0}, ${T0});
      UPDATE counters SET next_seq = 2, next_delivery_id = 3;
    `);
    old.close();
    d = openSqlite({ path });
    await d.migrate();
    raw = new Database(path, { readonly: true });
    expect(d.settings().schemaVersion).toBe(SCHEMA_VERSION);
    expect(raw.prepare('SELECT name, sid, by_cursor, cursor FROM subscriptions ORDER BY name').all()).toEqual([
      { name: 'a', sid: 1, by_cursor: 1, cursor: 1 },
      { name: 'fifo', sid: 2, by_cursor: 0, cursor: 1 },
    ]);
    await publish(d, [makeEvent('e-2', { subscriptions: ['a', 'fifo'] })], T0 + 1);
    expect([rowsOf('a'), rowsOf('fifo')]).toEqual([1, 2]);
    expect((await claimAll(d, 'a', T0 + 2)).map((c) => [c.deliveryId, c.event.id])).toEqual([
      [1, 'e-1'],
      [3, 'e-2'],
    ]);
    await d.putSubscription(makeSubscription('new'));
    expect(raw.prepare("SELECT sid FROM subscriptions WHERE name = 'new'").pluck().get()).toBe(3);
  });
});
