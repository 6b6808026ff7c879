/**
 * What the PostgreSQL operation modules share: the connection they run on, the writers' lock,
 * inserting deliveries with their partition heads, and recording attempts.
 */
import type { PoolClient, QueryResultRow } from 'pg';
import type { AttemptRecord } from '../driver.js';
import type { CountersRow } from '../rows.js';

/** A connection an operation runs on (inside the driver's transaction when it needs one). */
export type Sql = Pick<PoolClient, 'query'>;

/** Active states in SQL: every partial index over live deliveries uses exactly this term. */
export const ACTIVE = `state IN ('pending', 'leased')`;

/** Runs a named (prepared once per connection) statement and returns its rows. */
export async function rows<R extends QueryResultRow>(
  sql: Sql,
  name: string,
  text: string,
  values: readonly unknown[],
): Promise<R[]> {
  return (await sql.query<R>({ name, text, values: values as unknown[] })).rows;
}

/** Takes the writers' lock (the `counters` row, see schema.ts) and reads the counters. */
export const LOCK_COUNTERS =
  'SELECT next_seq, next_delivery_id, published_hwm, max_backstep, dedupe_floor FROM counters WHERE id = 1 FOR UPDATE';

/** Takes the writers' lock for the rest of the transaction (when not taken with its BEGIN). */
export async function lockCounters(sql: Sql): Promise<CountersRow> {
  const [row] = await rows<CountersRow>(sql, 'lock_counters', LOCK_COUNTERS, []);
  return row!;
}

/** A delivery to insert, pending and due at `now`. */
export interface DeliveryInsert {
  readonly subscription: string;
  readonly seq: number;
  readonly key: string | null;
  readonly replayId: string | null;
  readonly redriveOf: number | null;
}

/** New deliveries as the seven arrays {@link deliveryRows} reads, and the next free id. */
export interface PlannedDeliveries {
  readonly columns: unknown[][];
  readonly nextId: number;
}

/**
 * Numbers pending deliveries (ids from `firstId` on, in order) and decides their partition heads: a
 * delivery heads its partition when no delivery of the same subscription and key is active, counting
 * the earlier ones of this call. Runs under the writers' lock, so the rows it checks are every
 * committed one.
 */
export async function planDeliveries(
  sql: Sql,
  deliveries: readonly DeliveryInsert[],
  firstId: number,
): Promise<PlannedDeliveries> {
  const keyed = deliveries.filter((d) => d.key !== null);
  const busy = new Set<string>();
  if (keyed.length > 0) {
    const active = await rows<{ subscription: string; partition_key: string }>(
      sql,
      'active_partitions',
      `SELECT DISTINCT d.subscription, d.partition_key FROM unnest($1::text[], $2::text[]) k(subscription, key)
       JOIN deliveries d ON d.subscription = k.subscription AND d.partition_key = k.key AND d.${ACTIVE}`,
      [keyed.map((d) => d.subscription), keyed.map((d) => d.key)],
    );
    for (const row of active) busy.add(`${row.subscription}\u0000${row.partition_key}`);
  }
  const columns: unknown[][] = [[], [], [], [], [], [], []];
  let id = firstId;
  for (const d of deliveries) {
    let head = 1;
    if (d.key !== null) {
      const partition = `${d.subscription}\u0000${d.key}`;
      if (busy.has(partition)) head = 0;
      else busy.add(partition);
    }
    [id++, d.subscription, d.seq, head, d.replayId, d.redriveOf, d.key].forEach((value, i) => columns[i]!.push(value));
  }
  return { columns, nextId: id };
}

/**
 * The rows of planned deliveries, pending and due at `$<at>`, from the seven arrays starting at
 * parameter `$<from>`: the source of an `INSERT INTO deliveries`.
 */
export function deliveryRows(from: number, at: number): string {
  const p = (i: number) => `$${from + i}`;
  return `SELECT id, subscription, seq, 'pending', head, 0, $${at}::bigint, $${at}::bigint, $${at}::bigint, replay_id,
      redrive_of, key
    FROM unnest(${p(0)}::bigint[], ${p(1)}::text[], ${p(2)}::bigint[], ${p(3)}::smallint[], ${p(4)}::text[],
      ${p(5)}::bigint[], ${p(6)}::text[]) AS n(id, subscription, seq, head, replay_id, redrive_of, key)`;
}

/** The columns {@link deliveryRows} fills, in its order. */
export const DELIVERY_INSERT = `INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count,
  available_at, due_at, enqueued_at, replay_id, redrive_of, partition_key)`;

/**
 * Inserts pending deliveries due at `now` (see {@link planDeliveries}) and moves the counters'
 * next delivery id past them, under the writers' lock. Returns how many.
 */
export async function insertDeliveries(
  sql: Sql,
  deliveries: readonly DeliveryInsert[],
  firstId: number,
  now: number,
): Promise<number> {
  if (deliveries.length === 0) return 0;
  const planned = await planDeliveries(sql, deliveries, firstId);
  await sql.query({
    name: 'insert_deliveries',
    text: `WITH inserted AS (${DELIVERY_INSERT} ${deliveryRows(1, 8)})
       UPDATE counters SET next_delivery_id = $9 WHERE id = 1`,
    values: [...planned.columns, now, planned.nextId],
  });
  return deliveries.length;
}

/** Inserts attempt records, in order (their `n` keeps that order). */
export async function insertAttempts(
  sql: Sql,
  attempts: ReadonlyArray<{ readonly deliveryId: number; readonly attempt: AttemptRecord }>,
): Promise<void> {
  if (attempts.length === 0) return;
  const column = <T>(pick: (a: AttemptRecord) => T) => attempts.map((a) => pick(a.attempt));
  await sql.query({
    name: 'insert_attempts',
    text: `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, error_message, error_code,
         error_name, http_status, response_body)
       SELECT d, n, s, t, o, m, c, e, h, r FROM unnest($1::bigint[], $2::integer[], $3::bigint[],
         $4::double precision[], $5::text[], $6::text[], $7::text[], $8::text[], $9::integer[], $10::text[])
         WITH ORDINALITY AS a(d, n, s, t, o, m, c, e, h, r, i) ORDER BY i`,
    values: [
      attempts.map((a) => a.deliveryId),
      column((a) => a.attempt),
      column((a) => a.startedAt),
      column((a) => a.durationMs),
      column((a) => a.outcome),
      column((a) => a.error?.message ?? null),
      column((a) => a.error?.code ?? null),
      column((a) => a.error?.name ?? null),
      column((a) => a.httpStatus),
      column((a) => a.responseBody),
    ],
  });
}
