/**
 * The archive on PostgreSQL: queries by time, type and source; lookups by id; replay's skip-delivered
 * check; retention (purge, in short batches) and dedupe pruning.
 */
import type { ArchiveQuery, DeliverableEvent, StoredEvent } from '../driver.js';
import {
  DELIVERABLE_COLUMNS,
  EVENT_COLUMNS,
  rawToDeliverable,
  rawToStoredEvent,
  toStoredEvent,
  type CountersRow,
  type EventRow,
} from '../rows.js';
import { OWES_UNCLAIMED } from './cursors.js';
import { rows, type Sql } from './sql.js';

/** Events removed per purge transaction: each batch holds the writers' lock for milliseconds. */
export const PURGE_BATCH = 1000;

const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;

/** Lexicographic maximum of two (hwm, seq) positions. */
function later(a: readonly [number, number], b: readonly [number, number]): readonly [number, number] {
  return a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]) ? a : b;
}

/**
 * A page of the archive. `events_by_time` lists a bus in seq order (see ../sqlite/schema.ts): a time
 * range is a stretch of it, widened by the largest clock step back ever seen, and `published_at` then
 * filters exactly. PostgreSQL seeks on the row comparison `(published_hwm, seq) > (x, y)` directly.
 */
export async function query(sql: Sql, bus: string, q: ArchiveQuery): Promise<StoredEvent[]> {
  return (await page(sql, 'query_archive', EVENT_COLUMNS, bus, q)).map((row) => rawToStoredEvent(row));
}

/** {@link query} with only what a delivery carries (see `StorageDriver.queryDeliverable`). */
export async function deliverable(sql: Sql, bus: string, q: ArchiveQuery): Promise<DeliverableEvent[]> {
  return (await page(sql, 'query_deliverable', DELIVERABLE_COLUMNS, bus, q)).map(rawToDeliverable);
}

/** A page of the archive as raw rows of `columns`, by the statement named `name`. */
async function page(sql: Sql, name: string, columns: string, bus: string, q: ArchiveQuery): Promise<unknown[][]> {
  const [counters] = await rows<{ max_backstep: number }>(
    sql,
    'max_backstep',
    'SELECT max_backstep FROM counters WHERE id = 1',
    [],
  );
  let low: readonly [number, number] = [q.from ?? MIN, -1];
  if (q.afterSeq !== undefined) {
    const [at] = await rows<{ published_hwm: number }>(
      sql,
      'hwm_at',
      'SELECT published_hwm FROM events WHERE seq <= $1 ORDER BY seq DESC LIMIT 1',
      [q.afterSeq],
    );
    low = later(low, [at?.published_hwm ?? MIN, q.afterSeq]);
  }
  const result = await sql.query<unknown[]>({
    name,
    text: `SELECT ${columns} FROM events e
       WHERE e.bus = $1 AND (e.published_hwm, e.seq) > ($2::bigint, $3::bigint) AND e.published_hwm <= $4
         AND e.seq > $5 AND e.published_at >= $6 AND e.published_at <= $7
         AND ($8::text IS NULL OR e.type = $8) AND ($9::text IS NULL OR e.source = $9)
       ORDER BY e.published_hwm, e.seq LIMIT $10`,
    values: [
      bus,
      low[0],
      low[1],
      q.to === undefined ? MAX : q.to + counters!.max_backstep,
      q.afterSeq ?? -1,
      q.from ?? MIN,
      q.to ?? MAX,
      q.type ?? null,
      q.source ?? null,
      q.limit,
    ],
    rowMode: 'array',
  });
  return result.rows;
}

export async function eventsById(sql: Sql, bus: string, id: string): Promise<StoredEvent[]> {
  const found = await rows<EventRow>(
    sql,
    'events_by_id',
    `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.bus = $1 AND e.id = $2 ORDER BY e.seq`,
    [bus, id],
  );
  return found.map(toStoredEvent);
}

export async function deliveredSeqs(sql: Sql, subscription: string, seqs: readonly number[]): Promise<Set<number>> {
  if (seqs.length === 0) return new Set();
  const found = await rows<{ event_seq: number }>(
    sql,
    'delivered_seqs',
    `SELECT DISTINCT event_seq FROM deliveries
     WHERE event_seq = ANY($1::bigint[]) AND subscription = $2 AND state = 'delivered'`,
    [seqs, subscription],
  );
  return new Set(found.map((row) => row.event_seq));
}

interface Candidate {
  seq: number;
  published_hwm: number;
  size: number;
}

/**
 * Purge candidates from a cursor, oldest first, never an event that still owes or keeps something.
 * Read under the writers' lock: a replay step or redrive (which may give an archived event a new
 * delivery) cannot run between choosing an event and deleting it.
 */
async function candidates(
  sql: Sql,
  bus: string,
  cursor: Candidate,
  hwmLimit: number,
  olderThan: number,
): Promise<Candidate[]> {
  return rows<Candidate>(
    sql,
    'purge_candidates',
    `SELECT e.seq, e.published_hwm, e.size FROM events e
     WHERE e.bus = $1 AND (e.published_hwm, e.seq) > ($2::bigint, $3::bigint) AND e.published_hwm < $4
       AND e.published_at < $5 AND NOT EXISTS (
         SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND d.state IN ('pending', 'leased', 'dead'))
       AND (e.subs IS NULL OR NOT ${OWES_UNCLAIMED})
     ORDER BY e.published_hwm, e.seq LIMIT $6`,
    [bus, cursor.published_hwm, cursor.seq, hwmLimit, olderThan, PURGE_BATCH],
  );
}

/** Removes a batch of events with their deliveries and attempts, keeping their acceptances for dedupe. */
async function remove(sql: Sql, bus: string, batch: readonly Candidate[], floor: number): Promise<void> {
  await sql.query({
    name: 'purge_batch',
    text: `WITH kept AS (
         INSERT INTO purged_acceptances (bus, source, id, accepted_at)
         SELECT bus, source, id, max(published_at) FROM events
         WHERE seq = ANY($1::bigint[]) AND published_at >= $2 GROUP BY bus, source, id
         ON CONFLICT (bus, source, id) DO UPDATE
           SET accepted_at = greatest(purged_acceptances.accepted_at, excluded.accepted_at)
       ),
       gone_deliveries AS (DELETE FROM deliveries WHERE event_seq = ANY($1::bigint[]) RETURNING id),
       gone_attempts AS (DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM gone_deliveries)),
       gone AS (DELETE FROM events WHERE seq = ANY($1::bigint[]) RETURNING size)
     UPDATE archive_totals SET events = events - (SELECT count(*) FROM gone),
       bytes = bytes - (SELECT coalesce(sum(size), 0) FROM gone) WHERE bus = $3`,
    values: [batch.map((event) => event.seq), floor, bus],
  });
}

/**
 * Retention of one bus (see `StorageDriver.purgeArchive`), in batches of {@link PURGE_BATCH} events,
 * one transaction each under the writers' lock (`locked` runs its argument in one).
 */
export async function purge(
  locked: <T>(work: (sql: Sql, counters: CountersRow) => Promise<T>) => Promise<T>,
  bus: string,
  olderThan: number | null,
  maxBytes: number | null,
): Promise<number> {
  let removed = 0;
  const start: Candidate = { seq: -1, published_hwm: MIN, size: 0 };
  if (olderThan !== null) {
    let cursor = start;
    for (;;) {
      const batch = await locked(async (sql, { max_backstep: backstep, dedupe_floor: floor }) => {
        const found = await candidates(sql, bus, cursor, olderThan + backstep, olderThan);
        if (found.length > 0) await remove(sql, bus, found, floor);
        return found;
      });
      removed += batch.length;
      if (batch.length < PURGE_BATCH) break;
      cursor = batch[batch.length - 1]!;
    }
  }
  if (maxBytes !== null) {
    let cursor = start;
    for (;;) {
      const step = await locked(async (sql, { dedupe_floor: floor }) => {
        const [totals] = await rows<{ bytes: number }>(
          sql,
          'archive_bytes',
          'SELECT bytes FROM archive_totals WHERE bus = $1',
          [bus],
        );
        let excess = (totals?.bytes ?? 0) - maxBytes;
        if (excess <= 0) return { removed: [] as Candidate[], done: true };
        const batch = await candidates(sql, bus, cursor, MAX, MAX);
        let take = 0;
        while (take < batch.length && excess > 0) excess -= batch[take++]!.size;
        const chosen = batch.slice(0, take);
        if (chosen.length > 0) await remove(sql, bus, chosen, floor);
        return { removed: chosen, done: excess <= 0 || batch.length < PURGE_BATCH };
      });
      removed += step.removed.length;
      if (step.done) break;
      cursor = step.removed[step.removed.length - 1] ?? cursor;
    }
  }
  return removed;
}

/**
 * Raises the dedupe floor to `olderThan` (see `StorageDriver.pruneDedupe`). The count is of
 * acceptances passing below the floor: archived events published in between, and purged acceptances.
 * Counting reads an index range without the writers' lock, so publishes on every node go on meanwhile;
 * the floor only ever rises.
 */
export async function pruneDedupe(sql: Sql, olderThan: number): Promise<number> {
  const [counters] = await rows<{ dedupe_floor: number; max_backstep: number }>(
    sql,
    'dedupe_floor',
    'SELECT dedupe_floor, max_backstep FROM counters WHERE id = 1',
    [],
  );
  const { dedupe_floor: floor, max_backstep: backstep } = counters!;
  if (olderThan <= floor) return 0;
  const [row] = await rows<{ archived: number; purged: number }>(
    sql,
    'prune_dedupe',
    `WITH forgotten AS (DELETE FROM purged_acceptances WHERE accepted_at < $2 RETURNING 1)
     SELECT (SELECT count(*) FROM buses b JOIN events e ON e.bus = b.name
         WHERE e.published_hwm >= $1 AND e.published_hwm < $3 AND e.published_at >= $1 AND e.published_at < $2)
         AS archived,
       (SELECT count(*) FROM forgotten) AS purged`,
    [floor, olderThan, olderThan + backstep],
  );
  await sql.query({
    name: 'set_dedupe_floor',
    text: 'UPDATE counters SET dedupe_floor = greatest(dedupe_floor, $1) WHERE id = 1',
    values: [olderThan],
  });
  return row!.archived + row!.purged;
}
