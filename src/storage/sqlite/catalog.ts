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
import type { SharedStatements } from './statements.js';

/** Prepares the catalog operations. */
export function prepareCatalog(db: Database.Database, shared: SharedStatements) {
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
  });

  const removeSubscription = db.transaction((name: string): boolean => {
    deleteSubscriptionAttempts.run(name);
    deleteSubscriptionDeliveries.run(name);
    return deleteSubscription.run(name).changes > 0;
  });

  const removeBus = db.transaction((name: string): boolean => {
    deleteBusAttempts.run({ bus: name });
    deleteBusDeliveries.run({ bus: name });
    for (const statement of deleteBusRows) statement.run(name);
    // putSubscription may move a subscription to another bus; deliveries of this bus's events it still
    // holds go too, and one of them may have led its partition.
    shared.repairHeads.run();
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
