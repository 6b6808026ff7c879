/**
 * The delivery queue of the in-memory driver: claim under a lease, complete, extend, and what the
 * dispatcher and dashboards read (next due time, stats).
 *
 * Claims scan the subscription's open (pending or leased) deliveries, which the store keeps in id
 * order: linear in that subscription's backlog, never in the whole history.
 */
import { randomUUID } from 'node:crypto';
import type { ClaimedDelivery, CompletionItem, SubscriptionStats } from '../driver.js';
import { leaseExpiredAttempt } from '../lease-expired.js';
import { deepFreeze, frozenCopy, type DeliveryRow, type MemoryStore } from './store.js';

/** The error recorded for an attempt whose lease ran out before it was completed. */

/** Options of `StorageDriver.claim`. */
export interface ClaimOptions {
  readonly max: number;
  readonly leaseMs: number;
  readonly ordered: boolean;
}

/** When an open delivery becomes claimable: its `availableAt`, or the end of its lease. */
function dueAt(row: DeliveryRow): number {
  return row.state === 'leased' && row.lease !== null ? row.lease.until : row.availableAt;
}

/** The open deliveries that may be claimed at `now`, oldest due first (ties by id). */
function candidates(store: MemoryStore, subscription: string, ordered: boolean, now: number): DeliveryRow[] {
  const blockedKeys = new Set<string>();
  const due: DeliveryRow[] = [];
  for (const row of store.openDeliveries(subscription).values()) {
    if (ordered) {
      // Rows come by ascending id: the first open row of a key is its head; later ones wait for it.
      const key = store.eventOf(row).partitionKey;
      if (key !== null) {
        if (blockedKeys.has(key)) continue;
        blockedKeys.add(key);
      }
    }
    if (dueAt(row) <= now) due.push(row);
  }
  return due.sort((a, b) => dueAt(a) - dueAt(b) || a.id - b.id);
}

/** Leases due deliveries; see `StorageDriver.claim`. */
export function claim(store: MemoryStore, subscription: string, opts: ClaimOptions, now: number): ClaimedDelivery[] {
  const chosen = candidates(store, subscription, opts.ordered, now).slice(0, Math.max(0, opts.max));
  return chosen.map((row) => {
    if (row.state === 'leased' && row.lease !== null) {
      row.attempts.push(deepFreeze(leaseExpiredAttempt(row.claims, row.lease.leasedAt, now)));
    }
    store.setState(row, 'leased');
    row.claims += 1;
    row.lease = { token: randomUUID(), leasedAt: now, until: now + opts.leaseMs };
    return deepFreeze({
      deliveryId: row.id,
      subscription: row.subscription,
      leaseToken: row.lease.token,
      attempt: row.claims,
      enqueuedAt: row.enqueuedAt,
      replayId: row.replayId,
      redriveOf: row.redriveOf,
      event: store.eventOf(row),
    });
  });
}

/** The delivery when it is leased under `token`; undefined when that lease is stale. */
function held(store: MemoryStore, subscription: string, deliveryId: number, token: string): DeliveryRow | undefined {
  const row = store.deliveries.get(deliveryId);
  return row?.subscription === subscription && row.state === 'leased' && row.lease?.token === token ? row : undefined;
}

/** Applies one completion, or returns false (changing nothing) when its lease is stale. */
function completeOne(store: MemoryStore, item: CompletionItem, now: number): boolean {
  const row = held(store, item.subscription, item.deliveryId, item.leaseToken);
  if (row === undefined) return false;
  if (item.attempt !== null) row.attempts.push(frozenCopy(item.attempt));
  row.lease = null;
  const { completion } = item;
  switch (completion.kind) {
    case 'ack':
      store.setState(row, 'delivered');
      break;
    case 'retry':
      store.setState(row, 'pending');
      row.availableAt = completion.availableAt;
      break;
    case 'dead':
      store.setState(row, 'dead');
      row.dead = { reason: completion.reason, at: now };
      break;
  }
  return true;
}

/**
 * Applies completions in order; see `StorageDriver.complete`. Nothing here can throw, so the batch
 * is all-or-nothing; an item whose delivery an earlier item of the batch completed is stale.
 */
export function complete(store: MemoryStore, items: readonly CompletionItem[], now: number): boolean[] {
  return items.map((item) => completeOne(store, item, now));
}

/** Moves a held lease's end; see `StorageDriver.extend`. */
export function extend(
  store: MemoryStore,
  subscription: string,
  deliveryId: number,
  leaseToken: string,
  leaseUntil: number,
): boolean {
  const row = held(store, subscription, deliveryId, leaseToken);
  if (row === undefined || row.lease === null) return false;
  row.lease = { ...row.lease, until: leaseUntil };
  return true;
}

/**
 * The earliest pending `availableAt` or lease end of a subscription later than `after`; see
 * `StorageDriver.nextDueAt`.
 */
export function nextDueAt(store: MemoryStore, subscription: string, after: number): number | null {
  let next: number | null = null;
  for (const row of store.openDeliveries(subscription).values()) {
    const at = dueAt(row);
    if (at > after && (next === null || at < next)) next = at;
  }
  return next;
}

/** Backlog, in-flight and dead counts of a subscription; see `StorageDriver.subscriptionStats`. */
export function subscriptionStats(store: MemoryStore, subscription: string): SubscriptionStats {
  let backlog = 0;
  let inFlight = 0;
  let oldestPendingAt: number | null = null;
  for (const row of store.openDeliveries(subscription).values()) {
    if (row.state === 'leased') {
      inFlight += 1;
    } else {
      backlog += 1;
      if (oldestPendingAt === null || row.enqueuedAt < oldestPendingAt) oldestPendingAt = row.enqueuedAt;
    }
  }
  return { backlog, inFlight, dead: store.deadDeliveries(subscription).size, oldestPendingAt };
}
