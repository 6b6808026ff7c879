/**
 * SQLite driver: cursor subscriptions (see "Cursor subscriptions" in schema.ts) — what the contract
 * cannot see: which rows exist when, the reserved delivery ids, switching between ordered and
 * unordered, moving a subscription, and upgrading a version-3 database.
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
  claimOne,
  makeBus,
  makeEvent,
  makeSubscription,
  publish,
  settle,
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

  it("a delivery's id is the same before and after its row exists, and unique across subscriptions", async () => {
    await setup(d, ['a', 'b']);
    const [seq] = await publish(d, [makeEvent('e-1', { subscriptions: ['a', 'b'] })], T0);
    const before = await d.deliveriesOf(seq!);
    expect(before.map((t) => [t.subscription, t.state, t.attempts])).toEqual([
      ['a', 'pending', []],
      ['b', 'pending', []],
    ]);
    const claimed = await claimOne(d, 'b', T0 + 1);
    const after = await d.deliveriesOf(seq!);
    expect(after.map((t) => t.deliveryId)).toEqual(before.map((t) => t.deliveryId));
    expect(claimed.deliveryId).toBe(before[1]!.deliveryId);
    expect(after.map((t) => t.state)).toEqual(['pending', 'leased']);
    // Ids reserved at publish are never handed out again.
    const [next] = await publish(d, [makeEvent('e-2', { subscriptions: ['a'] })], T0 + 2);
    expect((await d.deliveriesOf(next!))[0]!.deliveryId).toBeGreaterThan(before[1]!.deliveryId);
  });

  it('a new subscription owes nothing published before it', async () => {
    await setup(d, ['a']);
    await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
    await d.putSubscription(makeSubscription('late'));
    await publish(d, [makeEvent('e-2', { subscriptions: ['a', 'late'] })], T0 + 1);
    expect((await claimAll(d, 'late', T0 + 2)).map((c) => c.event.id)).toEqual(['e-2']);
  });

  it('reads past long stretches of events it did not match', async () => {
    await setup(d, ['a', 'rare']);
    for (let i = 0; i < 10; i++) {
      const events = Array.from({ length: 1000 }, (_, j) =>
        makeEvent(`e-${i}-${j}`, { subscriptions: j === 999 && i % 3 === 0 ? ['a', 'rare'] : ['a'] }),
      );
      await publish(d, events, T0 + i);
    }
    expect((await d.subscriptionStats('rare')).backlog).toBe(4);
    expect((await claimAll(d, 'rare', T0 + 10)).map((c) => c.event.id)).toEqual([
      'e-0-999',
      'e-3-999',
      'e-6-999',
      'e-9-999',
    ]);
    expect(await d.subscriptionStats('rare')).toMatchObject({ backlog: 0, inFlight: 4 });
    expect(rowsOf('rare')).toBe(4);
  });

  it('becoming ordered makes every row with its partition heads; becoming unordered goes on by cursor', async () => {
    await setup(d, ['a']);
    const keyed = (id: string) => makeEvent(id, { partitionKey: 'k', subscriptions: ['a'] });
    await publish(d, [keyed('e-1'), keyed('e-2'), keyed('e-3')], T0);
    await d.putSubscription(makeSubscription('a', { delivery: ordered, updatedAt: T0 + 1 }));
    expect(rowsOf('a')).toBe(3);
    for (const expected of ['e-1', 'e-2', 'e-3']) {
      const claimed = await claimAll(d, 'a', T0 + 2, { ordered: true });
      expect(claimed.map((c) => c.event.id)).toEqual([expected]);
      await settle(d, claimed[0]!, { kind: 'ack' }, T0 + 2);
    }
    await d.putSubscription(makeSubscription('a', { updatedAt: T0 + 3 }));
    await publish(d, [keyed('e-4')], T0 + 4);
    expect(rowsOf('a')).toBe(3);
    expect((await claimAll(d, 'a', T0 + 5)).map((c) => c.event.id)).toEqual(['e-4']);
  });

  it('a subscription moved to another bus keeps what it owed on the first', async () => {
    await setup(d, ['a']);
    await d.putBus(makeBus('other'));
    await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
    await d.putSubscription(makeSubscription('a', { bus: 'other', updatedAt: T0 + 1 }));
    await publish(d, [makeEvent('o-1', { subscriptions: ['a'] })], T0 + 2, { bus: 'other' });
    expect((await claimAll(d, 'a', T0 + 3)).map((c) => c.event.id)).toEqual(['e-1', 'o-1']);
  });

  it('deleting the first bus of a moved subscription drops what it owed there from its backlog', async () => {
    await setup(d, ['a']);
    await d.putBus(makeBus('other'));
    await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
    await d.putSubscription(makeSubscription('a', { bus: 'other', updatedAt: T0 + 1 }));
    await publish(d, [makeEvent('o-1', { subscriptions: ['a'] })], T0 + 2, { bus: 'other' });
    expect((await d.subscriptionStats('a')).backlog).toBe(2);
    await d.deleteBus(BUS);
    expect((await d.subscriptionStats('a')).backlog).toBe(1);
    expect((await claimAll(d, 'a', T0 + 3)).map((c) => c.event.id)).toEqual(['o-1']);
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
