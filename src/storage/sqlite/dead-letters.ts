/**
 * Dead letters (browse, count, delete, redrive) and an event's lineage: both read deliveries together
 * with their attempts.
 */
import type Database from 'better-sqlite3';
import type { DeadLetter, DeadLetterFilter, DeliveryTrace } from '../driver.js';
import {
  DELIVERY_COLUMNS,
  EVENT_COLUMNS,
  groupAttempts,
  toDeadLetter,
  toDeliveryTrace,
  type DeadLetterRow,
  type DeliveryRow,
} from '../rows.js';
import type { Cursors } from './cursors.js';
import type { DeliveredRuns } from './delivered-runs.js';
import { insertDelivery, type SharedStatements } from './statements.js';

interface DeadQuery {
  subscription: string;
  from: number | null;
  to: number | null;
  afterId: number;
  limit: number;
}

const DEAD_FILTER = `d.subscription = @subscription AND d.state = 'dead'
  AND (@from IS NULL OR d.dead_at >= @from) AND (@to IS NULL OR d.dead_at <= @to)`;

/** Prepares the dead-letter and lineage operations. */
export function prepareDeadLetters(
  db: Database.Database,
  shared: SharedStatements,
  cursors: Cursors,
  runs: DeliveredRuns,
) {
  const list = db.prepare<[DeadQuery], DeadLetterRow>(
    `SELECT ${DELIVERY_COLUMNS}, ${EVENT_COLUMNS}
     FROM deliveries d JOIN events e ON e.seq = d.event_seq
     WHERE ${DEAD_FILTER} AND d.id > @afterId ORDER BY d.id LIMIT @limit`,
  );
  const getOne = db.prepare<[string, number], DeadLetterRow>(
    `SELECT ${DELIVERY_COLUMNS}, ${EVENT_COLUMNS}
     FROM deliveries d JOIN events e ON e.seq = d.event_seq
     WHERE d.subscription = ? AND d.state = 'dead' AND d.id = ?`,
  );
  const count = db
    .prepare<[Omit<DeadQuery, 'afterId' | 'limit'>], number>(`SELECT count(*) FROM deliveries d WHERE ${DEAD_FILTER}`)
    .pluck();
  const deleteAttemptsOfIds = db.prepare<[string, string]>(
    `DELETE FROM attempts WHERE delivery_id IN (
       SELECT id FROM deliveries WHERE subscription = ? AND state = 'dead' AND id IN (SELECT value FROM json_each(?)))`,
  );
  const deleteIds = db.prepare<[string, string]>(
    `DELETE FROM deliveries WHERE subscription = ? AND state = 'dead' AND id IN (SELECT value FROM json_each(?))`,
  );
  const deleteAttemptsOfAll = db.prepare<[string]>(
    `DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE subscription = ? AND state = 'dead')`,
  );
  const deleteAll = db.prepare<[string]>(`DELETE FROM deliveries WHERE subscription = ? AND state = 'dead'`);
  const markRedriven = db.prepare<
    [number, string],
    { event_seq: number; replay_id: string | null; partition_key: string | null }
  >(
    `UPDATE deliveries SET state = 'redriven' WHERE id = ? AND subscription = ? AND state = 'dead'
     RETURNING event_seq, replay_id, partition_key`,
  );
  const ofEvent = db.prepare<[number], DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.event_seq = ? ORDER BY d.id`,
  );

  function withAttempts(rows: readonly DeadLetterRow[]): DeadLetter[] {
    if (rows.length === 0) return [];
    const attempts = groupAttempts(shared.attemptsOf.all(JSON.stringify(rows.map((row) => row.delivery_id))));
    return rows.map((row) => toDeadLetter(row, attempts));
  }

  // Reads of rows plus their attempts run in one (deferred) transaction: one consistent snapshot.
  const listTx = db.transaction((query: DeadQuery) => withAttempts(list.all(query)));
  const getTx = db.transaction((subscription: string, id: number): DeadLetter | null => {
    const row = getOne.get(subscription, id);
    return row === undefined ? null : withAttempts([row])[0]!;
  });
  const lineageTx = db.transaction((eventSeq: number): DeliveryTrace[] => {
    const rows = ofEvent.all(eventSeq);
    const delivered = runs.rowsOf(eventSeq);
    const unclaimed = cursors.unclaimedOf(eventSeq);
    if (rows.length === 0 && delivered.length === 0) return unclaimed;
    const attempts = groupAttempts(shared.attemptsOf.all(JSON.stringify(rows.map((row) => row.delivery_id))));
    const traces = rows.concat(delivered).map((row) => toDeliveryTrace(row, attempts));
    if (unclaimed.length === 0 && delivered.length === 0) return traces;
    return traces.concat(unclaimed).sort((a, b) => a.deliveryId - b.deliveryId);
  });

  const remove = db.transaction((subscription: string, ids: readonly number[] | 'all'): number => {
    if (ids === 'all') {
      deleteAttemptsOfAll.run(subscription);
      return deleteAll.run(subscription).changes;
    }
    if (ids.length === 0) return 0;
    const json = JSON.stringify(ids);
    deleteAttemptsOfIds.run(subscription, json);
    return deleteIds.run(subscription, json).changes;
  });

  const redrive = db.transaction((subscription: string, ids: readonly number[], now: number): number => {
    let deliveryId = shared.counters.get()!.next_delivery_id;
    let created = 0;
    for (const id of ids) {
      // A second mention of an id finds it `redriven` already, so it yields one delivery.
      const dead = markRedriven.get(id, subscription);
      if (dead === undefined) continue;
      insertDelivery(shared, deliveryId++, subscription, dead.event_seq, now, dead.partition_key, dead.replay_id, id);
      created++;
    }
    if (created > 0) shared.setNextDeliveryId.run(deliveryId);
    return created;
  });

  return {
    list: (subscription: string, opts: DeadLetterFilter & { limit: number; afterId?: number }) =>
      listTx({
        subscription,
        from: opts.from ?? null,
        to: opts.to ?? null,
        afterId: opts.afterId ?? -1,
        limit: opts.limit,
      }),
    get: (subscription: string, deliveryId: number) => getTx(subscription, deliveryId),
    count: (subscription: string, filter: DeadLetterFilter) =>
      count.get({ subscription, from: filter.from ?? null, to: filter.to ?? null }) ?? 0,
    remove: (subscription: string, ids: readonly number[] | 'all') => remove.immediate(subscription, ids),
    redrive: (subscription: string, ids: readonly number[], now: number) =>
      ids.length === 0 ? 0 : redrive.immediate(subscription, ids, now),
    lineage: (eventSeq: number) => lineageTx(eventSeq),
  };
}
