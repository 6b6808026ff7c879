/**
 * Cursor subscriptions (see "Cursor subscriptions" in schema.ts): an unordered subscription gets no
 * delivery row at publish. The event lists it by `sid` in `events.subs` and reserves its delivery id;
 * a claim turns the matched events after the subscription's cursor into rows, in `seq` order.
 */
import type Database from 'better-sqlite3';
import type { DeliveryTrace } from '../driver.js';
import { ACTIVE } from './statements.js';

/** Events looked at per step of a cursor scan: each step is one short range read of `events`. */
const SCAN_WINDOW = 4096;

const MIN = Number.MIN_SAFE_INTEGER;

/** A subscription's cursor state. */
export interface CursorState {
  readonly sid: number;
  readonly cursor: number;
  readonly unclaimed: number;
}

/** The tag of a subscription in `events.subs`. */
export const tagOf = (sid: number): string => `,${sid},`;

/** `events.subs` for the given sids (in delivery id order), or null for none. */
export const subsText = (sids: readonly number[]): string | null => (sids.length === 0 ? null : `,${sids.join(',')},`);

/** The position of `sid` in an `events.subs` text: its delivery id is `delivery_base` plus that. */
export function positionIn(subs: string, sid: number): number {
  const at = subs.indexOf(tagOf(sid));
  if (at < 0) throw new Error(`Expected subscription ${sid} in the event's matched subscriptions ${subs}`);
  // Each sid before it is preceded by one comma.
  let before = 0;
  for (let i = 0; i < at; i++) if (subs.charCodeAt(i) === 44) before++;
  return before;
}

interface MatchedRow {
  seq: number;
  published_at: number;
  partition_key: string | null;
  delivery_base: number;
  subs: string;
}

type RowInsert = [
  id: number,
  subscription: string,
  seq: number,
  head: 0 | 1,
  availableAt: number,
  dueAt: number,
  enqueuedAt: number,
  key: string | null,
];

/** Prepares the cursor operations. */
export function prepareCursors(db: Database.Database) {
  const state = db.prepare<[string], CursorState>(
    'SELECT sid, cursor, unclaimed FROM subscriptions WHERE name = ? AND by_cursor = 1',
  );
  const lastSeq = db.prepare<[], number>('SELECT next_seq - 1 FROM counters WHERE id = 1').pluck();
  const matched = db.prepare<[{ cursor: number; end: number; tag: string; limit: number }], MatchedRow>(
    `SELECT seq, published_at, partition_key, delivery_base, subs FROM events
     WHERE seq > @cursor AND seq <= @end AND subs IS NOT NULL AND instr(subs, @tag) > 0
     ORDER BY seq LIMIT @limit`,
  );
  const insertRow = db.prepare<RowInsert>(
    `INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count, available_at, due_at,
       enqueued_at, partition_key)
     VALUES (?, ?, ?, 'pending', ?, 0, ?, ?, ?, ?)`,
  );
  // A row made now may have a smaller id than active rows of its key made since its event was
  // published (replays, redrives): it heads the key unless an active row with a smaller id exists,
  // and a head it precedes steps back.
  const earlierOfKey = db
    .prepare<[string, string, number], number>(
      `SELECT 1 FROM deliveries WHERE subscription = ? AND partition_key = ? AND ${ACTIVE} AND id < ? LIMIT 1`,
    )
    .pluck();
  const demoteLater = db.prepare<[string, string, number]>(
    `UPDATE deliveries SET head = 0 WHERE subscription = ? AND partition_key = ? AND ${ACTIVE} AND id > ? AND head = 1`,
  );
  const advance = db.prepare<[number, number, string]>(
    'UPDATE subscriptions SET cursor = ?, unclaimed = ? WHERE name = ?',
  );
  const firstUnclaimed = db
    .prepare<[{ cursor: number; tag: string; after: number }], number>(
      `SELECT published_at FROM events
       WHERE seq > @cursor AND subs IS NOT NULL AND instr(subs, @tag) > 0 AND published_at > @after
       ORDER BY seq LIMIT 1`,
    )
    .pluck();
  const owedTo = db.prepare<[number], { name: string; sid: number; cursor: number }>(
    'SELECT name, sid, cursor FROM subscriptions WHERE by_cursor = 1 AND cursor < ?',
  );
  const eventOf = db.prepare<[number], { published_at: number; delivery_base: number; subs: string | null }>(
    'SELECT published_at, delivery_base, subs FROM events WHERE seq = ?',
  );

  /**
   * Turns up to `max` matched events after the cursor of `subscription` into pending rows (all of
   * them with `max` = Infinity). Runs inside the caller's write transaction; a no-op for a
   * subscription that is not read by cursor or has nothing unclaimed.
   */
  function materialise(subscription: string, max: number): void {
    const found = state.get(subscription);
    if (found === undefined || found.unclaimed === 0) return;
    const tag = tagOf(found.sid);
    const last = lastSeq.get()!;
    let { cursor, unclaimed } = found;
    let made = 0;
    while (made < max && unclaimed > 0 && cursor < last) {
      const end = Math.min(cursor + SCAN_WINDOW, last);
      const limit = Math.min(max - made, SCAN_WINDOW);
      const rows = matched.all({ cursor, end, tag, limit });
      for (const row of rows) {
        const id = row.delivery_base + positionIn(row.subs, found.sid);
        const key = row.partition_key;
        const head = key === null || earlierOfKey.get(subscription, key, id) === undefined ? 1 : 0;
        if (head === 1 && key !== null) demoteLater.run(subscription, key, id);
        // Due when it was published, as if the row had been made then.
        insertRow.run(id, subscription, row.seq, head, row.published_at, row.published_at, row.published_at, key);
      }
      made += rows.length;
      unclaimed -= rows.length;
      cursor = rows.length === limit ? rows[rows.length - 1]!.seq : end;
    }
    // Reaching the end settles the count whatever it said (it is exact unless a bug made it drift).
    advance.run(cursor, cursor >= last ? 0 : Math.max(unclaimed, 0), subscription);
  }

  return {
    materialise,
    /** The cursor state of a subscription read by cursor, else undefined. */
    state: (subscription: string): CursorState | undefined => state.get(subscription),
    /**
     * `publishedAt` of the first matched event without a row published after `after` (by default
     * the oldest), or null.
     */
    firstUnclaimed(found: CursorState, after = MIN): number | null {
      if (found.unclaimed === 0) return null;
      return firstUnclaimed.get({ cursor: found.cursor, tag: tagOf(found.sid), after }) ?? null;
    },
    /** The deliveries an event owes that have no row yet, as lineage entries. */
    unclaimedOf(eventSeq: number): DeliveryTrace[] {
      const event = eventOf.get(eventSeq);
      if (event === undefined || event.subs === null) return [];
      const traces: DeliveryTrace[] = [];
      for (const sub of owedTo.all(eventSeq)) {
        if (!event.subs.includes(tagOf(sub.sid))) continue;
        traces.push({
          deliveryId: event.delivery_base + positionIn(event.subs, sub.sid),
          subscription: sub.name,
          state: 'pending',
          enqueuedAt: event.published_at,
          availableAt: event.published_at,
          replayId: null,
          redriveOf: null,
          deadReason: null,
          attempts: [],
        });
      }
      return traces;
    },
  };
}

export type Cursors = ReturnType<typeof prepareCursors>;
