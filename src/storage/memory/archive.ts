/**
 * The archive of the in-memory driver: queries, lineage, and retention (purge, dedupe pruning).
 */
import type { ArchiveQuery, DeliveryTrace, StoredEvent } from '../driver.js';
import { isOpen, type MemoryStore } from './store.js';

/** Options of `StorageDriver.purgeArchive`. */
export interface PurgeOptions {
  readonly olderThan: number | null;
  readonly maxBytes: number | null;
}

function matches(event: StoredEvent, query: ArchiveQuery): boolean {
  return (
    (query.from === undefined || event.publishedAt >= query.from) &&
    (query.to === undefined || event.publishedAt <= query.to) &&
    (query.type === undefined || event.type === query.type) &&
    (query.source === undefined || event.source === query.source) &&
    (query.afterSeq === undefined || event.seq > query.afterSeq)
  );
}

/** Archived events of a bus by ascending seq; see `StorageDriver.queryArchive`. */
export function queryArchive(store: MemoryStore, bus: string, query: ArchiveQuery): StoredEvent[] {
  const found: StoredEvent[] = [];
  if (query.limit <= 0) return found;
  for (const event of store.eventsByBus.get(bus)?.values() ?? []) {
    if (!matches(event, query)) continue;
    found.push(event);
    if (found.length >= query.limit) break;
  }
  return found;
}

/** Events of a bus with this id, by seq; see `StorageDriver.eventsById`. */
export function eventsById(store: MemoryStore, bus: string, id: string): StoredEvent[] {
  return [...(store.eventsByBus.get(bus)?.values() ?? [])].filter((event) => event.id === id);
}

/** An event's deliveries with their attempts, by id; see `StorageDriver.deliveriesOf`. */
export function deliveriesOf(store: MemoryStore, eventSeq: number): DeliveryTrace[] {
  return [...store.deliveriesOfEvent(eventSeq).values()].sort((a, b) => a.id - b.id).map((row) => store.trace(row));
}

/** Of `seqs`, those with a `delivered` delivery to `subscription`; see `StorageDriver.deliveredSeqs`. */
export function deliveredSeqs(store: MemoryStore, subscription: string, seqs: readonly number[]): Set<number> {
  const delivered = new Set<number>();
  for (const seq of seqs) {
    for (const row of store.deliveriesOfEvent(seq).values()) {
      if (row.subscription === subscription && row.state === 'delivered') delivered.add(seq);
    }
  }
  return delivered;
}

/** An event is kept while a delivery still owes it (pending, leased) or holds it as a dead letter. */
function isRetained(store: MemoryStore, seq: number): boolean {
  for (const row of store.deliveriesOfEvent(seq).values()) if (isOpen(row.state) || row.state === 'dead') return true;
  return false;
}

/** Removes old events of a bus, then the oldest beyond the byte budget; see `StorageDriver.purgeArchive`. */
export function purgeArchive(store: MemoryStore, bus: string, opts: PurgeOptions): number {
  let removed = 0;
  // Snapshots, since removing an event changes the map being walked.
  const events = (): StoredEvent[] => [...(store.eventsByBus.get(bus)?.values() ?? [])];
  if (opts.olderThan !== null) {
    for (const event of events()) {
      if (event.publishedAt < opts.olderThan && !isRetained(store, event.seq)) {
        store.removeEvent(event.seq);
        removed += 1;
      }
    }
  }
  if (opts.maxBytes !== null) {
    const remaining = events();
    // Retained events count towards the total even though they cannot be removed.
    let total = remaining.reduce((sum, event) => sum + event.size, 0);
    for (const event of remaining) {
      if (total <= opts.maxBytes) break;
      if (isRetained(store, event.seq)) continue;
      store.removeEvent(event.seq);
      total -= event.size;
      removed += 1;
    }
  }
  return removed;
}

/** Forgets dedupe entries accepted before `olderThan`; see `StorageDriver.pruneDedupe`. */
export function pruneDedupe(store: MemoryStore, olderThan: number): number {
  let pruned = 0;
  for (const [bus, table] of store.dedupe) {
    for (const [key, entry] of table) {
      if (entry.acceptedAt < olderThan) {
        table.delete(key);
        pruned += 1;
      }
    }
    if (table.size === 0) store.dedupe.delete(bus);
  }
  return pruned;
}
