/**
 * Dead letters (browse, count, delete, redrive) and an event's lineage on PostgreSQL: both read
 * deliveries together with their attempts.
 */
import type { DeadLetter, DeadLetterFilter, DeliveryTrace } from '../driver.js';
import {
  DELIVERY_COLUMNS,
  EVENT_COLUMNS,
  groupAttempts,
  toDeadLetter,
  toDeliveryTrace,
  type AttemptRow,
  type CountersRow,
  type DeadLetterRow,
  type DeliveryRow,
} from '../rows.js';
import { unclaimedOf } from './cursors.js';
import { insertDeliveries, rows, type Sql } from './sql.js';

const DEAD_FILTER = `d.subscription = $1 AND d.state = 'dead'
  AND ($2::bigint IS NULL OR d.dead_at >= $2) AND ($3::bigint IS NULL OR d.dead_at <= $3)`;

/** Attempts of the given deliveries, in recording order per delivery. */
async function attemptsOf(sql: Sql, ids: readonly number[]) {
  return groupAttempts(
    await rows<AttemptRow>(
      sql,
      'attempts_of',
      `SELECT delivery_id, attempt, started_at, duration_ms, outcome, error_message, error_code, error_name,
         http_status, response_body
       FROM attempts WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id, n`,
      [ids],
    ),
  );
}

async function withAttempts(sql: Sql, list: readonly DeadLetterRow[]): Promise<DeadLetter[]> {
  if (list.length === 0) return [];
  const attempts = await attemptsOf(
    sql,
    list.map((row) => row.delivery_id),
  );
  return list.map((row) => toDeadLetter(row, attempts));
}

/** Dead letters by ascending id (see `StorageDriver.listDeadLetters`); run in a read-only snapshot. */
export async function list(
  sql: Sql,
  subscription: string,
  opts: DeadLetterFilter & { readonly limit: number; readonly afterId?: number },
): Promise<DeadLetter[]> {
  const found = await rows<DeadLetterRow>(
    sql,
    'dead_letters',
    `SELECT ${DELIVERY_COLUMNS}, ${EVENT_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq
     WHERE ${DEAD_FILTER} AND d.id > $4 ORDER BY d.id LIMIT $5`,
    [subscription, opts.from ?? null, opts.to ?? null, opts.afterId ?? -1, opts.limit],
  );
  return withAttempts(sql, found);
}

export async function get(sql: Sql, subscription: string, id: number): Promise<DeadLetter | null> {
  const found = await rows<DeadLetterRow>(
    sql,
    'dead_letter',
    `SELECT ${DELIVERY_COLUMNS}, ${EVENT_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq
     WHERE d.subscription = $1 AND d.state = 'dead' AND d.id = $2`,
    [subscription, id],
  );
  return (await withAttempts(sql, found))[0] ?? null;
}

export async function count(sql: Sql, subscription: string, filter: DeadLetterFilter): Promise<number> {
  const [row] = await rows<{ count: number }>(
    sql,
    'count_dead_letters',
    `SELECT count(*) AS count FROM deliveries d WHERE ${DEAD_FILTER}`,
    [subscription, filter.from ?? null, filter.to ?? null],
  );
  return row!.count;
}

/** Deletes dead letters with their attempts; returns how many. */
export async function remove(sql: Sql, subscription: string, ids: readonly number[] | 'all'): Promise<number> {
  if (ids !== 'all' && ids.length === 0) return 0;
  const [row] = await rows<{ count: number }>(
    sql,
    'delete_dead_letters',
    `WITH gone AS (
       DELETE FROM deliveries WHERE subscription = $1 AND state = 'dead' AND ($2::bigint[] IS NULL OR id = ANY($2))
       RETURNING id
     ), attempts_gone AS (DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM gone))
     SELECT count(*) AS count FROM gone`,
    [subscription, ids === 'all' ? null : ids],
  );
  return row!.count;
}

/**
 * Puts dead letters back as new deliveries (see `StorageDriver.redrive`), under the writers' lock,
 * whose `counters` the caller read.
 */
export async function redrive(
  sql: Sql,
  counters: CountersRow,
  subscription: string,
  ids: readonly number[],
  now: number,
): Promise<number> {
  const marked = await rows<{ id: number; event_seq: number; replay_id: string | null; partition_key: string | null }>(
    sql,
    'mark_redriven',
    `UPDATE deliveries SET state = 'redriven' WHERE subscription = $1 AND state = 'dead' AND id = ANY($2::bigint[])
     RETURNING id, event_seq, replay_id, partition_key`,
    [subscription, ids],
  );
  if (marked.length === 0) return 0;
  // New deliveries in the order the ids were given (each id once), as one at a time would make them.
  const byId = new Map(marked.map((row) => [row.id, row]));
  const order = [...new Set(ids)].filter((id) => byId.has(id));
  return insertDeliveries(
    sql,
    order.map((id) => {
      const row = byId.get(id)!;
      return { subscription, seq: row.event_seq, key: row.partition_key, replayId: row.replay_id, redriveOf: id };
    }),
    counters.next_delivery_id,
    now,
  );
}

/** Every delivery of an event with its attempts, by delivery id. */
export async function lineage(sql: Sql, eventSeq: number): Promise<DeliveryTrace[]> {
  const found = await rows<DeliveryRow>(
    sql,
    'deliveries_of',
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.event_seq = $1 ORDER BY d.id`,
    [eventSeq],
  );
  const unclaimed = await unclaimedOf(sql, eventSeq);
  if (found.length === 0) return unclaimed;
  const attempts = await attemptsOf(
    sql,
    found.map((row) => row.delivery_id),
  );
  const traces = found.map((row) => toDeliveryTrace(row, attempts));
  return unclaimed.length === 0 ? traces : traces.concat(unclaimed).sort((a, b) => a.deliveryId - b.deliveryId);
}
