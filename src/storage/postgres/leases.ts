/**
 * The delivery path on PostgreSQL: claiming due deliveries under a lease (`FOR UPDATE SKIP LOCKED`, so
 * nodes claiming at once never take the same row), completing attempts, extending leases, and what a
 * dispatcher needs to schedule itself.
 */
import type { ClaimedDelivery, CompletionItem, SubscriptionStats } from '../driver.js';
import { LEASE_EXPIRED_MESSAGE } from '../lease-expired.js';
import { EVENT_COLUMNS, isInlineAttempt, rawToStoredEvent, stateAfter } from '../rows.js';
import { FIRST_UNCLAIMED, UNCLAIMED, materialise } from './cursors.js';
import { ACTIVE, insertAttempts, lockCounters, rows, type Sql } from './sql.js';

/** Due rows among heads (`head = 1`) or non-heads, oldest due first, locked; one index range each. */
function dueRange(head: 0 | 1): string {
  return `SELECT * FROM (SELECT id, due_at, state, attempt_count, leased_at, enqueued_at, replay_id, redrive_of,
      event_seq FROM deliveries
    WHERE subscription = $1 AND ${ACTIVE} AND head = ${head} AND due_at <= $2
    ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) r${head}`;
}

/**
 * One statement: pick the due rows (the two ranges merged, or heads only when `$5` says ordered),
 * record the lost attempt of each expired lease, lease them, and return them with their events.
 */
const CLAIM = `WITH picked AS (
    SELECT * FROM (${dueRange(1)} UNION ALL SELECT * FROM (${dueRange(0)}) o WHERE NOT $5::boolean) c
    ORDER BY due_at, id LIMIT $3
  ),
  lost AS (
    INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, error_message)
    SELECT id, attempt_count, coalesce(leased_at, $2), $2 - coalesce(leased_at, $2), 'lease_expired', $6
    FROM picked WHERE state = 'leased' ORDER BY due_at, id
  ),
  leased AS (
    UPDATE deliveries d SET state = 'leased', lease_token = replace(gen_random_uuid()::text, '-', ''),
      leased_at = $2, lease_until = $2::bigint + $4::bigint, due_at = $2::bigint + $4::bigint,
      attempt_count = d.attempt_count + 1
    FROM picked p WHERE d.id = p.id
    RETURNING d.id, d.lease_token
  )
  SELECT p.id, l.lease_token, p.attempt_count, p.enqueued_at, p.replay_id, p.redrive_of, ${EVENT_COLUMNS}
  FROM picked p JOIN leased l ON l.id = p.id JOIN events e ON e.seq = p.event_seq
  ORDER BY p.due_at, p.id`;
const EVENT_AT = 6;

/** Leases up to `max` due deliveries (see `StorageDriver.claim`). */
export async function claim(
  sql: Sql,
  subscription: string,
  opts: { readonly max: number; readonly leaseMs: number; readonly ordered: boolean },
  now: number,
): Promise<ClaimedDelivery[]> {
  if (opts.max < 1) return [];
  // Matched events after the cursor become rows first; they then compete with retries by due time.
  // An ordered claim needs every partition's head, so all of them.
  await materialise(sql, subscription, opts.ordered ? null : Math.floor(opts.max));
  const result = await sql.query<unknown[]>({
    name: 'claim',
    text: CLAIM,
    values: [subscription, now, Math.floor(opts.max), opts.leaseMs, opts.ordered, LEASE_EXPIRED_MESSAGE],
    rowMode: 'array',
  });
  return result.rows.map((row) => ({
    deliveryId: row[0] as number,
    subscription,
    leaseToken: row[1] as string,
    attempt: (row[2] as number) + 1,
    enqueuedAt: row[3] as number,
    replayId: row[4] as string | null,
    redriveOf: row[5] as number | null,
    event: rawToStoredEvent(row, EVENT_AT),
  }));
}

/**
 * Applies completions (see `StorageDriver.complete`) inside the driver's transaction. Returns one
 * result per item and the subscriptions whose next delivery of a partition became claimable.
 */
export async function complete(
  sql: Sql,
  items: readonly CompletionItem[],
  now: number,
): Promise<{ results: boolean[]; woken: Set<string> }> {
  // A delivery named twice settles once: the second finds its lease gone, as it would one at a time.
  const first = new Map<number, number>();
  items.forEach((item, i) => {
    if (!first.has(item.deliveryId)) first.set(item.deliveryId, i);
  });
  const chosen = [...first.values()].map((i) => items[i]!);
  const inline = chosen.map((c) => (isInlineAttempt(c.completion, c.attempt) ? c.attempt : null));
  const settled = await rows<{ id: number; subscription: string; partition_key: string | null; head: number }>(
    sql,
    'settle',
    `WITH i AS (
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
         $8::bigint[], $9::double precision[], $10::integer[])
         AS i(id, subscription, token, state, available_at, dead_reason, first_started_at, first_duration_ms,
           first_http_status)
     )
     UPDATE deliveries d SET state = i.state, available_at = coalesce(i.available_at, d.available_at),
       due_at = i.available_at, lease_token = NULL, lease_until = NULL, dead_reason = i.dead_reason,
       dead_at = CASE WHEN i.state = 'dead' THEN $7::bigint END, first_started_at = i.first_started_at,
       first_duration_ms = i.first_duration_ms, first_http_status = i.first_http_status
     FROM i WHERE d.id = i.id AND d.subscription = i.subscription AND d.state = 'leased' AND d.lease_token = i.token
     RETURNING d.id, d.subscription, d.partition_key, d.head`,
    [
      chosen.map((c) => c.deliveryId),
      chosen.map((c) => c.subscription),
      chosen.map((c) => c.leaseToken),
      chosen.map((c) => stateAfter(c.completion)),
      chosen.map((c) => (c.completion.kind === 'retry' ? c.completion.availableAt : null)),
      chosen.map((c) => (c.completion.kind === 'dead' ? c.completion.reason : null)),
      now,
      inline.map((a) => a?.startedAt ?? null),
      inline.map((a) => a?.durationMs ?? null),
      inline.map((a) => a?.httpStatus ?? null),
    ],
  );
  const done = new Map(settled.map((row) => [row.id, row]));
  const results = items.map((item, i) => done.has(item.deliveryId) && first.get(item.deliveryId) === i);
  await insertAttempts(
    sql,
    chosen.flatMap((c, i) =>
      c.attempt !== null && inline[i] === null && done.has(c.deliveryId)
        ? [{ deliveryId: c.deliveryId, attempt: c.attempt }]
        : [],
    ),
  );

  // A settled head hands its partition to the next delivery of the same key. Under the writers' lock,
  // so that a delivery appended meanwhile is either seen here or saw this head settled.
  const handOver = chosen.filter((c) => {
    const row = done.get(c.deliveryId);
    return row !== undefined && c.completion.kind !== 'retry' && row.partition_key !== null && row.head === 1;
  });
  const woken = new Set<string>();
  if (handOver.length > 0) {
    await lockCounters(sql);
    const promoted = await rows<{ subscription: string }>(
      sql,
      'promote_heads',
      `UPDATE deliveries SET head = 1 WHERE id IN (
         SELECT (SELECT id FROM deliveries d WHERE d.subscription = k.subscription AND d.partition_key = k.key
           AND d.${ACTIVE} ORDER BY d.id LIMIT 1)
         FROM unnest($1::text[], $2::text[]) k(subscription, key))
       RETURNING subscription`,
      [
        handOver.map((c) => done.get(c.deliveryId)!.subscription),
        handOver.map((c) => done.get(c.deliveryId)!.partition_key),
      ],
    );
    for (const row of promoted) woken.add(row.subscription);
  }
  return { results, woken };
}

/** Extends a lease (see `StorageDriver.extend`). */
export async function extend(
  sql: Sql,
  subscription: string,
  deliveryId: number,
  token: string,
  leaseUntil: number,
): Promise<boolean> {
  const result = await sql.query({
    name: 'extend',
    text: `UPDATE deliveries SET lease_until = $1, due_at = $1
       WHERE id = $2 AND subscription = $3 AND state = 'leased' AND lease_token = $4`,
    values: [leaseUntil, deliveryId, subscription, token],
  });
  return (result.rowCount ?? 0) > 0;
}

/** The earliest due time after `after` (see `StorageDriver.nextDueAt`): one index seek per range. */
export async function nextDueAt(sql: Sql, subscription: string, after: number): Promise<number | null> {
  const first = (head: 0 | 1) =>
    `(SELECT due_at FROM deliveries WHERE subscription = $1 AND ${ACTIVE} AND head = ${head} AND due_at > $2
      ORDER BY due_at LIMIT 1)`;
  const [row] = await rows<{ next: number | null }>(
    sql,
    'next_due_at',
    `SELECT least(${first(1)}, ${first(0)}, ${FIRST_UNCLAIMED}) AS next`,
    [subscription, after],
  );
  return row?.next ?? null;
}

/** Backlog, in flight, dead letters and the oldest pending delivery, in one snapshot. */
export async function stats(sql: Sql, subscription: string): Promise<SubscriptionStats> {
  const [row] = await rows<{ backlog: number; in_flight: number; oldest_pending_at: number | null; dead: number }>(
    sql,
    'subscription_stats',
    `SELECT count(*) FILTER (WHERE state = 'pending') + ${UNCLAIMED} AS backlog,
       count(*) FILTER (WHERE state = 'leased') AS in_flight,
       least(min(enqueued_at) FILTER (WHERE state = 'pending'), ${FIRST_UNCLAIMED}) AS oldest_pending_at,
       (SELECT count(*) FROM deliveries WHERE subscription = $1 AND state = 'dead') AS dead
     FROM deliveries WHERE subscription = $1 AND ${ACTIVE}`,
    [subscription, Number.MIN_SAFE_INTEGER],
  );
  return {
    backlog: row!.backlog,
    inFlight: row!.in_flight,
    dead: row!.dead,
    oldestPendingAt: row!.oldest_pending_at,
  };
}
