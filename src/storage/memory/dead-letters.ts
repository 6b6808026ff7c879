/**
 * Dead letters of the in-memory driver: list, get, count, delete and redrive.
 */
import type { DeadLetter, DeadLetterFilter } from '../driver.js';
import { deepFreeze, type DeliveryRow, type MemoryStore } from './store.js';

/** Options of `StorageDriver.listDeadLetters`. */
export type ListDeadLettersOptions = DeadLetterFilter & { readonly limit: number; readonly afterId?: number };

function inRange(row: DeliveryRow, filter: DeadLetterFilter): boolean {
  const at = row.dead?.at;
  if (at === undefined) return false;
  return (filter.from === undefined || at >= filter.from) && (filter.to === undefined || at <= filter.to);
}

function toDeadLetter(store: MemoryStore, row: DeliveryRow): DeadLetter {
  if (row.dead === null) throw new Error(`delivery ${row.id} is not a dead letter`);
  return deepFreeze({
    deliveryId: row.id,
    subscription: row.subscription,
    event: store.eventOf(row),
    attempts: [...row.attempts],
    reason: row.dead.reason,
    deadAt: row.dead.at,
    enqueuedAt: row.enqueuedAt,
    replayId: row.replayId,
  });
}

/** A subscription's dead letters by ascending id; see `StorageDriver.listDeadLetters`. */
export function listDeadLetters(store: MemoryStore, subscription: string, opts: ListDeadLettersOptions): DeadLetter[] {
  const afterId = opts.afterId ?? Number.NEGATIVE_INFINITY;
  return [...store.deadDeliveries(subscription).values()]
    .filter((row) => row.id > afterId && inRange(row, opts))
    .sort((a, b) => a.id - b.id)
    .slice(0, Math.max(0, opts.limit))
    .map((row) => toDeadLetter(store, row));
}

/** One dead letter of a subscription, or null; see `StorageDriver.getDeadLetter`. */
export function getDeadLetter(store: MemoryStore, subscription: string, deliveryId: number): DeadLetter | null {
  const row = store.deadDeliveries(subscription).get(deliveryId);
  return row === undefined ? null : toDeadLetter(store, row);
}

/** How many dead letters a subscription has in the filter's range; see `StorageDriver.countDeadLetters`. */
export function countDeadLetters(store: MemoryStore, subscription: string, filter: DeadLetterFilter): number {
  let count = 0;
  for (const row of store.deadDeliveries(subscription).values()) if (inRange(row, filter)) count += 1;
  return count;
}

/** Deletes dead letters (their attempts go with them); see `StorageDriver.deleteDeadLetters`. */
export function deleteDeadLetters(store: MemoryStore, subscription: string, ids: readonly number[] | 'all'): number {
  const dead = store.deadDeliveries(subscription);
  const rows =
    ids === 'all'
      ? [...dead.values()]
      : [...new Set(ids)].flatMap((id) => {
          const row = dead.get(id);
          return row === undefined ? [] : [row];
        });
  for (const row of rows) store.removeDelivery(row);
  return rows.length;
}

/** Puts dead letters back as new pending deliveries; see `StorageDriver.redrive`. */
export function redrive(store: MemoryStore, subscription: string, ids: readonly number[], now: number): number {
  let created = 0;
  for (const id of ids) {
    // Looked up one by one: an id listed twice is already `redriven` the second time, and skipped.
    const row = store.deadDeliveries(subscription).get(id);
    if (row === undefined) continue;
    store.setState(row, 'redriven');
    store.insertDelivery({
      subscription,
      eventSeq: row.eventSeq,
      // A fresh start: the policy's maximum age counts from the redrive, not from the first enqueue.
      enqueuedAt: now,
      availableAt: now,
      replayId: row.replayId,
      redriveOf: row.id,
    });
    created += 1;
  }
  return created;
}
