/**
 * Delivered runs (schema v6): the deliveries a replay step stores already delivered by their first
 * attempt (see `NewDelivery.attempted` and `isInlineAttempt` in ../rows.ts), kept as one row per step,
 * subscription and stretch of {@link BUCKET_SEQS} seqs instead of a `deliveries` row each. A replay to
 * a consumer in this process delivers most of its page that way, and a row with two index entries per
 * replayed event cost more than the rest of the replay together. A run's `entries` is a JSON array of
 * five numbers per delivery: id, event seq, and its attempt's start, duration and HTTP status (or
 * null). `min_id` and `max_id` bound the ids, so that a step's ids are checked against the runs
 * stored before it in one look-up.
 *
 * Everything that reads delivered deliveries reads these too: lineage (by the bucket of the event's
 * seq), a replay's skip-delivered check, and the deletes of subscriptions and buses. A purge (and a
 * bus's delete) removes the runs of buckets with no event left; until then a run may name purged
 * events, which no read asks about.
 */
import type Database from 'better-sqlite3';
import type { DeliveryRow } from '../rows.js';

/** The seqs one run row covers at most: the runs of an event are those of bucket `seq / BUCKET_SEQS`. */
export const BUCKET_SEQS = 4096;

const bucketOf = (seq: number): number => Math.floor(seq / BUCKET_SEQS);

/** A delivery its first attempt delivered, to store in a run. */
export interface DeliveredEntry {
  /** Its place in the replay step, for errors. */
  readonly at: number;
  readonly id: number;
  readonly subscription: string;
  /** The bus the subscription is on: the event must be on it. */
  readonly bus: string;
  readonly seq: number;
  readonly replayId: string | null;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly httpStatus: number | null;
}

interface RunRow {
  subscription: string;
  replay_id: string | null;
  enqueued_at: number;
  entries: string;
}

/** The error for a delivery whose reserved id another delivery has. */
export const takenIdError = (at: number, id: number): Error =>
  new Error(`Expected deliveries[${at}].id to be a reserved delivery id, got ${id}: another delivery has it`);

/** Numbers per entry in a run's `entries`. */
const WIDTH = 5;

/** Prepares the statements of delivered runs. */
export function prepareDeliveredRuns(db: Database.Database) {
  const insert = db.prepare<[string, number, string | null, number, number, number, string]>(
    `INSERT INTO delivered_runs (subscription, bucket, replay_id, enqueued_at, min_id, max_id, entries)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const eventsOnBus = db
    .prepare<[string, string], number>(
      // CROSS JOIN keeps json_each outside: a look-up by seq each, not a walk of the bus's index.
      'SELECT count(*) FROM json_each(?) j CROSS JOIN events e ON e.seq = j.value WHERE e.bus = ?',
    )
    .pluck();
  const rowInRange = db
    .prepare<[number, number], number>('SELECT 1 FROM deliveries WHERE id BETWEEN ? AND ? LIMIT 1')
    .pluck();
  const rowsTaken = db
    .prepare<[string], number>('SELECT d.id FROM json_each(?) j CROSS JOIN deliveries d ON d.id = j.value')
    .pluck();
  const runsOverlapping = db
    .prepare<[number, number], string>('SELECT entries FROM delivered_runs WHERE max_id >= ? AND min_id <= ?')
    .pluck();
  const ofBucket = db.prepare<[number], RunRow>(
    'SELECT subscription, replay_id, enqueued_at, entries FROM delivered_runs WHERE bucket = ?',
  );
  const ofSubscription = db
    .prepare<[string, string], string>(
      `SELECT entries FROM delivered_runs
       WHERE subscription = ? AND bucket IN (SELECT value FROM json_each(?))`,
    )
    .pluck();
  const deleteEmptyBuckets = db.prepare<[string]>(
    `DELETE FROM delivered_runs WHERE bucket IN (SELECT value FROM json_each(?)) AND NOT EXISTS (
       SELECT 1 FROM events WHERE seq >= bucket * ${BUCKET_SEQS} AND seq < (bucket + 1) * ${BUCKET_SEQS})`,
  );
  const deleteAllEmpty = db.prepare(
    `DELETE FROM delivered_runs WHERE NOT EXISTS (
       SELECT 1 FROM events WHERE seq >= bucket * ${BUCKET_SEQS} AND seq < (bucket + 1) * ${BUCKET_SEQS})`,
  );
  const deleteOfSubscription = db.prepare<[string]>('DELETE FROM delivered_runs WHERE subscription = ?');
  const deleteOfBus = db.prepare<[string]>(
    'DELETE FROM delivered_runs WHERE subscription IN (SELECT name FROM subscriptions WHERE bus = ?)',
  );

  /**
   * Throws unless every entry's event is archived on its subscription's bus and every id is free:
   * taken by no stored delivery, row or run. `explain` names the entry at fault when a count is off.
   * Runs before the step stores anything, so the step's own rows are not counted as taken.
   */
  function check(entries: readonly DeliveredEntry[], explain: (entries: readonly DeliveredEntry[]) => never): void {
    const seqsByBus = new Map<string, Set<number>>();
    let lo = Number.MAX_SAFE_INTEGER;
    let hi = 0;
    for (const { bus, seq, id } of entries) {
      let seqs = seqsByBus.get(bus);
      if (seqs === undefined) seqsByBus.set(bus, (seqs = new Set()));
      seqs.add(seq);
      if (id < lo) lo = id;
      if (id > hi) hi = id;
    }
    for (const [bus, seqs] of seqsByBus) {
      if (eventsOnBus.get(JSON.stringify([...seqs]), bus) !== seqs.size) explain(entries);
    }
    const taken = new Set<number>();
    if (rowInRange.get(lo, hi) !== undefined) {
      for (const id of rowsTaken.all(JSON.stringify(entries.map((e) => e.id)))) taken.add(id);
    }
    for (const run of runsOverlapping.all(lo, hi)) {
      const values = JSON.parse(run) as number[];
      for (let i = 0; i < values.length; i += WIDTH) taken.add(values[i]!);
    }
    const first = taken.size === 0 ? undefined : entries.find((e) => taken.has(e.id));
    if (first !== undefined) throw takenIdError(first.at, first.id);
  }

  /** Stores `entries` (checked, see {@link check}) as runs enqueued at `now`. */
  function store(
    entries: readonly DeliveredEntry[],
    now: number,
    explain: (entries: readonly DeliveredEntry[]) => never,
  ): void {
    if (entries.length === 0) return;
    check(entries, explain);
    const runs = new Map<string, { entry: DeliveredEntry; values: Array<number | null>; lo: number; hi: number }>();
    for (const e of entries) {
      const key = `${bucketOf(e.seq)}\u0000${e.subscription}\u0000${e.replayId}`;
      let run = runs.get(key);
      if (run === undefined) runs.set(key, (run = { entry: e, values: [], lo: e.id, hi: e.id }));
      run.values.push(e.id, e.seq, e.startedAt, e.durationMs, e.httpStatus);
      if (e.id < run.lo) run.lo = e.id;
      if (e.id > run.hi) run.hi = e.id;
    }
    for (const { entry, values, lo, hi } of runs.values()) {
      insert.run(entry.subscription, bucketOf(entry.seq), entry.replayId, now, lo, hi, JSON.stringify(values));
    }
  }

  return {
    store,

    /** The deliveries of event `seq` kept in runs, as rows of `DELIVERY_COLUMNS`. */
    rowsOf(seq: number): DeliveryRow[] {
      const found: DeliveryRow[] = [];
      for (const run of ofBucket.all(bucketOf(seq))) {
        const values = JSON.parse(run.entries) as Array<number | null>;
        for (let i = 0; i < values.length; i += WIDTH) {
          if (values[i + 1] !== seq) continue;
          found.push({
            delivery_id: values[i]!,
            subscription: run.subscription,
            state: 'delivered',
            attempt_count: 1,
            enqueued_at: run.enqueued_at,
            available_at: run.enqueued_at,
            replay_id: run.replay_id,
            redrive_of: null,
            dead_reason: null,
            dead_at: null,
            first_started_at: values[i + 2]!,
            first_duration_ms: values[i + 3]!,
            first_http_status: values[i + 4] ?? null,
          });
        }
      }
      return found;
    },

    /** Which of `seqs` runs hold a delivery of `subscription` to. */
    deliveredOf(subscription: string, seqs: readonly number[]): number[] {
      const wanted = new Set(seqs);
      const buckets = [...new Set(seqs.map(bucketOf))];
      const found: number[] = [];
      for (const run of ofSubscription.all(subscription, JSON.stringify(buckets))) {
        const values = JSON.parse(run) as number[];
        for (let i = 1; i < values.length; i += WIDTH) if (wanted.has(values[i]!)) found.push(values[i]!);
      }
      return found;
    },

    /** After a purge removed `seqs`: drops the runs of buckets with no event left. */
    afterPurge(seqs: readonly number[]): void {
      deleteEmptyBuckets.run(JSON.stringify([...new Set(seqs.map(bucketOf))]));
    },

    /** Drops the runs of a subscription being deleted. */
    deleteSubscription(name: string): void {
      deleteOfSubscription.run(name);
    },

    /** Drops the runs of the subscriptions of a bus being deleted (before they are). */
    deleteBus(bus: string): void {
      deleteOfBus.run(bus);
    },

    /**
     * Drops every run of a bucket with no event left: after a bus's events were deleted, the runs of
     * subscriptions that moved to another bus since.
     */
    sweep(): void {
      deleteAllEmpty.run();
    },
  };
}

export type DeliveredRuns = ReturnType<typeof prepareDeliveredRuns>;
