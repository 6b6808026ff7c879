/**
 * `append` and `enqueue` for the in-memory driver: validate the whole call, then apply it.
 *
 * Atomicity comes from ordering: every check that can fail runs before the first change, and the
 * changes themselves cannot fail, so a call is stored entirely or not at all.
 */
import type { AppendOutcome, AppendRequest, NewDelivery, NewEvent } from '../driver.js';
import { dedupeKey, frozenCopy, type DedupeEntry, type MemoryStore } from './store.js';

/** Throws unless every bus and listed subscription of the call exists (subscriptions on that bus). */
function validateAppend(store: MemoryStore, requests: readonly AppendRequest[]): void {
  requests.forEach((request, r) => {
    if (!store.buses.has(request.bus)) {
      throw new Error(`append: expected requests[${r}].bus to name an existing bus, got \`${request.bus}\``);
    }
    request.events.forEach((event, e) => {
      for (const name of event.subscriptions) {
        const sub = store.subscriptions.get(name);
        if (sub === undefined || sub.bus !== request.bus) {
          throw new Error(
            `append: expected requests[${r}].events[${e}].subscriptions to name subscriptions of bus ` +
              `\`${request.bus}\`, got \`${name}\` (${sub === undefined ? 'unknown' : `on bus \`${sub.bus}\``})`,
          );
        }
      }
    });
  });
}

function dedupeTable(store: MemoryStore, bus: string): Map<string, DedupeEntry> {
  let table = store.dedupe.get(bus);
  if (table === undefined) {
    table = new Map();
    store.dedupe.set(bus, table);
  }
  return table;
}

function appendOne(store: MemoryStore, request: AppendRequest, event: NewEvent, now: number): AppendOutcome {
  const table = dedupeTable(store, request.bus);
  const key = dedupeKey(event.source, event.id);
  const seen = event.idAssigned === true ? undefined : table.get(key);
  // "Accepted less than dedupeWindowMs ago": an entry exactly one window old no longer counts.
  if (seen !== undefined && now - seen.acceptedAt < request.dedupeWindowMs) {
    return { status: 'duplicate', seq: store.events.has(seen.seq) ? seen.seq : null };
  }
  const stored = store.insertEvent({
    bus: request.bus,
    id: event.id,
    source: event.source,
    type: event.type,
    time: event.time,
    publishedAt: now,
    partitionKey: event.partitionKey,
    body: event.body,
    size: event.size,
  });
  table.set(key, { seq: stored.seq, acceptedAt: now });
  // A name listed twice still owes the subscription one delivery.
  for (const subscription of new Set(event.subscriptions)) {
    store.insertDelivery({
      subscription,
      eventSeq: stored.seq,
      enqueuedAt: now,
      availableAt: now,
      replayId: null,
      redriveOf: null,
    });
  }
  return { status: 'accepted', seq: stored.seq };
}

/** Appends every request as one change; see `StorageDriver.append`. */
export function append(store: MemoryStore, requests: readonly AppendRequest[], now: number): AppendOutcome[][] {
  validateAppend(store, requests);
  return requests.map((request) => request.events.map((event) => appendOne(store, request, event, now)));
}

/**
 * Creates deliveries for archived events (a replay's step): pending, or settled by the attempt the
 * engine made; rejects, storing nothing, on a bad one.
 */
export function enqueue(store: MemoryStore, deliveries: readonly NewDelivery[], now: number): number {
  const ids = new Set<number>();
  deliveries.forEach((d, i) => {
    const sub = store.subscriptions.get(d.subscription);
    const event = store.events.get(d.eventSeq);
    if (sub === undefined) {
      throw new Error(`enqueue: expected deliveries[${i}].subscription to exist, got \`${d.subscription}\``);
    }
    if (event === undefined) {
      throw new Error(`enqueue: expected deliveries[${i}].eventSeq to name an archived event, got ${d.eventSeq}`);
    }
    if (event.bus !== sub.bus) {
      throw new Error(
        `enqueue: expected deliveries[${i}] to pair an event with a subscription of its bus, ` +
          `got event on \`${event.bus}\` and subscription on \`${sub.bus}\``,
      );
    }
    if (d.id !== undefined) {
      const why = ids.has(d.id) ? 'another delivery has it' : store.unusableId(d.id);
      if (why !== null)
        throw new Error(`enqueue: expected deliveries[${i}].id to be a reserved delivery id, got ${d.id}: ${why}`);
      ids.add(d.id);
    }
    if ((d.id !== undefined || d.attempted !== undefined) && sub.delivery.ordered) {
      throw new Error(
        `enqueue: expected deliveries[${i}] to have no id or attempt: subscription \`${sub.name}\` is ordered`,
      );
    }
  });
  for (const d of deliveries) {
    const row = store.insertDelivery(
      {
        subscription: d.subscription,
        eventSeq: d.eventSeq,
        enqueuedAt: now,
        availableAt: d.attempted?.completion.kind === 'retry' ? d.attempted.completion.availableAt : now,
        replayId: d.replayId,
        redriveOf: null,
      },
      d.id,
    );
    if (d.attempted === undefined) continue;
    const { attempt, completion } = d.attempted;
    row.claims = 1;
    row.attempts.push(frozenCopy(attempt));
    if (completion.kind === 'ack') store.setState(row, 'delivered');
    if (completion.kind === 'dead') {
      store.setState(row, 'dead');
      row.dead = { reason: completion.reason, at: now };
    }
  }
  return deliveries.length;
}
