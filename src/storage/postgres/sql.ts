/**
 * What the PostgreSQL operation modules share: the connection they run on, the writers' lock, and
 * inserting deliveries with their partition heads.
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

/**
 * Takes the writers' lock (the `counters` row, see schema.ts) for the rest of the transaction and
 * reads the counters.
 */
export async function lockCounters(sql: Sql): Promise<CountersRow> {
  const [row] = await rows<CountersRow>(
    sql,
    'lock_counters',
    'SELECT next_seq, next_delivery_id, published_hwm, max_backstep, dedupe_floor FROM counters WHERE id = 1 FOR UPDATE',
    [],
  );
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

/**
 * Inserts pending deliveries (ids from `firstId` on, in order), each heading its partition when no
 * delivery of the same subscription and key is active, counting the earlier rows of this call. Runs
 * under the writers' lock, so the rows it checks are every committed one. Returns the next free id.
 */
export async function insertDeliveries(
  sql: Sql,
  deliveries: readonly DeliveryInsert[],
  firstId: number,
  now: number,
): Promise<number> {
  if (deliveries.length === 0) return firstId;
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
  const ids: number[] = [];
  const subscriptions: string[] = [];
  const seqs: number[] = [];
  const heads: number[] = [];
  const keys: Array<string | null> = [];
  const replayIds: Array<string | null> = [];
  const redriveOf: Array<number | null> = [];
  let id = firstId;
  for (const d of deliveries) {
    let head = 1;
    if (d.key !== null) {
      const partition = `${d.subscription}\u0000${d.key}`;
      if (busy.has(partition)) head = 0;
      else busy.add(partition);
    }
    ids.push(id++);
    subscriptions.push(d.subscription);
    seqs.push(d.seq);
    heads.push(head);
    keys.push(d.key);
    replayIds.push(d.replayId);
    redriveOf.push(d.redriveOf);
  }
  await sql.query({
    name: 'insert_deliveries',
    text: `INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count, available_at, due_at,
         enqueued_at, replay_id, redrive_of, partition_key)
       SELECT id, subscription, seq, 'pending', head, 0, $8, $8, $8, replay_id, redrive_of, key
       FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::smallint[], $5::text[], $6::bigint[], $7::text[])
         AS n(id, subscription, seq, head, replay_id, redrive_of, key)`,
    values: [ids, subscriptions, seqs, heads, replayIds, redriveOf, keys, now],
  });
  return id;
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
