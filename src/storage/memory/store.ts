/**
 * The in-memory driver's tables and indexes.
 *
 * Every record handed out is frozen (and every record taken in is copied first), so callers can
 * neither change stored state through a returned object nor through the object they passed in.
 * Delivery rows are the one mutable structure, and they never leave this directory.
 */
import type {
  AttemptRecord,
  BusRecord,
  DeadReason,
  DeliveryState,
  DeliveryTrace,
  ReplayRecord,
  StoredEvent,
  SubscriptionRecord,
} from '../driver.js';

/** A lease held on a delivery. */
export interface Lease {
  readonly token: string;
  readonly leasedAt: number;
  readonly until: number;
}

/** One delivery as stored; mutable, internal to the memory driver. */
export interface DeliveryRow {
  readonly id: number;
  readonly subscription: string;
  readonly eventSeq: number;
  readonly enqueuedAt: number;
  readonly replayId: string | null;
  readonly redriveOf: number | null;
  state: DeliveryState;
  availableAt: number;
  lease: Lease | null;
  /** How many times the delivery was claimed: the number of the current (or last) attempt. */
  claims: number;
  /** Frozen attempt records, oldest first. */
  attempts: AttemptRecord[];
  dead: { readonly reason: DeadReason; readonly at: number } | null;
}

/** The fields a new delivery is created with; it starts pending with no attempts. */
export interface NewDeliveryRow {
  readonly subscription: string;
  readonly eventSeq: number;
  readonly enqueuedAt: number;
  readonly availableAt: number;
  readonly replayId: string | null;
  readonly redriveOf: number | null;
}

/** A dedupe entry: when `source`+`id` was last accepted on a bus, and as which event. */
export interface DedupeEntry {
  readonly seq: number;
  readonly acceptedAt: number;
}

/** Recursively freezes a plain value (objects and arrays) and returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** A frozen deep copy: what the driver stores of a caller's object. */
export function frozenCopy<T>(value: T): T {
  return deepFreeze(structuredClone(value));
}

/** The key of a dedupe entry; JSON keeps `source` and `id` apart whatever characters they hold. */
export function dedupeKey(source: string, id: string): string {
  return JSON.stringify([source, id]);
}

/** Orders strings by UTF-16 code units (not locale), the same on every machine. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether a delivery still owes its subscription something (and blocks purging its event). */
export function isOpen(state: DeliveryState): boolean {
  return state === 'pending' || state === 'leased';
}

function bucket<K, V>(map: Map<K, Map<number, V>>, key: K): Map<number, V> {
  let inner = map.get(key);
  if (inner === undefined) {
    inner = new Map();
    map.set(key, inner);
  }
  return inner;
}

function unbucket<K, V>(map: Map<K, Map<number, V>>, key: K, id: number): void {
  const inner = map.get(key);
  if (inner === undefined) return;
  inner.delete(id);
  if (inner.size === 0) map.delete(key);
}

const EMPTY: ReadonlyMap<number, never> = new Map<number, never>();

/**
 * Tables and their indexes. The index maps are keyed by id and filled in creation order, so
 * iterating one visits ascending ids (rows enter `open` only when created: a retried delivery stays
 * in it, a redriven one is a new row).
 */
export class MemoryStore {
  readonly buses = new Map<string, BusRecord>();
  readonly subscriptions = new Map<string, SubscriptionRecord>();
  readonly replays = new Map<string, ReplayRecord>();
  /** Every event by seq. */
  readonly events = new Map<number, StoredEvent>();
  /** Events per bus, by seq. */
  readonly eventsByBus = new Map<string, Map<number, StoredEvent>>();
  /** Per bus: dedupe key → entry. */
  readonly dedupe = new Map<string, Map<string, DedupeEntry>>();
  readonly deliveries = new Map<number, DeliveryRow>();
  private readonly bySubscription = new Map<string, Map<number, DeliveryRow>>();
  private readonly openBySubscription = new Map<string, Map<number, DeliveryRow>>();
  private readonly deadBySubscription = new Map<string, Map<number, DeliveryRow>>();
  private readonly byEvent = new Map<number, Map<number, DeliveryRow>>();
  private lastSeq = 0;
  private lastDeliveryId = 0;

  /** Stores an event under the next seq and returns it. */
  insertEvent(fields: Omit<StoredEvent, 'seq'>): StoredEvent {
    const event = deepFreeze({ seq: ++this.lastSeq, ...fields });
    this.events.set(event.seq, event);
    bucket(this.eventsByBus, event.bus).set(event.seq, event);
    return event;
  }

  /** Removes an event with every delivery it still has. */
  removeEvent(seq: number): void {
    const event = this.events.get(seq);
    if (event === undefined) return;
    for (const row of [...this.deliveriesOfEvent(seq).values()]) this.removeDelivery(row);
    this.events.delete(seq);
    unbucket(this.eventsByBus, event.bus, seq);
  }

  /** Reserves `count` delivery ids (see `StorageDriver.reserveDeliveryIds`); returns the first. */
  reserveDeliveryIds(count: number): number {
    const first = this.lastDeliveryId + 1;
    this.lastDeliveryId += count;
    return first;
  }

  /** Why `id` cannot be given to a new delivery (not reserved yet, or taken), or null when it can. */
  unusableId(id: number): string | null {
    if (!Number.isSafeInteger(id) || id < 1 || id > this.lastDeliveryId) return 'it was not reserved';
    return this.deliveries.has(id) ? 'another delivery has it' : null;
  }

  /** Creates a pending delivery under the next id, or under `id` (reserved, checked with {@link unusableId}). */
  insertDelivery(fields: NewDeliveryRow, id?: number): DeliveryRow {
    const row: DeliveryRow = {
      id: id ?? ++this.lastDeliveryId,
      ...fields,
      state: 'pending',
      lease: null,
      claims: 0,
      attempts: [],
      dead: null,
    };
    this.deliveries.set(row.id, row);
    bucket(this.bySubscription, row.subscription).set(row.id, row);
    bucket(this.openBySubscription, row.subscription).set(row.id, row);
    bucket(this.byEvent, row.eventSeq).set(row.id, row);
    return row;
  }

  /** Moves a delivery to another state, keeping the open and dead indexes in step. */
  setState(row: DeliveryRow, state: DeliveryState): void {
    // A closed delivery never reopens (redrive makes a new row), so `open` stays in id order.
    if (!isOpen(row.state) && isOpen(state))
      throw new Error(`delivery ${row.id} cannot go from ${row.state} to ${state}`);
    if (isOpen(row.state) && !isOpen(state)) unbucket(this.openBySubscription, row.subscription, row.id);
    if (row.state === 'dead' && state !== 'dead') unbucket(this.deadBySubscription, row.subscription, row.id);
    if (state === 'dead' && row.state !== 'dead') bucket(this.deadBySubscription, row.subscription).set(row.id, row);
    row.state = state;
  }

  removeDelivery(row: DeliveryRow): void {
    this.deliveries.delete(row.id);
    unbucket(this.bySubscription, row.subscription, row.id);
    unbucket(this.openBySubscription, row.subscription, row.id);
    unbucket(this.deadBySubscription, row.subscription, row.id);
    unbucket(this.byEvent, row.eventSeq, row.id);
  }

  /** Every delivery of a subscription, by id. */
  deliveriesOfSubscription(subscription: string): ReadonlyMap<number, DeliveryRow> {
    return this.bySubscription.get(subscription) ?? EMPTY;
  }

  /** Pending and leased deliveries of a subscription, by id. */
  openDeliveries(subscription: string): ReadonlyMap<number, DeliveryRow> {
    return this.openBySubscription.get(subscription) ?? EMPTY;
  }

  /** Dead deliveries of a subscription (in the order they died; sort by id to list). */
  deadDeliveries(subscription: string): ReadonlyMap<number, DeliveryRow> {
    return this.deadBySubscription.get(subscription) ?? EMPTY;
  }

  /** Every delivery of an event, by id. */
  deliveriesOfEvent(seq: number): ReadonlyMap<number, DeliveryRow> {
    return this.byEvent.get(seq) ?? EMPTY;
  }

  /** The event a delivery is for; purging never removes an event with a live delivery. */
  eventOf(row: DeliveryRow): StoredEvent {
    const event = this.events.get(row.eventSeq);
    if (event === undefined) throw new Error(`delivery ${row.id} refers to missing event ${row.eventSeq}`);
    return event;
  }

  /** A delivery as the engine sees it in an event's lineage. */
  trace(row: DeliveryRow): DeliveryTrace {
    return deepFreeze({
      deliveryId: row.id,
      subscription: row.subscription,
      state: row.state,
      enqueuedAt: row.enqueuedAt,
      availableAt: row.availableAt,
      replayId: row.replayId,
      redriveOf: row.redriveOf,
      deadReason: row.dead?.reason ?? null,
      attempts: [...row.attempts],
    });
  }
}
