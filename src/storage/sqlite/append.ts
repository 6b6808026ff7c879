/**
 * Writing events and the deliveries they owe: `append` (publish, with dedupe) and `enqueue` (replays).
 */
import type Database from 'better-sqlite3';
import type { AppendOutcome, AppendRequest, NewDelivery } from '../driver.js';
import { code, isInlineAttempt, stateAfter } from '../rows.js';
import { subsText } from './cursors.js';
import { takenIdError, type DeliveredEntry, type DeliveredRuns } from './delivered-runs.js';
import { insertAttempt, insertDelivery, type SharedStatements } from './statements.js';

/** The error for a delivery with an id or an attempt to an ordered subscription. */
const orderedError = (i: number, subscription: string): Error =>
  new Error(`Expected deliveries[${i}] to have no id or attempt: subscription ${code(subscription)} is ordered`);

/** What dedupe knows of a bus, source and id: its newest archived event. */
interface Acceptance {
  readonly seq: number;
  readonly published_at: number;
}

/** An archived event as dedupe reads it: `n` numbers the key it was looked up by. */
interface AcceptanceRow extends Acceptance {
  readonly n: number;
}

/** Event rows inserted (and keys looked up) by one statement at most, and the values of one event row. */
const EVENT_ROWS = 100;
const EVENT_COLUMNS = 13;

/** The dedupe key of a bus, source and id. */
const keyOf = (bus: string, source: string, id: string): string => `${bus}\u0000${source}\u0000${id}`;

/** Names checked against the catalog (see `catalogCheck` in {@link prepareAppend}). */
interface CatalogCheck {
  bus(name: string): void;
  /** The subscription, wherever it is. */
  known(name: string): Target;
  /** The subscription, which must be on `bus`. */
  subscription(name: string, bus: string): Target;
}

/** A subscription as an append sees it. */
interface Target {
  bus: string;
  sid: number;
  by_cursor: 0 | 1;
}

/** Prepares `append` and `enqueue` as transactions. */
export function prepareAppend(db: Database.Database, shared: SharedStatements, runs: DeliveredRuns) {
  // Dedupe reads the archive (see schema.ts): the newest event of the key is its latest acceptance,
  // and a purged one may have left its acceptance behind.
  // The events of `bus` with one of a list of ids and sources (rows of id, source and the row's number
  // `n`, returned with each event found), found through `events_by_id`, one look-up per row (CROSS JOIN
  // keeps the list outside). The values are bound like the rows they are compared with, so they match
  // exactly as stored (text read back may differ: a lone surrogate is stored as U+FFFD).
  const acceptanceStatements = new Map<number, Database.Statement<unknown[], AcceptanceRow>>();
  const acceptancesOf = (bus: string, list: readonly unknown[]): AcceptanceRow[] => {
    const rows = list.length / 3;
    let statement = acceptanceStatements.get(rows);
    if (statement === undefined) {
      statement = db.prepare<unknown[], AcceptanceRow>(
        `SELECT k.column3 AS n, e.seq, e.published_at
         FROM (VALUES ${Array.from({ length: rows }, () => '(?, ?, ?)').join(', ')}) k CROSS JOIN events e
         WHERE e.bus = ? AND e.id = k.column1 AND e.source = k.column2`,
      );
      acceptanceStatements.set(rows, statement);
    }
    return statement.all([...list, bus]);
  };

  const purgedAcceptance = db
    .prepare<[string, string, string], number>(
      'SELECT accepted_at FROM purged_acceptances WHERE bus = ? AND source = ? AND id = ?',
    )
    .pluck();
  const anyPurged = db.prepare<[], number>('SELECT 1 FROM purged_acceptances LIMIT 1').pluck();

  /**
   * The latest acceptance (newest archived event) of every bus, source and id the requests publish
   * with an id of their own, by {@link keyOf}: one statement per bus for the whole call.
   */
  function latestAcceptances(requests: readonly AppendRequest[]): Map<string, Acceptance> {
    const lists = new Map<string, { keys: string[]; values: unknown[] }>();
    for (const { bus, events } of requests) {
      for (const event of events) {
        if (event.idAssigned === true) continue;
        let list = lists.get(bus);
        if (list === undefined) lists.set(bus, (list = { keys: [], values: [] }));
        list.values.push(event.id, event.source, list.keys.length);
        list.keys.push(keyOf(bus, event.source, event.id));
      }
    }
    const latest = new Map<string, Acceptance>();
    for (const [bus, { keys, values }] of lists) {
      for (let from = 0; from < values.length; from += 3 * EVENT_ROWS) {
        for (const row of acceptancesOf(bus, values.slice(from, from + 3 * EVENT_ROWS))) {
          const key = keys[row.n]!;
          // A key named twice finds its events twice: keep the newest.
          if ((latest.get(key)?.seq ?? -1) < row.seq) latest.set(key, row);
        }
      }
    }
    return latest;
  }

  /**
   * The duplicate outcome when the key was accepted after `cutoff` (and not before the prune floor).
   * `purged` says whether any purged acceptance exists (checked once per transaction: usually none).
   */
  function duplicateOf(
    bus: string,
    source: string,
    id: string,
    cutoff: number,
    floor: number,
    purged: boolean,
    latest: Acceptance | undefined,
  ): AppendOutcome | null {
    if (latest !== undefined && latest.published_at > cutoff && latest.published_at >= floor) {
      return { status: 'duplicate', seq: latest.seq };
    }
    if (!purged) return null;
    const purgedAt = purgedAcceptance.get(bus, source, id);
    if (purgedAt !== undefined && purgedAt > cutoff && purgedAt >= floor) return { status: 'duplicate', seq: null };
    return null;
  }

  // Events go in {@link EVENT_ROWS} to a statement: one statement per row cost about as much as the row.
  const eventStatements = new Map<number, Database.Statement<unknown[]>>();
  const insertEvents = (values: readonly unknown[]): void => {
    const rows = values.length / EVENT_COLUMNS;
    let statement = eventStatements.get(rows);
    if (statement === undefined) {
      const row = `(${Array.from({ length: EVENT_COLUMNS }, () => '?').join(', ')})`;
      statement = db.prepare<unknown[]>(
        `INSERT INTO events (seq, bus, id, source, type, time, published_at, published_hwm, partition_key, size, body,
           subs, delivery_base)
         VALUES ${Array.from({ length: rows }, () => row).join(', ')}`,
      );
      eventStatements.set(rows, statement);
    }
    statement.run(values);
  };
  const addTotals = db.prepare<[string, number, number]>(
    `INSERT INTO archive_totals (bus, events, bytes) VALUES (?, ?, ?)
     ON CONFLICT (bus) DO UPDATE SET events = events + excluded.events, bytes = bytes + excluded.bytes`,
  );
  const eventOf = db.prepare<[number], { bus: string; partition_key: string | null }>(
    'SELECT bus, partition_key FROM events WHERE seq = ?',
  );
  const busExists = db.prepare<[string], number>('SELECT 1 FROM buses WHERE name = ?').pluck();
  const targetOf = db.prepare<[string], Target>('SELECT bus, sid, by_cursor FROM subscriptions WHERE name = ?');
  const addUnclaimed = db.prepare<[number, number, string]>(
    // A subscription with nothing unclaimed has every earlier match in rows: its cursor jumps to just
    // before this append's first match, so that no scan walks the stretch it did not match.
    `UPDATE subscriptions SET cursor = CASE WHEN unclaimed = 0 THEN max(cursor, ?) ELSE cursor END,
       unclaimed = unclaimed + ? WHERE name = ?`,
  );

  /** Checks names against the catalog, remembering answers for one transaction. */
  function catalogCheck(): CatalogCheck {
    const buses = new Set<string>();
    const subscriptions = new Map<string, Target | undefined>();
    return {
      bus(name: string): void {
        if (buses.has(name)) return;
        if (busExists.get(name) === undefined)
          throw new Error(`Expected an existing bus, got unknown bus ${code(name)}`);
        buses.add(name);
      },
      known(name: string): Target {
        let found = subscriptions.get(name);
        if (found === undefined && !subscriptions.has(name)) subscriptions.set(name, (found = targetOf.get(name)));
        if (found !== undefined) return found;
        throw new Error(`Expected an existing subscription, got unknown subscription ${code(name)}`);
      },
      subscription(name: string, bus: string): Target {
        const found = this.known(name);
        if (found.bus === bus) return found;
        throw new Error(`Expected subscription ${code(name)} to be on bus ${code(bus)}, got bus ${code(found.bus)}`);
      },
    };
  }

  const append = db.transaction((requests: readonly AppendRequest[], now: number): AppendOutcome[][] => {
    const counters = shared.counters.get()!;
    let seq = counters.next_seq;
    let deliveryId = counters.next_delivery_id;
    const hwm = Math.max(counters.published_hwm, now);
    const results: AppendOutcome[][] = [];
    const check = catalogCheck();
    const purged = anyPurged.get() !== undefined;
    // Matched events per subscription read by cursor (the seq of the first, and how many), added to
    // its `unclaimed` once at the end.
    const unclaimed = new Map<string, { first: number; count: number }>();
    // Event rows not inserted yet.
    const rows: unknown[] = [];
    // The latest acceptance of each key, as stored before this call and then as this call accepts.
    const accepted = latestAcceptances(requests);

    for (const request of requests) {
      check.bus(request.bus);
      const outcomes: AppendOutcome[] = [];
      let events = 0;
      let bytes = 0;
      const cutoff = now - request.dedupeWindowMs;
      for (const event of request.events) {
        const targets = event.subscriptions.map((name) => check.subscription(name, request.bus));
        const key = event.idAssigned === true ? null : keyOf(request.bus, event.source, event.id);
        const duplicate =
          key === null
            ? null
            : duplicateOf(
                request.bus,
                event.source,
                event.id,
                cutoff,
                counters.dedupe_floor,
                purged,
                accepted.get(key),
              );
        if (duplicate !== null) {
          outcomes.push(duplicate);
          continue;
        }
        // Cursor subscriptions take the first delivery ids, in `subs` order; the others get rows now.
        const sids: number[] = [];
        const direct: string[] = [];
        const seen = targets.length > 1 ? new Set<string>() : null;
        targets.forEach((target, i) => {
          const name = event.subscriptions[i]!;
          if (seen !== null) {
            if (seen.has(name)) return;
            seen.add(name);
          }
          if (target.by_cursor === 0) direct.push(name);
          else {
            sids.push(target.sid);
            const matched = unclaimed.get(name);
            if (matched === undefined) unclaimed.set(name, { first: seq, count: 1 });
            else matched.count++;
          }
        });
        const deliveryBase = deliveryId;
        deliveryId += sids.length;
        rows.push(
          seq,
          request.bus,
          event.id,
          event.source,
          event.type,
          event.time,
          now,
          hwm,
          event.partitionKey,
          event.size,
          event.body,
          subsText(sids),
          sids.length === 0 ? null : deliveryBase,
        );
        if (rows.length === EVENT_ROWS * EVENT_COLUMNS) {
          insertEvents(rows);
          rows.length = 0;
        }
        if (key !== null) accepted.set(key, { seq, published_at: now });
        for (const subscription of direct) {
          insertDelivery(shared, deliveryId++, subscription, seq, now, event.partitionKey, null, null);
        }
        outcomes.push({ status: 'accepted', seq });
        seq++;
        events++;
        bytes += event.size;
      }
      if (events > 0) addTotals.run(request.bus, events, bytes);
      results.push(outcomes);
    }

    if (rows.length > 0) insertEvents(rows);
    for (const [name, { first, count }] of unclaimed) addUnclaimed.run(first - 1, count, name);
    // Only stored events carry the high-water mark; an all-duplicate call changes nothing.
    if (seq !== counters.next_seq) {
      shared.setCounters.run(seq, deliveryId, hwm, Math.max(counters.max_backstep, counters.published_hwm - now));
    }
    return results;
  });

  // A delivery the engine already attempted (see `NewDelivery.attempted`) whose attempt did not deliver
  // it (delivered ones go to runs, see ./delivered-runs.ts). Only unordered subscriptions get one, so it
  // heads its partition (heads only matter once a subscription is ordered, and becoming ordered
  // recomputes them).
  const insertAttempted = db.prepare<
    [
      id: number,
      subscription: string,
      seq: number,
      state: string,
      availableAt: number,
      dueAt: number | null,
      enqueuedAt: number,
      replayId: string | null,
      key: string | null,
      deadReason: string | null,
      deadAt: number | null,
    ]
  >(
    `INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count, available_at, due_at,
       enqueued_at, replay_id, redrive_of, partition_key, dead_reason, dead_at)
     VALUES (?, ?, ?, ?, 1, 1, ?, ?, ?, ?, NULL, ?, ?, ?)`,
  );

  /** Archived event `seq` and the target of `subscription`, which must be on the event's bus. */
  function eventFor(check: CatalogCheck, subscription: string, seq: number) {
    const event = eventOf.get(seq);
    if (event === undefined) throw new Error(`Expected an archived event, got unknown seq ${seq}`);
    return { event, target: check.subscription(subscription, event.bus) };
  }

  /** An attempted delivery waiting in {@link storeSettled}: its place in the step, and its id. */
  interface Settled {
    readonly at: number;
    readonly item: NewDelivery;
    readonly attempted: NonNullable<NewDelivery['attempted']>;
    readonly id: number;
    readonly bus: string;
  }

  /** Stores attempted deliveries: the ones their attempt delivered as runs, the others as rows with their attempt. */
  function storeSettled(settled: readonly Settled[], now: number): void {
    const delivered: DeliveredEntry[] = [];
    const rest: Settled[] = [];
    const ids = new Set<number>();
    for (const s of settled) {
      if (ids.has(s.id)) throw takenIdError(s.at, s.id);
      ids.add(s.id);
      const { attempt, completion } = s.attempted;
      if (!isInlineAttempt(completion, attempt)) {
        rest.push(s);
        continue;
      }
      delivered.push({
        at: s.at,
        id: s.id,
        subscription: s.item.subscription,
        bus: s.bus,
        seq: s.item.eventSeq,
        replayId: s.item.replayId,
        startedAt: attempt.startedAt,
        durationMs: attempt.durationMs,
        httpStatus: attempt.httpStatus,
      });
    }
    // Checked against what was stored before this step's rows.
    runs.store(delivered, now, (entries) => {
      // Names the entry whose event is missing or on another bus.
      const check = catalogCheck();
      for (const { subscription, seq } of entries) eventFor(check, subscription, seq);
      throw new Error('Expected every delivered attempt to be stored');
    });
    const check = catalogCheck();
    for (const { at, item, attempted, id } of rest) {
      const { event } = eventFor(check, item.subscription, item.eventSeq);
      const { completion } = attempted;
      const retryAt = completion.kind === 'retry' ? completion.availableAt : null;
      const dead = completion.kind === 'dead';
      try {
        insertAttempted.run(
          id,
          item.subscription,
          item.eventSeq,
          stateAfter(completion),
          retryAt ?? now,
          retryAt,
          now,
          item.replayId,
          event.partition_key,
          dead ? completion.reason : null,
          dead ? now : null,
        );
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw error;
        throw takenIdError(at, id);
      }
      insertAttempt(shared, id, attempted.attempt);
    }
  }

  const enqueue = db.transaction((deliveries: readonly NewDelivery[], now: number): number => {
    let deliveryId = shared.counters.get()!.next_delivery_id;
    const reservedBelow = deliveryId;
    const check = catalogCheck();
    // Attempted deliveries wait here to be stored together; stored before any other delivery, so that
    // errors still come in the order of the step.
    let settled: Settled[] = [];
    const flush = (): void => {
      storeSettled(settled, now);
      settled = [];
    };
    deliveries.forEach((item, i) => {
      if (item.id !== undefined && (!Number.isSafeInteger(item.id) || item.id < 1 || item.id >= reservedBelow)) {
        throw new Error(
          `Expected deliveries[${i}].id to be a reserved delivery id, got ${item.id}: it was not reserved`,
        );
      }
      const { attempted } = item;
      if (attempted !== undefined) {
        const target = check.known(item.subscription);
        if (target.by_cursor === 0) throw orderedError(i, item.subscription);
        settled.push({ at: i, item, attempted, id: item.id ?? deliveryId++, bus: target.bus });
        return;
      }
      flush();
      const { event, target } = eventFor(check, item.subscription, item.eventSeq);
      if (item.id !== undefined && target.by_cursor === 0) throw orderedError(i, item.subscription);
      const id = item.id ?? deliveryId++;
      try {
        insertDelivery(shared, id, item.subscription, item.eventSeq, now, event.partition_key, item.replayId, null);
      } catch (error) {
        // Only a reserved id can be taken: the others are past every id handed out.
        if (item.id === undefined || (error as { code?: unknown }).code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw error;
        throw takenIdError(i, item.id);
      }
    });
    flush();
    shared.setNextDeliveryId.run(deliveryId);
    return deliveries.length;
  });

  const reserve = db.transaction((count: number): number => {
    const first = shared.counters.get()!.next_delivery_id;
    shared.setNextDeliveryId.run(first + count);
    return first;
  });

  return {
    append: (requests: readonly AppendRequest[], now: number) =>
      requests.length === 0 ? [] : append.immediate(requests, now),
    enqueue: (deliveries: readonly NewDelivery[], now: number) =>
      deliveries.length === 0 ? 0 : enqueue.immediate(deliveries, now),
    /** See `StorageDriver.reserveDeliveryIds`. */
    reserve: (count: number) => reserve.immediate(count),
  };
}
