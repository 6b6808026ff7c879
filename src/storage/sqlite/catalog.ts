/**
 * Buses, subscriptions and replay records: small tables read and written whole. Deleting a bus or a
 * subscription also removes what belongs to it.
 */
import type Database from 'better-sqlite3';
import type { BusRecord, ReplayRecord, SubscriptionRecord } from '../driver.js';
import {
  code,
  toBusRecord,
  toReplayRecord,
  toSubscriptionRecord,
  type BusRow,
  type ReplayRow,
  type SubscriptionRow,
} from '../rows.js';
import type { Cursors } from './cursors.js';
import type { DeliveredRuns } from './delivered-runs.js';
import { ACTIVE, type SharedStatements } from './statements.js';

/** Prepares the catalog operations. */
export function prepareCatalog(db: Database.Database, shared: SharedStatements, cursors: Cursors, runs: DeliveredRuns) {
  const putBus = db.prepare<[BusRow]>(
    `INSERT INTO buses (name, retention_max_age_ms, retention_max_bytes, created_at, updated_at)
     VALUES (@name, @retention_max_age_ms, @retention_max_bytes, @created_at, @updated_at)
     ON CONFLICT (name) DO UPDATE SET retention_max_age_ms = excluded.retention_max_age_ms,
       retention_max_bytes = excluded.retention_max_bytes, created_at = excluded.created_at,
       updated_at = excluded.updated_at`,
  );
  const getBus = db.prepare<[string], BusRow>('SELECT * FROM buses WHERE name = ?');
  const busExists = db.prepare<[string], number>('SELECT 1 FROM buses WHERE name = ?').pluck();
  const listBuses = db.prepare<[], BusRow>('SELECT * FROM buses ORDER BY name');

  const putSubscription = db.prepare<[SubscriptionRow]>(
    `INSERT INTO subscriptions (name, bus, pattern, target, delivery, paused, created_at, updated_at)
     VALUES (@name, @bus, @pattern, @target, @delivery, @paused, @created_at, @updated_at)
     ON CONFLICT (name) DO UPDATE SET bus = excluded.bus, pattern = excluded.pattern, target = excluded.target,
       delivery = excluded.delivery, paused = excluded.paused,
       created_at = excluded.created_at, updated_at = excluded.updated_at`,
  );
  // How a subscription gets its deliveries: unordered ones by cursor (see schema.ts).
  const modeOf = db.prepare<[string], { by_cursor: 0 | 1 }>('SELECT by_cursor FROM subscriptions WHERE name = ?');
  const nextSid = db.prepare<[], { sid: number; last: number }>(
    'SELECT next_sid AS sid, next_seq - 1 AS last FROM counters WHERE id = 1',
  );
  const takeSid = db.prepare<[]>('UPDATE counters SET next_sid = next_sid + 1 WHERE id = 1');
  const setMode = db.prepare<[{ name: string; sid: number | null; by_cursor: 0 | 1; cursor: number | null }]>(
    `UPDATE subscriptions SET sid = coalesce(@sid, sid), by_cursor = @by_cursor, cursor = coalesce(@cursor, cursor),
       unclaimed = 0 WHERE name = @name`,
  );
  // A subscription that becomes ordered: every active row of a key after the first waits for it.
  const recomputeHeads = db.prepare<[string]>(
    `UPDATE deliveries SET head = NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.subscription = deliveries.subscription
       AND p.partition_key = deliveries.partition_key AND p.${ACTIVE} AND p.id < deliveries.id)
     WHERE subscription = ? AND ${ACTIVE} AND partition_key IS NOT NULL`,
  );
  // After a bus's events are gone, the counts of matched events without rows are recounted.
  const recountUnclaimed = db.prepare(
    `UPDATE subscriptions SET unclaimed = (SELECT count(*) FROM events e WHERE e.seq > subscriptions.cursor
       AND e.subs IS NOT NULL AND instr(e.subs, ',' || subscriptions.sid || ',') > 0)
     WHERE by_cursor = 1 AND unclaimed > 0`,
  );
  const subscriptionColumns = 'name, bus, pattern, target, delivery, paused, created_at, updated_at';
  const getSubscription = db.prepare<[string], SubscriptionRow>(
    `SELECT ${subscriptionColumns} FROM subscriptions WHERE name = ?`,
  );
  const listAll = db.prepare<[], SubscriptionRow>(`SELECT ${subscriptionColumns} FROM subscriptions ORDER BY name`);
  const listOfBus = db.prepare<[string], SubscriptionRow>(
    `SELECT ${subscriptionColumns} FROM subscriptions WHERE bus = ? ORDER BY name`,
  );

  // Deleting a subscription: its deliveries are found by name (a scan: deletes are rare, an index on
  // every delivery's subscription would tax each publish).
  const deleteSubscriptionAttempts = db.prepare<[string]>(
    'DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE subscription = ?)',
  );
  const deleteSubscriptionDeliveries = db.prepare<[string]>('DELETE FROM deliveries WHERE subscription = ?');
  const deleteSubscription = db.prepare<[string]>('DELETE FROM subscriptions WHERE name = ?');

  // Deleting a bus: the deliveries of its subscriptions, and any delivery of its events.
  const busDeliveries = `SELECT id FROM deliveries
    WHERE subscription IN (SELECT name FROM subscriptions WHERE bus = @bus)
    UNION ALL SELECT d.id FROM events e JOIN deliveries d ON d.event_seq = e.seq WHERE e.bus = @bus`;
  const deleteBusAttempts = db.prepare<[{ bus: string }]>(
    `DELETE FROM attempts WHERE delivery_id IN (${busDeliveries})`,
  );
  const deleteBusDeliveries = db.prepare<[{ bus: string }]>(`DELETE FROM deliveries WHERE id IN (${busDeliveries})`);
  const deleteBusRows = [
    'DELETE FROM subscriptions WHERE bus = ?',
    'DELETE FROM events WHERE bus = ?',
    'DELETE FROM purged_acceptances WHERE bus = ?',
    'DELETE FROM archive_totals WHERE bus = ?',
    'DELETE FROM replays WHERE bus = ?',
  ].map((sql) => db.prepare<[string]>(sql));
  const deleteBus = db.prepare<[string]>('DELETE FROM buses WHERE name = ?');

  const putReplay = db.prepare<[ReplayRow]>(
    `INSERT OR REPLACE INTO replays (id, bus, from_ms, to_ms, pattern, subscriptions, skip_delivered, rate_per_sec,
       state, cursor, scanned, enqueued, error, owner, lease_until, created_at, updated_at)
     VALUES (@id, @bus, @from_ms, @to_ms, @pattern, @subscriptions, @skip_delivered, @rate_per_sec, @state, @cursor,
       @scanned, @enqueued, @error, @owner, @lease_until, @created_at, @updated_at)`,
  );
  const getReplay = db.prepare<[string], ReplayRow>('SELECT * FROM replays WHERE id = ?');
  const listReplays = db.prepare<[], ReplayRow>('SELECT * FROM replays ORDER BY created_at, id');
  const listReplaysOfBus = db.prepare<[string], ReplayRow>(
    'SELECT * FROM replays WHERE bus = ? ORDER BY created_at, id',
  );

  const storeSubscription = db.transaction((sub: SubscriptionRecord): void => {
    if (busExists.get(sub.bus) === undefined) {
      throw new Error(`Expected the bus of subscription ${code(sub.name)} to exist, got unknown bus ${code(sub.bus)}`);
    }
    const before = modeOf.get(sub.name);
    const byCursor = sub.delivery.ordered ? 0 : 1;
    putSubscription.run({
      name: sub.name,
      bus: sub.bus,
      pattern: sub.pattern,
      target: JSON.stringify(sub.target),
      delivery: JSON.stringify(sub.delivery),
      paused: sub.paused ? 1 : 0,
      created_at: sub.createdAt,
      updated_at: sub.updatedAt,
    });
    if (before === undefined) {
      // New: it owes nothing published before it (its cursor starts at the end).
      const { sid, last } = nextSid.get()!;
      takeSid.run();
      setMode.run({ name: sub.name, sid, by_cursor: byCursor, cursor: last });
    } else if (before.by_cursor === 1 && byCursor === 0) {
      // Becoming ordered: every matched event gets its row now, and partition heads are set.
      cursors.materialise(sub.name, Infinity);
      setMode.run({ name: sub.name, sid: null, by_cursor: 0, cursor: null });
      recomputeHeads.run(sub.name);
    } else if (before.by_cursor === 0 && byCursor === 1) {
      // Its rows so far exist; later events are read by cursor from here.
      setMode.run({ name: sub.name, sid: null, by_cursor: 1, cursor: nextSid.get()!.last });
    }
  });

  const removeSubscription = db.transaction((name: string): boolean => {
    deleteSubscriptionAttempts.run(name);
    deleteSubscriptionDeliveries.run(name);
    runs.deleteSubscription(name);
    return deleteSubscription.run(name).changes > 0;
  });

  const removeBus = db.transaction((name: string): boolean => {
    deleteBusAttempts.run({ bus: name });
    deleteBusDeliveries.run({ bus: name });
    runs.deleteBus(name);
    for (const statement of deleteBusRows) statement.run(name);
    runs.sweep();
    // putSubscription may move a subscription to another bus; deliveries of this bus's events it still
    // holds go too, and one of them may have led its partition.
    shared.repairHeads.run();
    recountUnclaimed.run();
    return deleteBus.run(name).changes > 0;
  });

  return {
    putBus: (bus: BusRecord) =>
      void putBus.run({
        name: bus.name,
        retention_max_age_ms: bus.retention.maxAgeMs,
        retention_max_bytes: bus.retention.maxBytes,
        created_at: bus.createdAt,
        updated_at: bus.updatedAt,
      }),
    getBus: (name: string) => {
      const row = getBus.get(name);
      return row === undefined ? null : toBusRecord(row);
    },
    listBuses: () => listBuses.all().map(toBusRecord),
    deleteBus: (name: string) => removeBus.immediate(name),

    putSubscription: (sub: SubscriptionRecord) => storeSubscription.immediate(sub),
    getSubscription: (name: string) => {
      const row = getSubscription.get(name);
      return row === undefined ? null : toSubscriptionRecord(row);
    },
    listSubscriptions: (bus?: string) =>
      (bus === undefined ? listAll.all() : listOfBus.all(bus)).map(toSubscriptionRecord),
    deleteSubscription: (name: string) => removeSubscription.immediate(name),

    putReplay: (replay: ReplayRecord) =>
      void putReplay.run({
        id: replay.id,
        bus: replay.bus,
        from_ms: replay.from,
        to_ms: replay.to,
        pattern: replay.pattern,
        subscriptions: replay.subscriptions === null ? null : JSON.stringify(replay.subscriptions),
        skip_delivered: replay.skipDelivered ? 1 : 0,
        rate_per_sec: replay.ratePerSec,
        state: replay.state,
        cursor: replay.cursor,
        scanned: replay.scanned,
        enqueued: replay.enqueued,
        error: replay.error,
        owner: replay.owner,
        lease_until: replay.leaseUntil,
        created_at: replay.createdAt,
        updated_at: replay.updatedAt,
      }),
    getReplay: (id: string) => {
      const row = getReplay.get(id);
      return row === undefined ? null : toReplayRecord(row);
    },
    listReplays: (bus?: string) =>
      (bus === undefined ? listReplays.all() : listReplaysOfBus.all(bus)).map(toReplayRecord),
  };
}
