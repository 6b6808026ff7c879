/**
 * Rows as the SQL drivers (SQLite, PostgreSQL) return them, and their conversion into the plain records
 * of the storage seam. Both drivers use the same column names and read integers as numbers; flags
 * (0/1 in SQLite, booleans in PostgreSQL) become booleans, JSON text becomes values.
 */
import type {
  AttemptOutcome,
  AttemptRecord,
  Completion,
  BusRecord,
  DeadLetter,
  DeadReason,
  DeliverableEvent,
  DeliveryTrace,
  DeliveryPolicy,
  DeliveryState,
  ReplayRecord,
  StoredEvent,
  SubscriptionRecord,
} from './driver.js';

/** An `events` row under the column names of {@link EVENT_COLUMNS}. */
export interface EventRow {
  seq: number;
  bus: string;
  id: string;
  source: string;
  type: string;
  time: string;
  published_at: number;
  partition_key: string | null;
  size: number;
  body: string;
}

/** The `events` columns every event-returning query selects (table alias `e`). */
export const EVENT_COLUMNS =
  'e.seq, e.bus, e.id, e.source, e.type, e.time, e.published_at, e.partition_key, e.size, e.body';

/** The columns of a {@link DeliverableEvent}, in the order {@link rawToDeliverable} reads them. */
export const DELIVERABLE_COLUMNS = 'e.seq, e.id, e.published_at, e.size, e.body';

/** Converts a raw row of {@link DELIVERABLE_COLUMNS}. */
export function rawToDeliverable(row: readonly unknown[]): DeliverableEvent {
  return {
    seq: row[0] as number,
    id: row[1] as string,
    publishedAt: row[2] as number,
    size: row[3] as number,
    body: row[4] as string,
  };
}

/** An event as a raw row (better-sqlite3 `.raw()`, pg `rowMode: 'array'`): the {@link EVENT_COLUMNS} values, in that order. */
export type RawEvent = [
  seq: number,
  bus: string,
  id: string,
  source: string,
  type: string,
  time: string,
  publishedAt: number,
  partitionKey: string | null,
  size: number,
  body: string,
];

/**
 * Converts the event columns of a raw row starting at `at`. The hot reads (claims, archive pages)
 * take rows as arrays: building an object per row with named columns costs about as much again.
 */
export function rawToStoredEvent(row: readonly unknown[], at = 0): StoredEvent {
  return {
    seq: row[at] as number,
    bus: row[at + 1] as string,
    id: row[at + 2] as string,
    source: row[at + 3] as string,
    type: row[at + 4] as string,
    time: row[at + 5] as string,
    publishedAt: row[at + 6] as number,
    partitionKey: row[at + 7] as string | null,
    size: row[at + 8] as number,
    body: row[at + 9] as string,
  };
}

/** Converts an events row (or a join row carrying its columns). */
export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    seq: row.seq,
    bus: row.bus,
    id: row.id,
    source: row.source,
    type: row.type,
    time: row.time,
    publishedAt: row.published_at,
    partitionKey: row.partition_key,
    body: row.body,
    size: row.size,
  };
}

/** An `attempts` row. */
export interface AttemptRow {
  delivery_id: number;
  attempt: number;
  started_at: number;
  duration_ms: number;
  outcome: string;
  error_message: string | null;
  error_code: string | null;
  error_name: string | null;
  http_status: number | null;
  response_body: string | null;
}

/** Converts an attempts row; an attempt has an error exactly when it stored a message. */
export function toAttemptRecord(row: AttemptRow): AttemptRecord {
  return {
    attempt: row.attempt,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    outcome: row.outcome as AttemptOutcome,
    error:
      row.error_message === null ? null : { message: row.error_message, code: row.error_code, name: row.error_name },
    httpStatus: row.http_status,
    responseBody: row.response_body,
  };
}

/** Groups attempt rows (ordered by delivery) by delivery id. */
export function groupAttempts(rows: readonly AttemptRow[]): Map<number, AttemptRecord[]> {
  const byDelivery = new Map<number, AttemptRecord[]>();
  for (const row of rows) {
    let list = byDelivery.get(row.delivery_id);
    if (list === undefined) byDelivery.set(row.delivery_id, (list = []));
    list.push(toAttemptRecord(row));
  }
  return byDelivery;
}

/**
 * Whether an attempt is kept on its delivery's row (`first_started_at`, `first_duration_ms`,
 * `first_http_status`) instead of in a row of `attempts`: a first attempt that succeeded, which says
 * nothing more than when it started, how long it took and its HTTP status. Most deliveries have only
 * that one, so most settle without writing an attempt row.
 */
export function isInlineAttempt(completion: Completion, attempt: AttemptRecord | null): attempt is AttemptRecord {
  return (
    completion.kind === 'ack' &&
    attempt !== null &&
    attempt.attempt === 1 &&
    attempt.outcome === 'success' &&
    attempt.error === null &&
    attempt.responseBody === null
  );
}

/** The state a completion leaves its delivery in. */
export function stateAfter(completion: Completion): 'delivered' | 'pending' | 'dead' {
  return completion.kind === 'ack' ? 'delivered' : completion.kind === 'retry' ? 'pending' : 'dead';
}

/** The `deliveries` columns that describe a delivery to callers (alias `d`), joined with its event. */
export const DELIVERY_COLUMNS =
  'd.id AS delivery_id, d.subscription, d.state, d.attempt_count, d.enqueued_at, d.available_at, ' +
  'd.replay_id, d.redrive_of, d.dead_reason, d.dead_at, d.first_started_at, d.first_duration_ms, d.first_http_status';

/** A row of {@link DELIVERY_COLUMNS}. */
export interface DeliveryRow {
  delivery_id: number;
  subscription: string;
  state: string;
  attempt_count: number;
  enqueued_at: number;
  available_at: number;
  replay_id: string | null;
  redrive_of: number | null;
  dead_reason: string | null;
  dead_at: number | null;
  first_started_at: number | null;
  first_duration_ms: number | null;
  first_http_status: number | null;
}

/** The attempts of a delivery row: its inline first attempt (see {@link isInlineAttempt}), or its rows. */
function attemptsOfRow(row: DeliveryRow, attempts: ReadonlyMap<number, AttemptRecord[]>): AttemptRecord[] {
  const stored = attempts.get(row.delivery_id) ?? [];
  if (row.first_started_at === null) return stored;
  const first: AttemptRecord = {
    attempt: 1,
    startedAt: row.first_started_at,
    durationMs: row.first_duration_ms!,
    outcome: 'success',
    error: null,
    httpStatus: row.first_http_status,
    responseBody: null,
  };
  return [first, ...stored];
}

/** A dead letter's row: its delivery columns and its event's. */
export type DeadLetterRow = DeliveryRow & EventRow;

/** Converts a dead letter's row, given the attempts of every delivery read with it. */
export function toDeadLetter(row: DeadLetterRow, attempts: ReadonlyMap<number, AttemptRecord[]>): DeadLetter {
  return {
    deliveryId: row.delivery_id,
    subscription: row.subscription,
    event: toStoredEvent(row),
    attempts: attemptsOfRow(row, attempts),
    reason: asDeadReason(row.dead_reason)!,
    deadAt: row.dead_at!,
    enqueuedAt: row.enqueued_at,
    replayId: row.replay_id,
  };
}

/** Converts a delivery row of an event's lineage, given the attempts of every delivery read with it. */
export function toDeliveryTrace(row: DeliveryRow, attempts: ReadonlyMap<number, AttemptRecord[]>): DeliveryTrace {
  return {
    deliveryId: row.delivery_id,
    subscription: row.subscription,
    state: asDeliveryState(row.state),
    enqueuedAt: row.enqueued_at,
    availableAt: row.available_at,
    replayId: row.replay_id,
    redriveOf: row.redrive_of,
    deadReason: asDeadReason(row.dead_reason),
    attempts: attemptsOfRow(row, attempts),
  };
}

/** The `counters` row: the next ids, the archive's time high-water mark, the dedupe horizon. */
export interface CountersRow {
  next_seq: number;
  next_delivery_id: number;
  published_hwm: number;
  max_backstep: number;
  dedupe_floor: number;
}

/** The narrow string types stored as text. */
export function asDeliveryState(value: string): DeliveryState {
  return value as DeliveryState;
}

/** @see asDeliveryState */
export function asDeadReason(value: string | null): DeadReason | null {
  return value as DeadReason | null;
}

/** A `buses` row. */
export interface BusRow {
  name: string;
  retention_max_age_ms: number | null;
  retention_max_bytes: number | null;
  created_at: number;
  updated_at: number;
}

/** Converts a buses row. */
export function toBusRecord(row: BusRow): BusRecord {
  return {
    name: row.name,
    retention: { maxAgeMs: row.retention_max_age_ms, maxBytes: row.retention_max_bytes },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A `subscriptions` row: the target and the delivery policy are JSON text. */
export interface SubscriptionRow {
  name: string;
  bus: string;
  pattern: string;
  target: string;
  delivery: string;
  paused: number | boolean;
  created_at: number;
  updated_at: number;
}

/** Converts a subscriptions row. */
export function toSubscriptionRecord(row: SubscriptionRow): SubscriptionRecord {
  return {
    name: row.name,
    bus: row.bus,
    pattern: row.pattern,
    target: JSON.parse(row.target) as Record<string, unknown>,
    delivery: JSON.parse(row.delivery) as DeliveryPolicy,
    paused: row.paused === 1 || row.paused === true,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A `replays` row; `subscriptions` is a JSON array or `NULL`. */
export interface ReplayRow {
  id: string;
  bus: string;
  from_ms: number;
  to_ms: number;
  pattern: string | null;
  subscriptions: string | null;
  skip_delivered: number | boolean;
  rate_per_sec: number | null;
  state: string;
  cursor: number;
  scanned: number;
  enqueued: number;
  error: string | null;
  owner: string | null;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
}

/** Converts a replays row. */
export function toReplayRecord(row: ReplayRow): ReplayRecord {
  return {
    id: row.id,
    bus: row.bus,
    from: row.from_ms,
    to: row.to_ms,
    pattern: row.pattern,
    subscriptions: row.subscriptions === null ? null : (JSON.parse(row.subscriptions) as string[]),
    skipDelivered: row.skip_delivered === 1 || row.skip_delivered === true,
    ratePerSec: row.rate_per_sec,
    state: row.state as ReplayRecord['state'],
    cursor: row.cursor,
    scanned: row.scanned,
    enqueued: row.enqueued,
    error: row.error,
    owner: row.owner,
    leaseUntil: row.lease_until,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A name as error messages quote it: in backticks. */
export function code(name: string): string {
  return `\`${name}\``;
}
