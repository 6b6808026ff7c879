/**
 * Statements shared by several operation modules: the id counters, new deliveries and attempts.
 * Each operation module prepares its own statements once, next to the code that runs them.
 */
import type Database from 'better-sqlite3';
import type { AttemptRecord } from '../driver.js';
import type { AttemptRow, CountersRow } from '../rows.js';

type DeliveryInsert = [
  id: number,
  subscription: string,
  seq: number,
  key: string | null,
  subscription: string,
  key: string | null,
  now: number,
  now: number,
  now: number,
  replayId: string | null,
  redriveOf: number | null,
  key: string | null,
];

type AttemptInsert = [
  deliveryId: number,
  attempt: number,
  startedAt: number,
  durationMs: number,
  outcome: string,
  message: string | null,
  code: string | null,
  name: string | null,
  httpStatus: number | null,
  responseBody: string | null,
];

/** Active states in SQL: every partial index over live deliveries uses exactly this term. */
export const ACTIVE = `state IN ('pending', 'leased')`;

/**
 * A delivery is the head of its partition when no delivery of the same subscription and key with a
 * smaller id is active. New rows always have the largest id, so "no active row of the key" suffices.
 */
const HEAD_OF_NEW = `CASE WHEN ? IS NULL THEN 1 ELSE NOT EXISTS (
  SELECT 1 FROM deliveries WHERE subscription = ? AND partition_key = ? AND ${ACTIVE}) END`;

/** Statements used by more than one operation module. */
export interface SharedStatements {
  readonly counters: Database.Statement<[], CountersRow>;
  readonly setCounters: Database.Statement<
    [nextSeq: number, nextDeliveryId: number, publishedHwm: number, maxBackstep: number]
  >;
  readonly setDedupeFloor: Database.Statement<[number]>;
  readonly setNextDeliveryId: Database.Statement<[number]>;
  /** Use {@link insertDelivery}. Hot statements bind by position: by name costs a microsecond more. */
  readonly insertDelivery: Database.Statement<DeliveryInsert>;
  /** Use {@link insertAttempt}. */
  readonly insertAttempt: Database.Statement<AttemptInsert>;
  /** Attempts of the deliveries in a JSON array of ids, in recording order per delivery. */
  readonly attemptsOf: Database.Statement<[string], AttemptRow>;
  /** Makes the smallest active delivery of a partition its head (after the previous head settled). */
  readonly promoteHead: Database.Statement<[string, string]>;
  /** Restores the head invariant everywhere, after deletes that may have removed a head. */
  readonly repairHeads: Database.Statement;
}

/** Prepares the shared statements. */
export function prepareShared(db: Database.Database): SharedStatements {
  return {
    counters: db.prepare<[], CountersRow>(
      'SELECT next_seq, next_delivery_id, published_hwm, max_backstep, dedupe_floor FROM counters WHERE id = 1',
    ),
    setCounters: db.prepare(
      'UPDATE counters SET next_seq = ?, next_delivery_id = ?, published_hwm = ?, max_backstep = ? WHERE id = 1',
    ),
    setDedupeFloor: db.prepare('UPDATE counters SET dedupe_floor = ? WHERE id = 1'),
    setNextDeliveryId: db.prepare<[number]>('UPDATE counters SET next_delivery_id = ? WHERE id = 1'),
    insertDelivery: db.prepare<DeliveryInsert>(
      `INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count, available_at, due_at,
         enqueued_at, replay_id, redrive_of, partition_key)
       VALUES (?, ?, ?, 'pending', ${HEAD_OF_NEW}, 0, ?, ?, ?, ?, ?, ?)`,
    ),
    insertAttempt: db.prepare<AttemptInsert>(
      `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, error_message, error_code,
         error_name, http_status, response_body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    attemptsOf: db.prepare<[string], AttemptRow>(
      `SELECT delivery_id, attempt, started_at, duration_ms, outcome, error_message, error_code, error_name,
         http_status, response_body
       FROM attempts WHERE delivery_id IN (SELECT value FROM json_each(?)) ORDER BY delivery_id, rowid`,
    ),
    promoteHead: db.prepare<[string, string]>(
      `UPDATE deliveries SET head = 1 WHERE id = (
         SELECT id FROM deliveries WHERE subscription = ? AND partition_key = ? AND ${ACTIVE} ORDER BY id LIMIT 1)`,
    ),
    repairHeads: db.prepare(
      `UPDATE deliveries SET head = 1 WHERE head = 0 AND ${ACTIVE} AND NOT EXISTS (
         SELECT 1 FROM deliveries p WHERE p.subscription = deliveries.subscription
           AND p.partition_key = deliveries.partition_key AND p.${ACTIVE} AND p.id < deliveries.id)`,
    ),
  };
}

/** Inserts a pending delivery due at `now`; it heads its partition when no delivery of the key is active. */
export function insertDelivery(
  statements: SharedStatements,
  id: number,
  subscription: string,
  seq: number,
  now: number,
  key: string | null,
  replayId: string | null,
  redriveOf: number | null,
): void {
  statements.insertDelivery.run(id, subscription, seq, key, subscription, key, now, now, now, replayId, redriveOf, key);
}

/** Records an attempt of a delivery. */
export function insertAttempt(statements: SharedStatements, deliveryId: number, attempt: AttemptRecord): void {
  statements.insertAttempt.run(
    deliveryId,
    attempt.attempt,
    attempt.startedAt,
    attempt.durationMs,
    attempt.outcome,
    attempt.error?.message ?? null,
    attempt.error?.code ?? null,
    attempt.error?.name ?? null,
    attempt.httpStatus,
    attempt.responseBody,
  );
}
