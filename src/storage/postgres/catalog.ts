/**
 * Buses, subscriptions and replays on PostgreSQL. Deleting a bus or a subscription also removes what
 * belongs to it; a replay's steps create deliveries under the writers' lock.
 */
import type { AttemptRecord, BusRecord, NewDelivery, ReplayRecord, ReplayStep, SubscriptionRecord } from '../driver.js';
import {
  code,
  isInlineAttempt,
  stateAfter,
  type CountersRow,
  toBusRecord,
  toReplayRecord,
  toSubscriptionRecord,
  type BusRow,
  type ReplayRow,
  type SubscriptionRow,
} from '../rows.js';
import { checkCatalog } from './append.js';
import { materialise } from './cursors.js';
import { ACTIVE, insertAttempts, insertDeliveries, rows, type Sql } from './sql.js';

export async function putBus(sql: Sql, bus: BusRecord): Promise<void> {
  await sql.query({
    name: 'put_bus',
    text: `INSERT INTO buses (name, retention_max_age_ms, retention_max_bytes, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (name) DO UPDATE SET retention_max_age_ms = excluded.retention_max_age_ms,
         retention_max_bytes = excluded.retention_max_bytes, created_at = excluded.created_at,
         updated_at = excluded.updated_at`,
    values: [bus.name, bus.retention.maxAgeMs, bus.retention.maxBytes, bus.createdAt, bus.updatedAt],
  });
}

export async function getBus(sql: Sql, name: string): Promise<BusRecord | null> {
  const [row] = await rows<BusRow>(sql, 'get_bus', 'SELECT * FROM buses WHERE name = $1', [name]);
  return row === undefined ? null : toBusRecord(row);
}

export async function listBuses(sql: Sql): Promise<BusRecord[]> {
  return (await rows<BusRow>(sql, 'list_buses', 'SELECT * FROM buses ORDER BY name', [])).map(toBusRecord);
}

/**
 * Deletes a bus with its archive, subscriptions, their deliveries and replays. Under the writers'
 * lock (taken by the caller), since it repairs partition heads.
 */
export async function deleteBus(sql: Sql, name: string): Promise<boolean> {
  await sql.query({
    name: 'delete_bus_deliveries',
    text: `WITH doomed AS (
         SELECT id FROM deliveries WHERE subscription IN (SELECT name FROM subscriptions WHERE bus = $1)
         UNION SELECT d.id FROM events e JOIN deliveries d ON d.event_seq = e.seq WHERE e.bus = $1
       ), gone AS (DELETE FROM deliveries WHERE id IN (SELECT id FROM doomed) RETURNING id)
     DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM gone)`,
    values: [name],
  });
  await sql.query({
    name: 'delete_bus_cursors',
    text: 'DELETE FROM cursors WHERE subscription IN (SELECT name FROM subscriptions WHERE bus = $1)',
    values: [name],
  });
  for (const table of ['subscriptions', 'events', 'purged_acceptances', 'archive_totals', 'replays']) {
    await sql.query({ name: `delete_bus_${table}`, text: `DELETE FROM ${table} WHERE bus = $1`, values: [name] });
  }
  // A subscription moved to another bus may still hold deliveries of this bus's events, and one of them
  // may have led its partition.
  await sql.query({
    name: 'repair_heads',
    text: `UPDATE deliveries SET head = 1 WHERE head = 0 AND ${ACTIVE} AND NOT EXISTS (
         SELECT 1 FROM deliveries p WHERE p.subscription = deliveries.subscription
           AND p.partition_key = deliveries.partition_key AND p.${ACTIVE} AND p.id < deliveries.id)`,
    values: [],
  });
  // A subscription moved to another bus no longer owes the events gone with this one.
  await sql.query({
    name: 'recount_unclaimed',
    text: `UPDATE cursors c SET claimed = s.matched - (SELECT count(*) FROM events e
         WHERE e.seq > c.cursor AND e.subs @> ARRAY[s.sid])
       FROM subscriptions s WHERE s.name = c.subscription AND s.by_cursor AND s.matched > c.claimed`,
    values: [],
  });
  const result = await sql.query({ name: 'delete_bus', text: 'DELETE FROM buses WHERE name = $1', values: [name] });
  return (result.rowCount ?? 0) > 0;
}

const SUBSCRIPTION_COLUMNS = 'name, bus, pattern, target, delivery, paused, created_at, updated_at';

/**
 * Creates or updates a subscription, under the writers' lock (whose `counters` the caller read): a new
 * one is read by cursor from the end of the archive when it is unordered; one that becomes ordered
 * gets the rows of everything it was owed first, one that becomes unordered is read by cursor from
 * the end of the archive on (see ./cursors.ts).
 */
export async function putSubscription(sql: Sql, sub: SubscriptionRecord, counters: CountersRow): Promise<void> {
  const [before] = await rows<{ by_cursor: boolean }>(
    sql,
    'subscription_mode',
    'SELECT by_cursor FROM subscriptions WHERE name = $1',
    [sub.name],
  );
  const result = await sql.query({
    name: 'put_subscription',
    text: `INSERT INTO subscriptions (${SUBSCRIPTION_COLUMNS})
       SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM buses WHERE name = $2)
       ON CONFLICT (name) DO UPDATE SET bus = excluded.bus, pattern = excluded.pattern, target = excluded.target,
         delivery = excluded.delivery, paused = excluded.paused, created_at = excluded.created_at,
         updated_at = excluded.updated_at`,
    values: [
      sub.name,
      sub.bus,
      sub.pattern,
      JSON.stringify(sub.target),
      JSON.stringify(sub.delivery),
      sub.paused,
      sub.createdAt,
      sub.updatedAt,
    ],
  });
  if (result.rowCount === 0) {
    throw new Error(`Expected the bus of subscription ${code(sub.name)} to exist, got unknown bus ${code(sub.bus)}`);
  }
  const byCursor = !sub.delivery.ordered;
  const last = counters.next_seq - 1;
  if (before === undefined) {
    await sql.query({
      name: 'new_subscription_cursor',
      text: `WITH sid AS (UPDATE counters SET next_sid = next_sid + 1 WHERE id = 1 RETURNING next_sid - 1 AS sid),
         mode AS (UPDATE subscriptions SET sid = (SELECT sid FROM sid), by_cursor = $2, matched = 0 WHERE name = $1)
       INSERT INTO cursors (subscription, cursor, claimed) VALUES ($1, $3, 0)
       ON CONFLICT (subscription) DO UPDATE SET cursor = $3, claimed = 0`,
      values: [sub.name, byCursor, last],
    });
  } else if (before.by_cursor && !byCursor) {
    await materialise(sql, sub.name, null);
    await sql.query({
      name: 'subscription_ordered',
      text: `WITH mode AS (UPDATE subscriptions SET by_cursor = false WHERE name = $1)
       UPDATE deliveries SET head = CASE WHEN NOT EXISTS (SELECT 1 FROM deliveries p
           WHERE p.subscription = deliveries.subscription AND p.partition_key = deliveries.partition_key
             AND p.${ACTIVE} AND p.id < deliveries.id) THEN 1 ELSE 0 END
       WHERE subscription = $1 AND ${ACTIVE} AND partition_key IS NOT NULL`,
      values: [sub.name],
    });
  } else if (!before.by_cursor && byCursor) {
    await sql.query({
      name: 'subscription_unordered',
      text: `WITH mode AS (UPDATE subscriptions SET by_cursor = true WHERE name = $1 RETURNING matched)
       UPDATE cursors SET cursor = $2, claimed = (SELECT matched FROM mode) WHERE subscription = $1`,
      values: [sub.name, last],
    });
  }
}

export async function getSubscription(sql: Sql, name: string): Promise<SubscriptionRecord | null> {
  const [row] = await rows<SubscriptionRow>(
    sql,
    'get_subscription',
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE name = $1`,
    [name],
  );
  return row === undefined ? null : toSubscriptionRecord(row);
}

export async function listSubscriptions(sql: Sql, bus?: string): Promise<SubscriptionRecord[]> {
  const found = await rows<SubscriptionRow>(
    sql,
    'list_subscriptions',
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE $1::text IS NULL OR bus = $1 ORDER BY name`,
    [bus ?? null],
  );
  return found.map(toSubscriptionRecord);
}

/** Deletes a subscription with its deliveries and their attempts (whole partitions, so no head to repair). */
export async function deleteSubscription(sql: Sql, name: string): Promise<boolean> {
  const [row] = await rows<{ deleted: number }>(
    sql,
    'delete_subscription',
    `WITH gone AS (DELETE FROM deliveries WHERE subscription = $1 RETURNING id),
       gone_attempts AS (DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM gone)),
       sub AS (DELETE FROM subscriptions WHERE name = $1 RETURNING 1),
       gone_cursor AS (DELETE FROM cursors WHERE subscription = $1)
     SELECT count(*) AS deleted FROM sub`,
    [name],
  );
  return row!.deleted > 0;
}

export async function putReplay(sql: Sql, replay: ReplayRecord): Promise<void> {
  await sql.query({
    name: 'put_replay',
    text: `INSERT INTO replays (id, bus, from_ms, to_ms, pattern, subscriptions, skip_delivered, rate_per_sec,
         state, cursor, scanned, enqueued, error, owner, lease_until, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
       ON CONFLICT (id) DO UPDATE SET bus = excluded.bus, from_ms = excluded.from_ms, to_ms = excluded.to_ms,
         pattern = excluded.pattern, subscriptions = excluded.subscriptions,
         skip_delivered = excluded.skip_delivered, rate_per_sec = excluded.rate_per_sec, state = excluded.state,
         cursor = excluded.cursor, scanned = excluded.scanned, enqueued = excluded.enqueued,
         error = excluded.error, owner = excluded.owner, lease_until = excluded.lease_until,
         created_at = excluded.created_at, updated_at = excluded.updated_at`,
    values: [
      replay.id,
      replay.bus,
      replay.from,
      replay.to,
      replay.pattern,
      replay.subscriptions === null ? null : JSON.stringify(replay.subscriptions),
      replay.skipDelivered,
      replay.ratePerSec,
      replay.state,
      replay.cursor,
      replay.scanned,
      replay.enqueued,
      replay.error,
      replay.owner,
      replay.leaseUntil,
      replay.createdAt,
      replay.updatedAt,
    ],
  });
}

export async function getReplay(sql: Sql, id: string): Promise<ReplayRecord | null> {
  const [row] = await rows<ReplayRow>(sql, 'get_replay', 'SELECT * FROM replays WHERE id = $1', [id]);
  return row === undefined ? null : toReplayRecord(row);
}

export async function listReplays(sql: Sql, bus?: string): Promise<ReplayRecord[]> {
  const found = await rows<ReplayRow>(
    sql,
    'list_replays',
    'SELECT * FROM replays WHERE $1::text IS NULL OR bus = $1 ORDER BY created_at, id',
    [bus ?? null],
  );
  return found.map(toReplayRecord);
}

/** Takes a running replay for `owner` (see `StorageDriver.acquireReplay`). */
export async function acquireReplay(
  sql: Sql,
  id: string,
  owner: string,
  until: number,
  now: number,
): Promise<ReplayRecord | null> {
  const [row] = await rows<ReplayRow>(
    sql,
    'acquire_replay',
    `UPDATE replays SET owner = $2, lease_until = $3, updated_at = $4
     WHERE id = $1 AND state = 'running' AND (owner IS NULL OR owner = $2 OR lease_until IS NULL OR lease_until <= $4)
     RETURNING *`,
    [id, owner, until, now],
  );
  return row === undefined ? null : toReplayRecord(row);
}

/**
 * Creates a step's deliveries after checking each names an archived event and a subscription of its
 * bus. Those without an id or attempt get new ids from `firstId`; the others are stored under their
 * reserved id, settled by the engine's attempt (see `NewDelivery`).
 */
async function enqueue(sql: Sql, deliveries: readonly NewDelivery[], firstId: number, now: number): Promise<void> {
  const events = await rows<{ seq: number; bus: string; partition_key: string | null }>(
    sql,
    'events_of_seqs',
    'SELECT seq, bus, partition_key FROM events WHERE seq = ANY($1::bigint[])',
    [[...new Set(deliveries.map((d) => d.eventSeq))]],
  );
  const bySeq = new Map(events.map((e) => [e.seq, e]));
  const pairs = deliveries.map((d) => {
    const event = bySeq.get(d.eventSeq);
    if (event === undefined) throw new Error(`Expected an archived event, got unknown seq ${d.eventSeq}`);
    return { subscription: d.subscription, bus: event.bus };
  });
  const targets = await checkCatalog(sql, new Set(), pairs);
  const plain = deliveries.filter((d) => d.id === undefined && d.attempted === undefined);
  await insertDeliveries(
    sql,
    plain.map((d) => ({
      subscription: d.subscription,
      seq: d.eventSeq,
      key: bySeq.get(d.eventSeq)!.partition_key,
      replayId: d.replayId,
      redriveOf: null,
    })),
    firstId,
    now,
  );
  if (plain.length === deliveries.length) return;
  const ids = new Set<number>();
  const columns: unknown[][] = [[], [], [], [], [], [], [], [], [], [], [], [], [], []];
  const attempts: Array<{ deliveryId: number; attempt: AttemptRecord }> = [];
  let next = firstId + plain.length;
  deliveries.forEach((d, i) => {
    if (d.id === undefined && d.attempted === undefined) return;
    // Only subscriptions read by cursor (unordered) have a sid here.
    if (targets.get(d.subscription)!.sid === null) {
      throw new Error(
        `Expected deliveries[${i}] to have no id or attempt: subscription ${code(d.subscription)} is ordered`,
      );
    }
    const id = d.id ?? next++;
    if (d.id !== undefined && (!Number.isSafeInteger(d.id) || d.id < 1 || d.id >= firstId || ids.has(d.id))) {
      const why = ids.has(d.id) ? 'another delivery has it' : 'it was not reserved';
      throw new Error(`Expected deliveries[${i}].id to be a reserved delivery id, got ${d.id}: ${why}`);
    }
    ids.add(id);
    const completion = d.attempted?.completion;
    const retryAt = completion === undefined ? now : completion.kind === 'retry' ? completion.availableAt : null;
    const inline =
      completion !== undefined && isInlineAttempt(completion, d.attempted!.attempt) ? d.attempted!.attempt : null;
    [
      id,
      d.subscription,
      d.eventSeq,
      completion === undefined ? 'pending' : stateAfter(completion),
      completion === undefined ? 0 : 1,
      retryAt ?? now,
      retryAt,
      d.replayId,
      bySeq.get(d.eventSeq)!.partition_key,
      completion?.kind === 'dead' ? completion.reason : null,
      completion?.kind === 'dead' ? now : null,
      inline?.startedAt ?? null,
      inline?.durationMs ?? null,
      inline?.httpStatus ?? null,
    ].forEach((value, c) => columns[c]!.push(value));
    if (d.attempted !== undefined && inline === null) attempts.push({ deliveryId: id, attempt: d.attempted.attempt });
  });
  try {
    await sql.query({
      name: 'insert_attempted_deliveries',
      text: `WITH inserted AS (
           INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count, available_at, due_at,
             enqueued_at, replay_id, redrive_of, partition_key, dead_reason, dead_at, first_started_at,
             first_duration_ms, first_http_status)
           SELECT id, subscription, seq, state, 1, attempts, available_at, due_at, $15, replay_id, NULL, key, reason,
             dead_at, first_started_at, first_duration_ms, first_http_status
           FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::bigint[], $7::bigint[],
             $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::double precision[],
             $14::integer[])
             AS n(id, subscription, seq, state, attempts, available_at, due_at, replay_id, key, reason, dead_at,
               first_started_at, first_duration_ms, first_http_status)
         )
         UPDATE counters SET next_delivery_id = greatest(next_delivery_id, $16) WHERE id = 1`,
      values: [...columns, now, next],
    });
  } catch (error) {
    if ((error as { code?: unknown }).code !== '23505') throw error;
    throw new Error('Expected every delivery id to be a reserved delivery id: another delivery has one of them', {
      cause: error,
    });
  }
  await insertAttempts(sql, attempts);
}

/** One replay step (see `StorageDriver.advanceReplay`), under the writers' lock, whose `counters` the caller read. */
export async function advanceReplay(
  sql: Sql,
  counters: CountersRow,
  id: string,
  owner: string,
  step: ReplayStep,
  now: number,
): Promise<ReplayRecord | null> {
  const [owned] = await rows<{ id: string }>(
    sql,
    'owned_replay',
    `SELECT id FROM replays WHERE id = $1 AND state = 'running' AND owner = $2 FOR UPDATE`,
    [id, owner],
  );
  if (owned === undefined) return null;
  if (step.deliveries.length > 0) await enqueue(sql, step.deliveries, counters.next_delivery_id, now);
  const [row] = await rows<ReplayRow>(
    sql,
    'advance_replay',
    `UPDATE replays SET cursor = $2, scanned = $3, enqueued = enqueued + $4, state = $5, error = $6,
       lease_until = $7, updated_at = $8
     WHERE id = $1 RETURNING *`,
    [id, step.cursor, step.scanned, step.deliveries.length, step.state, step.error, step.leaseUntil, now],
  );
  return row === undefined ? null : toReplayRecord(row);
}

export async function cancelReplay(sql: Sql, id: string, now: number): Promise<boolean> {
  const result = await sql.query({
    name: 'cancel_replay',
    text: `UPDATE replays SET state = 'cancelled', updated_at = $2 WHERE id = $1 AND state = 'running'`,
    values: [id, now],
  });
  return (result.rowCount ?? 0) > 0;
}
