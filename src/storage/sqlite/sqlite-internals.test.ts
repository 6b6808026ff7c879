/**
 * SQLite driver: the mechanisms behind the contract — batched purges, time ranges when the clock
 * steps back, partition heads for ordered claims, and dedupe read from the archive.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewEvent } from '../driver.js';
import { BUS, T0, claimAll, claimOne, killOldest, makeEvent, publish, settle, setup } from '../conformance/fixtures.js';
import { PURGE_BATCH, openSqlite, type SqliteDriver } from './index.js';

let d: SqliteDriver;

beforeEach(async () => {
  d = openSqlite({ path: ':memory:' });
  await d.migrate();
});

afterEach(async () => {
  await d.close();
});

const ids = async (query: { from?: number; to?: number; afterSeq?: number; limit?: number } = {}) =>
  (await d.queryArchive(BUS, { limit: 10_000, ...query })).map((e) => e.id);

/** Publishes `count` events named `e-<i>`, 500 to a request. */
async function publishMany(count: number, now: number, events = (i: number) => makeEvent(`e-${i}`)): Promise<void> {
  for (let start = 0; start < count; start += 500) {
    const batch: NewEvent[] = [];
    for (let i = start; i < Math.min(count, start + 500); i++) batch.push(events(i));
    await publish(d, batch, now);
  }
}

describe('purgeArchive in batches', () => {
  const count = 2 * PURGE_BATCH + 500;

  it('removes more than a batch by age, yielding to other work between batches', async () => {
    await setup(d, ['a']);
    await publishMany(count, T0, (i) => makeEvent(`e-${i}`, { subscriptions: i === 1_200 ? ['a'] : [] }));
    // Count event-loop turns while the purge runs: it yields once between two batches.
    let turns = 0;
    let running = true;
    const tick = () => {
      if (!running) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const removed = await d.purgeArchive(BUS, { olderThan: T0 + 1, maxBytes: null });
    running = false;
    expect(turns).toBeGreaterThanOrEqual(2);
    // The event with a pending delivery, in the middle of the second batch, stays.
    expect(removed).toBe(count - 1);
    expect(await ids()).toEqual(['e-1200']);
  });

  it('removes the oldest beyond maxBytes across batches and keeps the running total exact', async () => {
    await setup(d, []);
    await publishMany(count, T0);
    const keep = 100;
    const last = (await d.queryArchive(BUS, { limit: 10_000 })).slice(-keep);
    const budget = last.reduce((sum, e) => sum + e.size, 0);
    expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: budget })).toBe(count - keep);
    expect(await ids()).toEqual(last.map((e) => e.id));
    // Nothing more to remove at the same budget; one event less at one byte less.
    expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: budget })).toBe(0);
    expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: budget - 1 })).toBe(1);
  });
});

describe('archive time ranges when the clock steps back', () => {
  beforeEach(async () => {
    await setup(d, []);
    // Published out of time order: e-2 and e-4 come from a clock that stepped back.
    for (const [id, at] of [
      ['e-1', 1_000],
      ['e-2', 400],
      ['e-3', 1_500],
      ['e-4', 200],
      ['e-5', 1_200],
    ] as const) {
      await publish(d, [makeEvent(id)], T0 + at);
    }
  });

  it('selects by publishedAt exactly, in seq order', async () => {
    expect(await ids({ from: T0 + 1_000 })).toEqual(['e-1', 'e-3', 'e-5']);
    expect(await ids({ to: T0 + 400 })).toEqual(['e-2', 'e-4']);
    expect(await ids({ from: T0 + 300, to: T0 + 1_100 })).toEqual(['e-1', 'e-2']);
    expect(await ids({ from: T0 + 1_600 })).toEqual([]);
  });

  it('pages a range with afterSeq', async () => {
    const seen: string[] = [];
    let afterSeq: number | undefined;
    for (;;) {
      const page = await d.queryArchive(BUS, {
        from: T0 + 300,
        limit: 1,
        ...(afterSeq === undefined ? {} : { afterSeq }),
      });
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.id));
      afterSeq = page[page.length - 1]?.seq;
    }
    expect(seen).toEqual(['e-1', 'e-2', 'e-3', 'e-5']);
  });

  it('purges by publishedAt, not by position', async () => {
    expect(await d.purgeArchive(BUS, { olderThan: T0 + 500, maxBytes: null })).toBe(2);
    expect(await ids()).toEqual(['e-1', 'e-3', 'e-5']);
  });
});

describe('ordered claims: one head per partition key', () => {
  const keyed = (id: string, partitionKey: string | null) => makeEvent(id, { partitionKey, subscriptions: ['a'] });
  const claimIds = async (now: number) => (await claimAll(d, 'a', now, { ordered: true })).map((c) => c.event.id);

  it('hands the key on through dead letters, redrives and acks, the redriven one last', async () => {
    await setup(d, ['a']);
    await publish(d, [keyed('e-1', 'k'), keyed('e-2', 'k'), keyed('e-3', 'k')], T0);
    const dead = await killOldest(d, 'a', T0 + 1);
    expect(await d.redrive('a', [dead], T0 + 2)).toBe(1);
    for (const expected of ['e-2', 'e-3', 'e-1']) {
      const [claimed, ...rest] = await claimAll(d, 'a', T0 + 3, { ordered: true });
      expect([claimed?.event.id, rest]).toEqual([expected, []]);
      if (claimed !== undefined) await settle(d, claimed, { kind: 'ack' }, T0 + 3);
    }
    expect(await claimIds(T0 + 4)).toEqual([]);
  });

  it('claims past a long backlog of one busy key', async () => {
    await setup(d, ['a']);
    await publishMany(2_000, T0, (i) => keyed(`e-${i}`, 'busy'));
    await publish(d, [keyed('x-1', null), keyed('x-2', 'other')], T0 + 1);
    const first = await claimOne(d, 'a', T0 + 1, { ordered: true });
    expect(first.event.id).toBe('e-0');
    expect(await claimIds(T0 + 1)).toEqual(['x-1', 'x-2']);
    // Unordered, the backlog is claimable at once.
    expect(await claimAll(d, 'a', T0 + 1, { max: 3 }).then((c) => c.map((x) => x.event.id))).toEqual([
      'e-1',
      'e-2',
      'e-3',
    ]);
    expect(await d.nextDueAt('a', T0 + 1)).toBe(T0 + 1 + 30_000);
  });
});

describe('dedupe read from the archive', () => {
  const append = (id: string, now: number, dedupeWindowMs = 60_000) =>
    d.append([{ bus: BUS, events: [makeEvent(id)], dedupeWindowMs }], now).then(([outcomes]) => outcomes?.[0]);

  it("a purged event's acceptance counts until pruneDedupe passes it", async () => {
    await setup(d, []);
    await publish(d, [makeEvent('e-1')], T0);
    expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: 0 })).toBe(1);
    expect(await append('e-1', T0 + 10)).toEqual({ status: 'duplicate', seq: null });
    expect(await d.pruneDedupe(T0 + 1)).toBe(1);
    expect(await d.pruneDedupe(T0)).toBe(0);
    expect(await append('e-1', T0 + 20)).toMatchObject({ status: 'accepted' });
  });

  it('a purged newer acceptance wins over a kept older one', async () => {
    await setup(d, ['a']);
    await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
    await publish(d, [makeEvent('e-1')], T0 + 120_000);
    // The first stays (it owes a delivery); the second goes.
    expect(await d.purgeArchive(BUS, { olderThan: null, maxBytes: 0 })).toBe(1);
    expect(await append('e-1', T0 + 130_000)).toEqual({ status: 'duplicate', seq: null });
    expect(await append('e-1', T0 + 180_000)).toMatchObject({ status: 'accepted' });
  });

  it('pruneDedupe forgets archived events without removing them', async () => {
    await setup(d, []);
    const [seq] = await publish(d, [makeEvent('e-1')], T0);
    expect(await append('e-1', T0 + 1, 3_600_000)).toEqual({ status: 'duplicate', seq });
    expect(await d.pruneDedupe(T0 + 1)).toBe(1);
    expect(await append('e-1', T0 + 2, 3_600_000)).toMatchObject({ status: 'accepted' });
    expect(await ids()).toEqual(['e-1', 'e-1']);
  });
});
