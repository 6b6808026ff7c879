/**
 * The archive: queries by time, type and source; lookups by id; replay's skip-delivered check; and
 * retention (purge, in short batches) and dedupe pruning.
 */
import type Database from 'better-sqlite3';
import type { ArchiveQuery, DeliverableEvent, StoredEvent } from '../driver.js';
import {
  DELIVERABLE_COLUMNS,
  EVENT_COLUMNS,
  rawToDeliverable,
  rawToStoredEvent,
  toStoredEvent,
  type EventRow,
} from '../rows.js';
import type { DeliveredRuns } from './delivered-runs.js';
import type { SharedStatements } from './statements.js';

/** Events removed per purge transaction: each batch holds the write lock for milliseconds. */
export const PURGE_BATCH = 1000;

const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;

interface ArchiveParams {
  bus: string;
  loHwm: number;
  loSeq: number;
  hiHwm: number;
  afterSeq: number;
  from: number;
  to: number;
  type: string | null;
  source: string | null;
  limit: number;
}

interface CandidateParams {
  bus: string;
  hwm: number;
  seq: number;
  hwmLimit: number;
  olderThan: number;
  limit: number;
}

interface Candidate {
  seq: number;
  published_hwm: number;
  size: number;
}

/** Runs a two-part scan from a cursor: the rest of its group, then (when that is short) later groups. */
function fromCursor<P extends { limit: number }, R>(
  groupRest: Database.Statement<[P], R>,
  later: Database.Statement<[P], R>,
  params: P,
): R[] {
  const rows = groupRest.all(params);
  if (rows.length >= params.limit) return rows;
  return rows.concat(later.all({ ...params, limit: params.limit - rows.length }));
}

/** Lexicographic maximum of two (hwm, seq) positions. */
function later(a: readonly [number, number], b: readonly [number, number]): readonly [number, number] {
  return a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]) ? a : b;
}

/** Prepares the archive operations. */
export function prepareArchive(db: Database.Database, shared: SharedStatements, runs: DeliveredRuns) {
  // `events_by_time` lists a bus in seq order (see schema.ts): a time range is a contiguous stretch of
  // it, widened by the largest clock step back ever seen, and `published_at` then filters exactly.
  // SQLite seeks on `(hwm, seq) > (x, y)` by hwm only, so a scan from a cursor runs in two parts:
  // the rest of the cursor's hwm group by seq, then the later groups.
  const filters = `e.published_hwm <= @hiHwm AND e.seq > @afterSeq AND e.published_at >= @from AND e.published_at <= @to
    AND (@type IS NULL OR e.type = @type) AND (@source IS NULL OR e.source = @source)`;
  /** The two parts of an archive scan (see {@link fromCursor}) reading `columns`. */
  const archiveScan = (columns: string) =>
    [
      db
        .prepare<[ArchiveParams], unknown[]>(
          `SELECT ${columns} FROM events e INDEXED BY events_by_time
           WHERE e.bus = @bus AND e.published_hwm = @loHwm AND e.seq > @loSeq AND ${filters}
           ORDER BY e.seq LIMIT @limit`,
        )
        .raw(),
      db
        .prepare<[ArchiveParams], unknown[]>(
          `SELECT ${columns} FROM events e INDEXED BY events_by_time
           WHERE e.bus = @bus AND e.published_hwm > @loHwm AND ${filters}
           ORDER BY e.published_hwm, e.seq LIMIT @limit`,
        )
        .raw(),
    ] as const;
  const eventScan = archiveScan(EVENT_COLUMNS);
  const deliverableScan = archiveScan(DELIVERABLE_COLUMNS);
  const hwmAt = db
    .prepare<[number], number>('SELECT published_hwm FROM events WHERE seq <= ? ORDER BY seq DESC LIMIT 1')
    .pluck();
  const byId = db.prepare<[string, string], EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.bus = ? AND e.id = ? ORDER BY e.seq`,
  );
  const delivered = db
    .prepare<[string, string], number>(
      `SELECT DISTINCT d.event_seq FROM json_each(?) j JOIN deliveries d ON d.event_seq = j.value
       WHERE d.subscription = ? AND d.state = 'delivered'`,
    )
    .pluck();

  // Purge candidates: oldest first from a cursor (in two parts, as above), never an event that still
  // owes or keeps something: a live or dead delivery, or a matched subscription's row not made yet.
  const removable = `e.published_hwm < @hwmLimit AND e.published_at < @olderThan AND NOT EXISTS (
    SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND d.state IN ('pending', 'leased', 'dead'))
    AND (e.subs IS NULL OR NOT EXISTS (SELECT 1 FROM subscriptions s
      WHERE s.by_cursor = 1 AND s.cursor < e.seq AND instr(e.subs, ',' || s.sid || ',') > 0))`;
  const candidatesGroupRest = db.prepare<[CandidateParams], Candidate>(
    `SELECT e.seq, e.published_hwm, e.size FROM events e INDEXED BY events_by_time
     WHERE e.bus = @bus AND e.published_hwm = @hwm AND e.seq > @seq AND ${removable}
     ORDER BY e.seq LIMIT @limit`,
  );
  const candidatesLater = db.prepare<[CandidateParams], Candidate>(
    `SELECT e.seq, e.published_hwm, e.size FROM events e INDEXED BY events_by_time
     WHERE e.bus = @bus AND e.published_hwm > @hwm AND ${removable}
     ORDER BY e.published_hwm, e.seq LIMIT @limit`,
  );
  const archiveBytes = db.prepare<[string], number>('SELECT bytes FROM archive_totals WHERE bus = ?').pluck();
  const deleteAttempts = db.prepare<[string]>(
    `DELETE FROM attempts WHERE delivery_id IN (
       SELECT id FROM deliveries WHERE event_seq IN (SELECT value FROM json_each(?)))`,
  );
  const deleteDeliveries = db.prepare<[string]>(
    'DELETE FROM deliveries WHERE event_seq IN (SELECT value FROM json_each(?))',
  );
  const deleteEvents = db.prepare<[string]>('DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))');
  const subtractTotals = db.prepare<[number, number, string]>(
    'UPDATE archive_totals SET events = events - ?, bytes = bytes - ? WHERE bus = ?',
  );
  // A purged event's acceptance still counts for dedupe until the prune floor passes it.
  const keepAcceptances = db.prepare<[string, number]>(
    `INSERT INTO purged_acceptances (bus, source, id, accepted_at)
     SELECT bus, source, id, published_at FROM events
     WHERE seq IN (SELECT value FROM json_each(?)) AND published_at >= ?
     ON CONFLICT (bus, source, id) DO UPDATE SET accepted_at = max(accepted_at, excluded.accepted_at)`,
  );
  const busNames = db.prepare<[], string>('SELECT name FROM buses').pluck();
  const acceptedBetween = db
    .prepare<[{ bus: string; floor: number; olderThan: number; hwmLimit: number }], number>(
      `SELECT count(*) FROM events INDEXED BY events_by_time
       WHERE bus = @bus AND published_hwm >= @floor AND published_hwm < @hwmLimit
         AND published_at >= @floor AND published_at < @olderThan`,
    )
    .pluck();
  const forgetPurged = db.prepare<[number]>('DELETE FROM purged_acceptances WHERE accepted_at < ?');

  /** A page of the archive as raw rows of `scan`'s columns. */
  function page(scan: ReturnType<typeof archiveScan>, bus: string, q: ArchiveQuery): unknown[][] {
    const { max_backstep: backstep } = shared.counters.get()!;
    let low: readonly [number, number] = [q.from ?? MIN, -1];
    if (q.afterSeq !== undefined) low = later(low, [hwmAt.get(q.afterSeq) ?? MIN, q.afterSeq]);
    return fromCursor(scan[0], scan[1], {
      bus,
      loHwm: low[0],
      loSeq: low[1],
      hiHwm: q.to === undefined ? MAX : q.to + backstep,
      afterSeq: q.afterSeq ?? -1,
      from: q.from ?? MIN,
      to: q.to ?? MAX,
      type: q.type ?? null,
      source: q.source ?? null,
      limit: q.limit,
    });
  }
  const queryTx = db.transaction((bus: string, q: ArchiveQuery): StoredEvent[] =>
    page(eventScan, bus, q).map((row) => rawToStoredEvent(row)),
  );
  const deliverableTx = db.transaction((bus: string, q: ArchiveQuery): DeliverableEvent[] =>
    page(deliverableScan, bus, q).map(rawToDeliverable),
  );

  function remove(bus: string, batch: readonly Candidate[], floor: number): void {
    const seqs = JSON.stringify(batch.map((event) => event.seq));
    keepAcceptances.run(seqs, floor);
    deleteAttempts.run(seqs);
    deleteDeliveries.run(seqs);
    deleteEvents.run(seqs);
    runs.afterPurge(batch.map((event) => event.seq));
    subtractTotals.run(
      batch.length,
      batch.reduce((sum, event) => sum + event.size, 0),
      bus,
    );
  }

  /** One batch of the age rule; returns the events removed (fewer than a batch: nothing more to do). */
  const purgeAged = db.transaction((bus: string, olderThan: number, cursor: Candidate): Candidate[] => {
    const { max_backstep: backstep, dedupe_floor: floor } = shared.counters.get()!;
    const batch = fromCursor(candidatesGroupRest, candidatesLater, {
      bus,
      hwm: cursor.published_hwm,
      seq: cursor.seq,
      hwmLimit: olderThan + backstep,
      olderThan,
      limit: PURGE_BATCH,
    });
    if (batch.length > 0) remove(bus, batch, floor);
    return batch;
  });

  /** One batch of the size rule; `done` once the archive fits or nothing more may go. */
  const purgeOversize = db.transaction((bus: string, maxBytes: number, cursor: Candidate) => {
    const { dedupe_floor: floor } = shared.counters.get()!;
    let excess = (archiveBytes.get(bus) ?? 0) - maxBytes;
    if (excess <= 0) return { removed: [] as Candidate[], done: true };
    const batch = fromCursor(candidatesGroupRest, candidatesLater, {
      bus,
      hwm: cursor.published_hwm,
      seq: cursor.seq,
      hwmLimit: MAX,
      olderThan: MAX,
      limit: PURGE_BATCH,
    });
    let take = 0;
    while (take < batch.length && excess > 0) excess -= batch[take++]!.size;
    const removed = batch.slice(0, take);
    if (removed.length > 0) remove(bus, removed, floor);
    return { removed, done: excess <= 0 || batch.length < PURGE_BATCH };
  });

  /**
   * Raises the dedupe floor to `olderThan`. The count is of acceptances passing below the floor: the
   * archived events published in between, and the purged acceptances removed.
   */
  const prune = db.transaction((olderThan: number): number => {
    const { dedupe_floor: floor, max_backstep: backstep } = shared.counters.get()!;
    if (olderThan <= floor) return 0;
    let forgotten = 0;
    for (const bus of busNames.all()) {
      forgotten += acceptedBetween.get({ bus, floor, olderThan, hwmLimit: olderThan + backstep }) ?? 0;
    }
    forgotten += forgetPurged.run(olderThan).changes;
    shared.setDedupeFloor.run(olderThan);
    return forgotten;
  });

  /** Lets other work (publishes, claims) run between two batches. */
  const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

  return {
    query: (bus: string, q: ArchiveQuery) => queryTx(bus, q),
    deliverable: (bus: string, q: ArchiveQuery) => deliverableTx(bus, q),
    eventsById: (bus: string, id: string) => byId.all(bus, id).map(toStoredEvent),
    deliveredSeqs: (subscription: string, seqs: readonly number[]): Set<number> =>
      seqs.length === 0
        ? new Set()
        : new Set([...delivered.all(JSON.stringify(seqs), subscription), ...runs.deliveredOf(subscription, seqs)]),

    async purge(bus: string, olderThan: number | null, maxBytes: number | null): Promise<number> {
      let removed = 0;
      if (olderThan !== null) {
        let cursor: Candidate = { seq: -1, published_hwm: MIN, size: 0 };
        for (;;) {
          const batch = purgeAged.immediate(bus, olderThan, cursor);
          removed += batch.length;
          if (batch.length < PURGE_BATCH) break;
          cursor = batch[batch.length - 1]!;
          await breathe();
        }
      }
      if (maxBytes !== null) {
        let cursor: Candidate = { seq: -1, published_hwm: MIN, size: 0 };
        for (;;) {
          const step = purgeOversize.immediate(bus, maxBytes, cursor);
          removed += step.removed.length;
          if (step.done) break;
          cursor = step.removed[step.removed.length - 1] ?? cursor;
          await breathe();
        }
      }
      return removed;
    },

    pruneDedupe: (olderThan: number) => prune.immediate(olderThan),
  };
}
