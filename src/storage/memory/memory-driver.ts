/**
 * The in-memory storage driver: the reference implementation of {@link StorageDriver}.
 *
 * Plain maps, nothing persisted, one process. It is what the conformance suite's expectations are
 * read against, so it favours the obviously correct over the clever; it still indexes deliveries by
 * subscription so that claims cost the subscription's backlog, not the whole history.
 */
import type {
  AppendOutcome,
  AppendRequest,
  ArchiveQuery,
  BusRecord,
  ClaimedDelivery,
  DeliverableEvent,
  CompletionItem,
  DeadLetter,
  DeadLetterFilter,
  DeliveryTrace,
  DriverCapabilities,
  ReplayRecord,
  ReplayStep,
  StorageDriver,
  StoredEvent,
  SubscriptionRecord,
  SubscriptionStats,
} from '../driver.js';
import { checkReserveCount } from '../driver.js';
import * as archive from './archive.js';
import { append, enqueue } from './append.js';
import * as dead from './dead-letters.js';
import * as queue from './queue.js';
import { compareStrings, frozenCopy, MemoryStore } from './store.js';

const CAPABILITIES: DriverCapabilities = Object.freeze({ multiProcess: false, persistent: false });

/**
 * A {@link StorageDriver} that keeps everything in memory, for tests, examples and embedded use
 * where losing the data on exit is fine. Every returned record is frozen.
 *
 * @example
 * ```ts
 * const driver = openMemory();
 * await driver.migrate();
 * await driver.putBus({ name: 'orders', retention: { maxAgeMs: null, maxBytes: null }, createdAt: 0, updatedAt: 0 });
 * ```
 */
export class MemoryDriver implements StorageDriver {
  /** @default 'memory' */
  readonly name = 'memory';
  /** One process, nothing survives it. */
  readonly capabilities: DriverCapabilities = CAPABILITIES;
  private store: MemoryStore | null = new MemoryStore();

  /** The store; throws once the driver is closed. */
  private open(): MemoryStore {
    if (this.store === null) throw new Error('memory driver: the driver is closed');
    return this.store;
  }

  /**
   * Runs an operation on the open store as a promise: a throw inside it (and "closed") becomes a
   * rejection, as the interface's asynchronous contract expects.
   */
  private run<T>(operation: (store: MemoryStore) => T): Promise<T> {
    return new Promise((resolve) => resolve(operation(this.open())));
  }

  /** Nothing to create; rejects after {@link MemoryDriver.close} like every other call. */
  migrate(): Promise<void> {
    return this.run(() => undefined);
  }

  /** Drops every record; later calls reject. Closing again does nothing. */
  close(): Promise<void> {
    this.store = null;
    return Promise.resolve();
  }

  putBus(bus: BusRecord): Promise<void> {
    return this.run((store) => {
      store.buses.set(bus.name, frozenCopy(bus));
    });
  }

  getBus(name: string): Promise<BusRecord | null> {
    return this.run((store) => store.buses.get(name) ?? null);
  }

  listBuses(): Promise<BusRecord[]> {
    return this.run((store) => [...store.buses.values()].sort((a, b) => compareStrings(a.name, b.name)));
  }

  deleteBus(name: string): Promise<boolean> {
    return this.run((store) => this.dropBus(store, name));
  }

  private dropBus(store: MemoryStore, name: string): boolean {
    if (!store.buses.has(name)) return false;
    for (const sub of [...store.subscriptions.values()]) {
      if (sub.bus === name) this.dropSubscription(store, sub.name);
    }
    for (const seq of [...(store.eventsByBus.get(name)?.keys() ?? [])]) store.removeEvent(seq);
    for (const replay of [...store.replays.values()]) {
      if (replay.bus === name) store.replays.delete(replay.id);
    }
    store.dedupe.delete(name);
    store.buses.delete(name);
    return true;
  }

  /** Rejects when the subscription's bus does not exist (as a foreign key would). */
  putSubscription(sub: SubscriptionRecord): Promise<void> {
    return this.run((store) => {
      if (!store.buses.has(sub.bus)) {
        throw new Error(`putSubscription: expected bus to name an existing bus, got \`${sub.bus}\``);
      }
      store.subscriptions.set(sub.name, frozenCopy(sub));
    });
  }

  getSubscription(name: string): Promise<SubscriptionRecord | null> {
    return this.run((store) => store.subscriptions.get(name) ?? null);
  }

  listSubscriptions(bus?: string): Promise<SubscriptionRecord[]> {
    return this.run((store) =>
      [...store.subscriptions.values()]
        .filter((sub) => bus === undefined || sub.bus === bus)
        .sort((a, b) => compareStrings(a.name, b.name)),
    );
  }

  deleteSubscription(name: string): Promise<boolean> {
    return this.run((store) => {
      if (!store.subscriptions.has(name)) return false;
      this.dropSubscription(store, name);
      return true;
    });
  }

  private dropSubscription(store: MemoryStore, name: string): void {
    for (const row of [...store.deliveriesOfSubscription(name).values()]) store.removeDelivery(row);
    store.subscriptions.delete(name);
  }

  /** Rejects, storing nothing, when a bus or a listed subscription (of that bus) does not exist. */
  append(requests: readonly AppendRequest[], now: number): Promise<AppendOutcome[][]> {
    return this.run((store) => append(store, requests, now));
  }

  claim(subscription: string, opts: queue.ClaimOptions, now: number): Promise<ClaimedDelivery[]> {
    return this.run((store) => queue.claim(store, subscription, opts, now));
  }

  complete(items: readonly CompletionItem[], now: number): Promise<boolean[]> {
    return this.run((store) => queue.complete(store, items, now));
  }

  extend(subscription: string, deliveryId: number, leaseToken: string, leaseUntil: number): Promise<boolean> {
    return this.run((store) => queue.extend(store, subscription, deliveryId, leaseToken, leaseUntil));
  }

  nextDueAt(subscription: string, after: number): Promise<number | null> {
    return this.run((store) => queue.nextDueAt(store, subscription, after));
  }

  subscriptionStats(subscription: string): Promise<SubscriptionStats> {
    return this.run((store) => queue.subscriptionStats(store, subscription));
  }

  listDeadLetters(subscription: string, opts: dead.ListDeadLettersOptions): Promise<DeadLetter[]> {
    return this.run((store) => dead.listDeadLetters(store, subscription, opts));
  }

  getDeadLetter(subscription: string, deliveryId: number): Promise<DeadLetter | null> {
    return this.run((store) => dead.getDeadLetter(store, subscription, deliveryId));
  }

  countDeadLetters(subscription: string, filter: DeadLetterFilter): Promise<number> {
    return this.run((store) => dead.countDeadLetters(store, subscription, filter));
  }

  deleteDeadLetters(subscription: string, ids: readonly number[] | 'all'): Promise<number> {
    return this.run((store) => dead.deleteDeadLetters(store, subscription, ids));
  }

  redrive(subscription: string, ids: readonly number[], now: number): Promise<number> {
    return this.run((store) => dead.redrive(store, subscription, ids, now));
  }

  queryArchive(bus: string, query: ArchiveQuery): Promise<StoredEvent[]> {
    return this.run((store) => archive.queryArchive(store, bus, query));
  }
  /** The archived events themselves: nothing to save by reading less. */
  queryDeliverable(bus: string, query: ArchiveQuery): Promise<DeliverableEvent[]> {
    return this.queryArchive(bus, query);
  }

  eventsById(bus: string, id: string): Promise<StoredEvent[]> {
    return this.run((store) => archive.eventsById(store, bus, id));
  }

  deliveriesOf(eventSeq: number): Promise<DeliveryTrace[]> {
    return this.run((store) => archive.deliveriesOf(store, eventSeq));
  }

  deliveredSeqs(subscription: string, seqs: readonly number[]): Promise<Set<number>> {
    return this.run((store) => archive.deliveredSeqs(store, subscription, seqs));
  }

  reserveDeliveryIds(count: number): Promise<number> {
    return this.run((store) => {
      checkReserveCount(count);
      return store.reserveDeliveryIds(count);
    });
  }

  putReplay(replay: ReplayRecord): Promise<void> {
    return this.run((store) => {
      store.replays.set(replay.id, frozenCopy(replay));
    });
  }

  acquireReplay(id: string, owner: string, leaseUntil: number, now: number): Promise<ReplayRecord | null> {
    return this.run((store) => {
      const replay = store.replays.get(id);
      if (replay?.state !== 'running') return null;
      const held = replay.owner !== null && replay.owner !== owner && (replay.leaseUntil ?? 0) > now;
      if (held) return null;
      const next = frozenCopy({ ...replay, owner, leaseUntil, updatedAt: now });
      store.replays.set(id, next);
      return next;
    });
  }

  advanceReplay(id: string, owner: string, step: ReplayStep, now: number): Promise<ReplayRecord | null> {
    return this.run((store) => {
      const replay = store.replays.get(id);
      if (replay?.state !== 'running' || replay.owner !== owner) return null;
      const enqueued = enqueue(store, step.deliveries, now);
      const next = frozenCopy({
        ...replay,
        cursor: step.cursor,
        scanned: step.scanned,
        enqueued: replay.enqueued + enqueued,
        state: step.state,
        error: step.error,
        leaseUntil: step.leaseUntil,
        updatedAt: now,
      });
      store.replays.set(id, next);
      return next;
    });
  }

  cancelReplay(id: string, now: number): Promise<boolean> {
    return this.run((store) => {
      const replay = store.replays.get(id);
      if (replay?.state !== 'running') return false;
      store.replays.set(id, frozenCopy({ ...replay, state: 'cancelled', updatedAt: now }));
      return true;
    });
  }

  getReplay(id: string): Promise<ReplayRecord | null> {
    return this.run((store) => store.replays.get(id) ?? null);
  }

  /** Replays (of one bus, when given) by `createdAt`, then id. */
  listReplays(bus?: string): Promise<ReplayRecord[]> {
    return this.run((store) =>
      [...store.replays.values()]
        .filter((replay) => bus === undefined || replay.bus === bus)
        .sort((a, b) => a.createdAt - b.createdAt || compareStrings(a.id, b.id)),
    );
  }

  purgeArchive(bus: string, opts: archive.PurgeOptions): Promise<number> {
    return this.run((store) => archive.purgeArchive(store, bus, opts));
  }

  pruneDedupe(olderThan: number): Promise<number> {
    return this.run((store) => archive.pruneDedupe(store, olderThan));
  }
}

/**
 * Opens an empty in-memory store.
 *
 * @example
 * ```ts
 * const driver = openMemory();
 * await driver.migrate();
 * ```
 */
export function openMemory(): MemoryDriver {
  return new MemoryDriver();
}
