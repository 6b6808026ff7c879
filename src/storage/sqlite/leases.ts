/**
 * The delivery path: claiming due deliveries under a lease, completing attempts, extending leases,
 * and what a dispatcher needs to schedule itself (next due time, statistics).
 */
import type Database from 'better-sqlite3';
import type { ClaimedDelivery, CompletionItem, SubscriptionStats } from '../driver.js';
import { EVENT_COLUMNS, isInlineAttempt, rawToStoredEvent, stateAfter, type RawEvent } from '../rows.js';
import { leaseExpiredAttempt } from '../lease-expired.js';
import type { Cursors } from './cursors.js';
import { ACTIVE, insertAttempt, type SharedStatements } from './statements.js';

/** A claim candidate as a raw row: the delivery columns of {@link candidates}, then the event's. */
type CandidateRow = [
  deliveryId: number,
  state: string,
  attemptCount: number,
  leasedAt: number | null,
  enqueuedAt: number,
  replayId: string | null,
  redriveOf: number | null,
  ...event: RawEvent,
];
const EVENT_AT = 7;

interface ClaimParams {
  subscription: string;
  now: number;
  max: number;
}

/** Due rows among heads (`head = 1`) or non-heads, oldest due first; one range of `deliveries_due` each. */
function dueRange(head: 0 | 1): string {
  return `SELECT * FROM (SELECT id, due_at FROM deliveries
    WHERE subscription = @subscription AND ${ACTIVE} AND head = ${head} AND due_at <= @now
    ORDER BY due_at, id LIMIT @max)`;
}

/** The claim candidates with their events, given the chosen delivery ids (and due times) as `keys`. */
function candidates(keys: string): string {
  return `SELECT k.id, d.state, d.attempt_count, d.leased_at, d.enqueued_at, d.replay_id, d.redrive_of, ${EVENT_COLUMNS}
    FROM (${keys}) k JOIN deliveries d ON d.id = k.id JOIN events e ON e.seq = d.event_seq
    ORDER BY k.due_at, k.id`;
}

/** The earliest of some times, or null when there is none. */
function earliest(...times: ReadonlyArray<number | null>): number | null {
  let min: number | null = null;
  for (const t of times) if (t !== null && (min === null || t < min)) min = t;
  return min;
}

/** Prepares the lease operations. */
export function prepareLeases(db: Database.Database, shared: SharedStatements, cursors: Cursors) {
  // Unordered: merge the two ranges (each already sorted and limited) instead of sorting the backlog.
  const claimAny = db
    .prepare<[ClaimParams], CandidateRow>(
      candidates(`${dueRange(1)} UNION ALL ${dueRange(0)} ORDER BY due_at, id LIMIT @max`),
    )
    .raw();
  // Ordered: only partition heads are claimable.
  const claimHeads = db.prepare<[ClaimParams], CandidateRow>(candidates(dueRange(1))).raw();
  const lease = db.prepare<[{ ids: string; now: number; until: number }], { id: number; lease_token: string }>(
    `UPDATE deliveries SET state = 'leased', lease_token = lower(hex(randomblob(16))), leased_at = @now,
       lease_until = @until, due_at = @until, attempt_count = attempt_count + 1
     WHERE id IN (SELECT value FROM json_each(@ids))
     RETURNING id, lease_token`,
  );
  const settle = db.prepare<
    [
      state: string,
      availableAt: number | null,
      availableAt: number | null,
      deadReason: string | null,
      deadAt: number | null,
      firstStartedAt: number | null,
      firstDurationMs: number | null,
      firstHttpStatus: number | null,
      id: number,
      subscription: string,
      token: string,
    ],
    { subscription: string; partition_key: string | null; head: number }
  >(
    `UPDATE deliveries SET state = ?, available_at = coalesce(?, available_at), due_at = ?,
       lease_token = NULL, lease_until = NULL, dead_reason = ?, dead_at = ?, first_started_at = ?,
       first_duration_ms = ?, first_http_status = ?
     WHERE id = ? AND subscription = ? AND state = 'leased' AND lease_token = ?
     RETURNING subscription, partition_key, head`,
  );
  const extend = db.prepare<[number, number, number, string, string]>(
    `UPDATE deliveries SET lease_until = ?, due_at = ?
     WHERE id = ? AND subscription = ? AND state = 'leased' AND lease_token = ?`,
  );
  const firstDueAfter = db
    .prepare<[string, 0 | 1, number], number>(
      `SELECT due_at FROM deliveries WHERE subscription = ? AND ${ACTIVE} AND head = ? AND due_at > ?
       ORDER BY due_at LIMIT 1`,
    )
    .pluck();
  const liveStats = db.prepare<[string], { backlog: number; in_flight: number; oldest_pending_at: number | null }>(
    `SELECT count(*) FILTER (WHERE state = 'pending') AS backlog, count(*) FILTER (WHERE state = 'leased') AS in_flight,
       min(enqueued_at) FILTER (WHERE state = 'pending') AS oldest_pending_at
     FROM deliveries INDEXED BY deliveries_due WHERE subscription = ? AND ${ACTIVE}`,
  );
  const deadCount = db
    .prepare<[string], number>(`SELECT count(*) FROM deliveries WHERE subscription = ? AND state = 'dead'`)
    .pluck();

  const claim = db.transaction(
    (subscription: string, max: number, leaseMs: number, ordered: boolean, now: number): ClaimedDelivery[] => {
      // Matched events after the cursor become rows first; they then compete with retries by due time.
      // An ordered claim needs every partition's head, so all of them.
      cursors.materialise(subscription, ordered ? Infinity : max);
      const rows = (ordered ? claimHeads : claimAny).all({ subscription, now, max });
      if (rows.length === 0) return [];
      for (const [deliveryId, state, attemptCount, leasedAtOrNull] of rows) {
        if (state !== 'leased') continue;
        const leasedAt = leasedAtOrNull ?? now;
        insertAttempt(shared, deliveryId, leaseExpiredAttempt(attemptCount, leasedAt, now));
      }
      const ids = rows.map((row) => row[0]);
      const tokens = new Map<number, string>();
      for (const leased of lease.all({ ids: JSON.stringify(ids), now, until: now + leaseMs })) {
        tokens.set(leased.id, leased.lease_token);
      }
      return rows.map((row) => ({
        deliveryId: row[0],
        subscription,
        leaseToken: tokens.get(row[0])!,
        attempt: row[2] + 1,
        enqueuedAt: row[4],
        replayId: row[5],
        redriveOf: row[6],
        event: rawToStoredEvent(row, EVENT_AT),
      }));
    },
  );

  const complete = db.transaction((items: readonly CompletionItem[], now: number): boolean[] =>
    items.map(({ subscription, deliveryId, leaseToken, completion, attempt }) => {
      const availableAt = completion.kind === 'retry' ? completion.availableAt : null;
      const inline = isInlineAttempt(completion, attempt) ? attempt : null;
      const settled = settle.get(
        stateAfter(completion),
        availableAt,
        availableAt,
        completion.kind === 'dead' ? completion.reason : null,
        completion.kind === 'dead' ? now : null,
        inline?.startedAt ?? null,
        inline?.durationMs ?? null,
        inline?.httpStatus ?? null,
        deliveryId,
        subscription,
        leaseToken,
      );
      if (settled === undefined) return false;
      if (attempt !== null && inline === null) insertAttempt(shared, deliveryId, attempt);
      // A settled head hands its partition to the next delivery of the same key.
      if (completion.kind !== 'retry' && settled.partition_key !== null && settled.head === 1) {
        shared.promoteHead.run(settled.subscription, settled.partition_key);
      }
      return true;
    }),
  );

  const nextDueAt = db.transaction((subscription: string, after: number): number | null => {
    const heads = firstDueAfter.get(subscription, 1, after) ?? null;
    const others = firstDueAfter.get(subscription, 0, after) ?? null;
    // Matched events without a row are due when they were published.
    const byCursor = cursors.state(subscription);
    return earliest(heads, others, byCursor === undefined ? null : cursors.firstUnclaimed(byCursor, after));
  });

  // Counted from the partial indexes and the cursor's count, in one snapshot.
  const stats = db.transaction((subscription: string): SubscriptionStats => {
    const live = liveStats.get(subscription)!;
    const byCursor = cursors.state(subscription);
    return {
      backlog: live.backlog + (byCursor?.unclaimed ?? 0),
      inFlight: live.in_flight,
      dead: deadCount.get(subscription) ?? 0,
      oldestPendingAt: earliest(
        live.oldest_pending_at,
        byCursor === undefined ? null : cursors.firstUnclaimed(byCursor),
      ),
    };
  });

  return {
    claim: (subscription: string, opts: { max: number; leaseMs: number; ordered: boolean }, now: number) =>
      opts.max < 1 ? [] : claim.immediate(subscription, Math.floor(opts.max), opts.leaseMs, opts.ordered, now),
    complete: (items: readonly CompletionItem[], now: number) =>
      items.length === 0 ? [] : complete.immediate(items, now),
    extend: (subscription: string, deliveryId: number, token: string, leaseUntil: number) =>
      extend.run(leaseUntil, leaseUntil, deliveryId, subscription, token).changes > 0,
    nextDueAt: (subscription: string, after: number) => nextDueAt(subscription, after),
    stats: (subscription: string) => stats(subscription),
  };
}
