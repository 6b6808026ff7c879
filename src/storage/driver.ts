/**
 * The storage seam: what the engine asks of a datastore, in the engine's words.
 *
 * Glossary (see docs/ARCHITECTURE.md):
 * - **event**: a stored CloudEvent, numbered by `seq` (increasing in commit order within a store). The
 *   events table is the bus's **archive**.
 * - **delivery**: one event owed to one subscription. States: `pending` (waiting, due at `availableAt`),
 *   `leased` (a worker holds it until `leaseUntil`), `delivered`, `dead` (a dead letter), `redriven`
 *   (a dead letter that was put back; its successor is a new delivery with `redriveOf` set).
 * - **attempt**: one try of a delivery, recorded with its outcome.
 *
 * Rules every driver follows (the conformance suite in ./conformance checks them):
 * - Drivers never read a clock: every method that needs the time takes `now` (ms since the epoch).
 * - Every method is atomic: it either happens entirely or not at all, and a resolved promise means the
 *   change is durable to the driver's durability mode.
 * - No SQL, connection or row type crosses this interface; failures of the datastore itself reject with
 *   any error, which the engine reports as `STORAGE_UNAVAILABLE`.
 * - Lease tokens make completions safe: a completion with a stale token (the lease expired and the
 *   delivery was claimed again, or it was completed already) changes nothing and returns `false`.
 */

/** How long a bus keeps its archive. `null` means no limit of that kind. */
export interface RetentionPolicy {
  readonly maxAgeMs: number | null;
  readonly maxBytes: number | null;
}

export interface BusRecord {
  readonly name: string;
  readonly retention: RetentionPolicy;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** How a subscription's deliveries are attempted. */
export interface DeliveryPolicy {
  /** Attempts before dead-lettering, counting the first. */
  readonly maxAttempts: number;
  /** Age (from first enqueue) after which a delivery is dead-lettered instead of retried; `null`: none. */
  readonly maxAgeMs: number | null;
  /** Exponential backoff with full jitter: the n-th retry waits random(0, min(maxMs, initialMs·multiplier^(n-1))). */
  readonly backoff: { readonly initialMs: number; readonly maxMs: number; readonly multiplier: number };
  /** An attempt running longer than this counts as failed (`timeout`). */
  readonly timeoutMs: number;
  /** Attempts of this subscription in flight at once, per consumer. */
  readonly concurrency: number;
  /** FIFO per `partitionkey`: one delivery per key at a time, in publish order. */
  readonly ordered: boolean;
}

export interface SubscriptionRecord {
  readonly name: string;
  readonly bus: string;
  /** The event pattern as JSON text (number spellings kept). */
  readonly pattern: string;
  /** Where deliveries go; opaque to drivers (the engine and server interpret it). */
  readonly target: Readonly<Record<string, unknown>>;
  readonly delivery: DeliveryPolicy;
  readonly paused: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** An archived event. */
export interface StoredEvent {
  readonly seq: number;
  readonly bus: string;
  readonly id: string;
  readonly source: string;
  readonly type: string;
  /** The event's `time` attribute (RFC 3339). */
  readonly time: string;
  /** When the bus accepted it (ms). Archive queries and replays select by this. */
  readonly publishedAt: number;
  readonly partitionKey: string | null;
  /** The CloudEvent as JSON text. */
  readonly body: string;
  /** Byte length of `body` in UTF-8. */
  readonly size: number;
}

/**
 * What a delivery carries of its event: its body to hand over, and what reports name it by. Archive
 * pages read only this for a replay ({@link StorageDriver.queryDeliverable}).
 */
export type DeliverableEvent = Pick<StoredEvent, 'seq' | 'id' | 'publishedAt' | 'size' | 'body'>;

/** An event to append, with the subscriptions it is owed to (matched by the engine). */
export interface NewEvent {
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time: string;
  readonly partitionKey: string | null;
  readonly body: string;
  readonly size: number;
  /** Names of the subscriptions that get a delivery. Empty: archived only. */
  readonly subscriptions: readonly string[];
  /**
   * True when Busbar gave the event its `id` (a new UUIDv7) at this publish: no earlier event can have
   * it, so the driver may skip the dedupe look-up. The event still counts for dedupe afterwards.
   * @default false
   */
  readonly idAssigned?: boolean;
}

/** One publish call: its events are stored together or not at all. */
export interface AppendRequest {
  readonly bus: string;
  readonly events: readonly NewEvent[];
  /**
   * An event whose `source` + `id` was accepted on this bus less than this long ago is a duplicate:
   * not stored again, no deliveries. Duplicates within the request count too (the first wins).
   */
  readonly dedupeWindowMs: number;
}

export type AppendOutcome =
  { readonly status: 'accepted'; readonly seq: number } | { readonly status: 'duplicate'; readonly seq: number | null };

export type AttemptOutcome = 'success' | 'error' | 'timeout' | 'non_retriable' | 'lease_expired';

/** One attempt of a delivery, as recorded. */
export interface AttemptRecord {
  /** 1-based attempt number within the delivery. */
  readonly attempt: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly outcome: AttemptOutcome;
  readonly error: { readonly message: string; readonly code: string | null; readonly name: string | null } | null;
  /** HTTP status for webhook attempts. */
  readonly httpStatus: number | null;
  /** The first KiB of the response body of a failed webhook attempt (as text), else null. */
  readonly responseBody: string | null;
}

export type DeadReason = 'max_attempts' | 'max_age' | 'non_retriable';

/** A delivery handed to a worker under a lease. */
export interface ClaimedDelivery {
  readonly deliveryId: number;
  readonly subscription: string;
  readonly leaseToken: string;
  /** The number of this attempt (1 for the first). */
  readonly attempt: number;
  /** When the delivery was first enqueued (for the policy's maximum age). */
  readonly enqueuedAt: number;
  readonly replayId: string | null;
  readonly redriveOf: number | null;
  readonly event: DeliverableEvent;
}

/** What became of an attempt. */
export type Completion =
  | { readonly kind: 'ack' }
  | { readonly kind: 'retry'; readonly availableAt: number }
  | { readonly kind: 'dead'; readonly reason: DeadReason };

/** One completion for {@link StorageDriver.complete}. */
export interface CompletionItem {
  /** The subscription the lease was taken for: a delivery of another subscription counts as stale. */
  readonly subscription: string;
  readonly deliveryId: number;
  readonly leaseToken: string;
  readonly completion: Completion;
  readonly attempt: AttemptRecord | null;
}

export type DeliveryState = 'pending' | 'leased' | 'delivered' | 'dead' | 'redriven';

/** A dead letter: the event, every attempt and why it died. */
export interface DeadLetter {
  readonly deliveryId: number;
  readonly subscription: string;
  readonly event: StoredEvent;
  readonly attempts: readonly AttemptRecord[];
  readonly reason: DeadReason;
  readonly deadAt: number;
  readonly enqueuedAt: number;
  readonly replayId: string | null;
}

/** Selects dead letters by when they died (inclusive bounds, ms). */
export interface DeadLetterFilter {
  readonly from?: number;
  readonly to?: number;
}

/** One delivery in an event's lineage. */
export interface DeliveryTrace {
  readonly deliveryId: number;
  readonly subscription: string;
  readonly state: DeliveryState;
  readonly enqueuedAt: number;
  readonly availableAt: number;
  readonly replayId: string | null;
  readonly redriveOf: number | null;
  readonly deadReason: DeadReason | null;
  readonly attempts: readonly AttemptRecord[];
}

export interface ArchiveQuery {
  /** `publishedAt` lower bound (inclusive, ms). */
  readonly from?: number;
  /** `publishedAt` upper bound (inclusive, ms). */
  readonly to?: number;
  readonly type?: string;
  readonly source?: string;
  /** Page cursor: only events with a greater `seq`. */
  readonly afterSeq?: number;
  readonly limit: number;
}

export interface SubscriptionStats {
  /** Pending deliveries (due or waiting for a retry). */
  readonly backlog: number;
  /** Leased deliveries. */
  readonly inFlight: number;
  /** Dead letters. */
  readonly dead: number;
  /** `enqueuedAt` of the oldest pending delivery. */
  readonly oldestPendingAt: number | null;
}

/** A replay's durable record; the engine drives it, the driver stores it. */
export interface ReplayRecord {
  readonly id: string;
  readonly bus: string;
  readonly from: number;
  readonly to: number;
  /** Pattern (JSON text) an archived event must also match, or `null`. */
  readonly pattern: string | null;
  /** Target subscriptions, or `null` for every subscription whose pattern matches now. */
  readonly subscriptions: readonly string[] | null;
  readonly skipDelivered: boolean;
  /** Events per second, or `null` for as fast as possible. */
  readonly ratePerSec: number | null;
  readonly state: 'running' | 'completed' | 'cancelled' | 'failed';
  /** Last archived `seq` processed. */
  readonly cursor: number;
  readonly scanned: number;
  readonly enqueued: number;
  readonly error: string | null;
  /**
   * The engine instance running it, which holds it until `leaseUntil` and renews that with every step:
   * with several processes on one store, a replay runs in one of them at a time, and another takes it
   * over when the lease lapses (its runner died).
   */
  readonly owner: string | null;
  readonly leaseUntil: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One step of a running replay, for {@link StorageDriver.advanceReplay}. */
export interface ReplayStep {
  /** Deliveries to create, due at `now`. */
  readonly deliveries: readonly NewDelivery[];
  /** Progress after this step: the last archived `seq` processed, and events scanned in total. */
  readonly cursor: number;
  readonly scanned: number;
  /** `running` to go on; `completed`, or `failed` with `error`, to end the replay. */
  readonly state: 'running' | 'completed' | 'failed';
  readonly error: string | null;
  /** The owner's lease after this step; `now` (or earlier) releases the replay to any instance. */
  readonly leaseUntil: number;
}

/** A delivery to create directly (replays). */
export interface NewDelivery {
  readonly subscription: string;
  readonly eventSeq: number;
  readonly replayId: string | null;
  /**
   * Its id, from a block {@link StorageDriver.reserveDeliveryIds} returned; the driver picks one when
   * this is absent.
   */
  readonly id?: number;
  /**
   * Set when the engine already made the first attempt (a replay to a consumer in the same process):
   * the delivery is stored with that attempt and settled as the completion says: `ack` delivered,
   * `retry` pending until `availableAt` (its next attempt is the second), `dead` a dead letter.
   * Absent: pending, due at `now`, not attempted yet.
   */
  readonly attempted?: { readonly attempt: AttemptRecord; readonly completion: Completion };
}

/** What a driver can do beyond the basics; the engine adapts, tests skip with the reason. */
export interface DriverCapabilities {
  /** Several processes may share the store (leases then guard against each other). */
  readonly multiProcess: boolean;
  /** Survives process exit. */
  readonly persistent: boolean;
}

/**
 * A change another process made to a shared store, as told by {@link StorageDriver.watch}:
 * - `due`: deliveries of these subscriptions (`null`: of any) may have become claimable;
 * - `published`: events of `bus` were stored, all with a `seq` from `fromSeq` to `toSeq` (the range
 *   may also hold other buses' events);
 * - `catalog`: buses or subscriptions were created, changed or deleted;
 * - `resync`: changes may have gone untold (the driver lost its connection for a while).
 */
export type StoreChange =
  | { readonly kind: 'due'; readonly subscriptions: readonly string[] | null }
  | { readonly kind: 'published'; readonly bus: string; readonly fromSeq: number; readonly toSeq: number }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'resync' };

/** The storage seam. See the module comment for the rules every driver follows. */
export interface StorageDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;

  /** Creates or upgrades the schema. Safe to call on every start. */
  migrate(): Promise<void>;
  /** Releases resources; other calls fail afterwards. */
  close(): Promise<void>;

  /**
   * Optional, for stores that several processes share: calls `listener` with the changes other
   * processes make (never this driver's own), so that they are seen without waiting for a poll.
   * Resolves once listening; the function it resolves to stops listening. Best effort: a change may
   * be told late or, around a lost connection, not at all (then `resync` follows).
   */
  watch?(listener: (change: StoreChange) => void): Promise<() => Promise<void>>;

  putBus(bus: BusRecord): Promise<void>;
  getBus(name: string): Promise<BusRecord | null>;
  listBuses(): Promise<BusRecord[]>;
  /** Deletes the bus with its archive, subscriptions and their deliveries; false when it did not exist. */
  deleteBus(name: string): Promise<boolean>;

  putSubscription(sub: SubscriptionRecord): Promise<void>;
  getSubscription(name: string): Promise<SubscriptionRecord | null>;
  /** All subscriptions, or those of one bus, by name. */
  listSubscriptions(bus?: string): Promise<SubscriptionRecord[]>;
  /** Deletes the subscription and its deliveries; false when it did not exist. */
  deleteSubscription(name: string): Promise<boolean>;

  /**
   * Appends every request in one atomic commit (the engine's group commit): for each event, either
   * `accepted` (stored, with one pending delivery per listed subscription, due at `now`) or `duplicate`.
   * The result has one outcome list per request, in order.
   */
  append(requests: readonly AppendRequest[], now: number): Promise<AppendOutcome[][]>;

  /**
   * Leases up to `max` deliveries of `subscription` that are due (`pending` with `availableAt <= now`,
   * or `leased` with an expired lease, whose lost attempt is then recorded as `lease_expired`), oldest
   * first. With `ordered`, a delivery is only claimable when no earlier delivery with the same
   * partition key is pending or leased.
   */
  claim(
    subscription: string,
    opts: { readonly max: number; readonly leaseMs: number; readonly ordered: boolean },
    now: number,
  ): Promise<ClaimedDelivery[]>;

  /**
   * Applies completions in one atomic commit (the engine batches the completions of many attempts):
   * for each, records the attempt and applies the completion, or returns false for it (changing
   * nothing) when its lease is stale. One result per item, in order. `attempt` is null when nothing
   * was tried: the engine dead-letters a claimed delivery whose attempts or age had already run out.
   */
  complete(items: readonly CompletionItem[], now: number): Promise<boolean[]>;

  /** Extends a lease of `subscription` to `leaseUntil`; false when the lease is stale (or another subscription's). */
  extend(subscription: string, deliveryId: number, leaseToken: string, leaseUntil: number): Promise<boolean>;

  /**
   * The earliest due time of `subscription` later than `after` (a pending delivery's `availableAt` or a
   * leased one's `leaseUntil`), or null. Deliveries due at or before `after` are left out: the engine
   * asks right after claiming everything it could, so what is due then is blocked (FIFO ordering).
   */
  nextDueAt(subscription: string, after: number): Promise<number | null>;

  subscriptionStats(subscription: string): Promise<SubscriptionStats>;

  /** Dead letters of a subscription, by ascending delivery id, after `afterId`. */
  listDeadLetters(
    subscription: string,
    opts: DeadLetterFilter & { readonly limit: number; readonly afterId?: number },
  ): Promise<DeadLetter[]>;
  getDeadLetter(subscription: string, deliveryId: number): Promise<DeadLetter | null>;
  countDeadLetters(subscription: string, filter: DeadLetterFilter): Promise<number>;
  /** Deletes the given dead letters (or all); returns how many were deleted. */
  deleteDeadLetters(subscription: string, ids: readonly number[] | 'all'): Promise<number>;
  /**
   * Puts dead letters back: each given dead letter becomes `redriven` and gets a new pending delivery
   * (`redriveOf` = its id, attempts from 1). Ids that are not dead letters of this subscription
   * (unknown, or already redriven) are skipped, so redriving twice yields one new delivery.
   * Returns the number of new deliveries.
   */
  redrive(subscription: string, ids: readonly number[], now: number): Promise<number>;

  queryArchive(bus: string, query: ArchiveQuery): Promise<StoredEvent[]>;
  /**
   * The events {@link queryArchive} returns for the same query, with only what a delivery carries:
   * a replay's pages, which need nothing else.
   */
  queryDeliverable(bus: string, query: ArchiveQuery): Promise<DeliverableEvent[]>;
  /** Events of `bus` with this id (several sources may share one), by seq. */
  eventsById(bus: string, id: string): Promise<StoredEvent[]>;
  /** Every delivery of the event with its attempts, by delivery id. */
  deliveriesOf(eventSeq: number): Promise<DeliveryTrace[]>;

  /** Of `seqs`, those already delivered successfully to `subscription` (any earlier delivery). */
  deliveredSeqs(subscription: string, seqs: readonly number[]): Promise<Set<number>>;

  /**
   * Reserves `count` consecutive delivery ids, which no delivery will get unless a {@link NewDelivery}
   * names one, and returns the first. The engine reserves ids for the deliveries it attempts before
   * storing them (replays), so a handler already sees the delivery's id.
   */
  reserveDeliveryIds(count: number): Promise<number>;

  /** Stores a replay record whole (a new replay). */
  putReplay(replay: ReplayRecord): Promise<void>;
  /**
   * Takes a running replay for `owner` until `leaseUntil` when no other owner's lease lasts beyond `now`
   * (none, lapsed, or `owner` itself). Returns the updated record, or null (changing nothing) when the
   * replay is unknown, not running, or held by another owner.
   */
  acquireReplay(id: string, owner: string, leaseUntil: number, now: number): Promise<ReplayRecord | null>;
  /**
   * One step of a replay, atomically: creates the step's deliveries (marked with their `replayId`:
   * pending and due at `now`, or settled by the attempt the engine made, see {@link NewDelivery}), adds
   * their number to `enqueued`, and stores the progress, state and lease. Only while the replay is
   * running and `owner` holds it; otherwise returns null and changes nothing (it was cancelled, or
   * another instance took it over). Rejects, changing nothing, when a delivery names an unknown event
   * or subscription, pairs them across buses, or names an id that is taken or was never reserved.
   */
  advanceReplay(id: string, owner: string, step: ReplayStep, now: number): Promise<ReplayRecord | null>;
  /** Ends a running replay as `cancelled`, whoever runs it; false when it is unknown or not running. */
  cancelReplay(id: string, now: number): Promise<boolean>;
  getReplay(id: string): Promise<ReplayRecord | null>;
  listReplays(bus?: string): Promise<ReplayRecord[]>;

  /**
   * Removes archived events of `bus` published before `olderThan` and, oldest first, beyond `maxBytes`
   * in total, except events that still have a pending, leased or dead delivery. Delivered deliveries
   * of removed events go with them. Returns how many events were removed.
   */
  purgeArchive(
    bus: string,
    opts: { readonly olderThan: number | null; readonly maxBytes: number | null },
  ): Promise<number>;
  /** Forgets dedupe entries accepted before `olderThan`; returns how many. */
  pruneDedupe(olderThan: number): Promise<number>;
}

/** Checks the `count` of {@link StorageDriver.reserveDeliveryIds}; every driver calls it first. */
export function checkReserveCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new Error(`reserveDeliveryIds: expected \`count\` to be a positive integer, got ${String(count)}`);
  }
}
