/**
 * Cursor subscriptions on PostgreSQL (see ../sqlite/schema.ts, "Cursor subscriptions"): an unordered
 * subscription gets no delivery row at publish. The event lists it in `events.subs` (sids) and
 * reserves its delivery id (`delivery_base` + its position); a claim first turns the matched events
 * after the subscription's cursor into rows.
 */
import type { DeliveryTrace } from '../driver.js';
import { ACTIVE, rows, type Sql } from './sql.js';

/**
 * The first matched event without a row of subscription `$1` published after `$2`, as a scalar
 * subquery (null when there is none, or the subscription is not read by cursor).
 */
export const FIRST_UNCLAIMED = `(SELECT e.published_at FROM cursors c JOIN subscriptions s ON s.name = c.subscription
    CROSS JOIN LATERAL (SELECT e.published_at FROM events e
      WHERE e.seq > greatest(c.cursor, s.scan_from) AND e.subs @> ARRAY[s.sid] AND e.published_at > $2
      ORDER BY e.seq LIMIT 1) e
    WHERE c.subscription = $1 AND s.by_cursor AND s.matched > c.claimed)`;

/** The number of matched events without a row of subscription `$1`, as a scalar subquery. */
export const UNCLAIMED = `(SELECT coalesce(max(s.matched - c.claimed), 0) FROM cursors c
    JOIN subscriptions s ON s.name = c.subscription WHERE c.subscription = $1 AND s.by_cursor)`;

/**
 * One statement: under the subscription's cursor row lock (claims of one subscription on several
 * nodes take turns here), turn up to `$2` (null: all) matched events after the cursor into pending
 * rows due when their event was published, and move the cursor. Nothing happens, and no lock is
 * waited for, unless the subscription is read by cursor and has unclaimed events.
 *
 * The scan starts after the cursor, or after `scan_from` when a publish noted that the subscription
 * had nothing unclaimed before its match there. It sees the events committed when the statement
 * started, and events commit in `seq` order (the writers' lock), so when it finds fewer than `$2` the
 * cursor moves to the largest `seq` it can see (the counters row it reads is written in the same commit
 * as the events): nothing before that can still arrive. A partition head is decided as in
 * `planDeliveries`, except that a row made now may precede active rows made since its event was
 * published (replays, redrives): it heads its key unless an active row with a smaller id exists, and
 * the head it precedes steps back.
 */
const MATERIALISE = `WITH c AS (
    SELECT greatest(c.cursor, s.scan_from) AS cursor, s.sid FROM cursors c JOIN subscriptions s ON s.name = c.subscription
    WHERE c.subscription = $1 AND s.by_cursor AND s.matched > c.claimed
    FOR UPDATE OF c
  ),
  m AS (
    SELECT e.seq, e.published_at, e.partition_key, e.delivery_base + array_position(e.subs, c.sid) - 1 AS id,
      row_number() OVER (PARTITION BY e.partition_key ORDER BY e.seq) AS nth
    FROM c CROSS JOIN LATERAL (SELECT * FROM events e WHERE e.seq > c.cursor AND e.subs @> ARRAY[c.sid]
      ORDER BY e.seq LIMIT $2) e
  ),
  heads AS (
    SELECT m.*, CASE WHEN m.partition_key IS NULL THEN 1
      WHEN m.nth = 1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription = $1
        AND d.partition_key = m.partition_key AND d.${ACTIVE} AND d.id < m.id) THEN 1 ELSE 0 END AS head
    FROM m
  ),
  made AS (
    INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count, available_at, due_at,
      enqueued_at, partition_key)
    SELECT id, $1, seq, 'pending', head, 0, published_at, published_at, published_at, partition_key FROM heads
  ),
  stepped_back AS (
    UPDATE deliveries d SET head = 0 FROM heads h
    WHERE h.head = 1 AND h.partition_key IS NOT NULL AND d.subscription = $1 AND d.partition_key = h.partition_key
      AND d.${ACTIVE} AND d.id > h.id AND d.head = 1
  )
  UPDATE cursors SET claimed = claimed + (SELECT count(*) FROM m),
    cursor = CASE WHEN $2::bigint IS NOT NULL AND (SELECT count(*) FROM m) >= $2::bigint
      THEN (SELECT max(seq) FROM m) ELSE greatest((SELECT cursor FROM c), (SELECT next_seq - 1 FROM counters WHERE id = 1)) END
  WHERE subscription = $1 AND EXISTS (SELECT 1 FROM c)`;

/** Turns up to `max` (null: all) matched events after the cursor of `subscription` into rows. */
export async function materialise(sql: Sql, subscription: string, max: number | null): Promise<void> {
  await sql.query({ name: 'materialise', text: MATERIALISE, values: [subscription, max] });
}

/** The deliveries an event owes that have no row yet, as lineage entries. */
export async function unclaimedOf(sql: Sql, eventSeq: number): Promise<DeliveryTrace[]> {
  const found = await rows<{ name: string; id: number; published_at: number }>(
    sql,
    'unclaimed_of',
    `SELECT s.name, e.delivery_base + array_position(e.subs, s.sid) - 1 AS id, e.published_at
     FROM events e JOIN subscriptions s ON s.sid = ANY(e.subs) AND s.by_cursor
       JOIN cursors c ON c.subscription = s.name AND c.cursor < e.seq
     WHERE e.seq = $1`,
    [eventSeq],
  );
  return found.map((row) => ({
    deliveryId: row.id,
    subscription: row.name,
    state: 'pending',
    enqueuedAt: row.published_at,
    availableAt: row.published_at,
    replayId: null,
    redriveOf: null,
    deadReason: null,
    attempts: [],
  }));
}

/** A purge keeps an event that a subscription read by cursor has not turned into a row yet. */
export const OWES_UNCLAIMED = `EXISTS (SELECT 1 FROM subscriptions s JOIN cursors c ON c.subscription = s.name
    WHERE s.by_cursor AND s.sid = ANY(e.subs) AND c.cursor < e.seq)`;
