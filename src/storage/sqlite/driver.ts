/**
 * The SQLite storage driver: one file (or `:memory:`), WAL, one connection per driver.
 *
 * better-sqlite3 is synchronous, so every method does its work at once inside one SQLite transaction
 * and returns a settled promise: the seam stays async for drivers that are not. Statements are
 * prepared once, on first use after the schema is in place.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
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
import { prepareAppend } from './append.js';
import { prepareArchive } from './archive.js';
import { prepareCatalog } from './catalog.js';
import { prepareCursors } from './cursors.js';
import { prepareDeadLetters } from './dead-letters.js';
import { prepareDeliveredRuns } from './delivered-runs.js';
import { prepareLeases } from './leases.js';
import {
  SCHEMA_VERSION,
  applyPragmas,
  migrateSchema,
  readSettings,
  userVersion,
  type Durability,
  type SqliteSettings,
} from './schema.js';
import { prepareReplays } from './replays.js';
import { prepareShared } from './statements.js';

/** Options for {@link openSqlite}. */
export interface SqliteOptions {
  /** Database file; its directory is created when missing. `':memory:'` keeps everything in memory. */
  readonly path: string;
  /**
   * `'full'`: every commit is fsynced before the method resolves, so an acknowledged publish survives a
   * power loss. `'normal'`: commits reach the WAL without fsync; they survive a crash of the process but
   * the last ones may be lost on power loss or an OS crash.
   * @default 'full'
   */
  readonly durability?: Durability;
}

function prepareOperations(db: Database.Database) {
  const shared = prepareShared(db);
  const cursors = prepareCursors(db);
  const runs = prepareDeliveredRuns(db);
  const append = prepareAppend(db, shared, runs);
  return {
    catalog: prepareCatalog(db, shared, cursors, runs),
    append,
    replays: prepareReplays(db, append.enqueue),
    leases: prepareLeases(db, shared, cursors),
    dead: prepareDeadLetters(db, shared, cursors, runs),
    archive: prepareArchive(db, shared, runs),
  };
}

type Operations = ReturnType<typeof prepareOperations>;

/** Runs synchronous work and reports its result or its error as a promise. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/**
 * The {@link StorageDriver} over SQLite. Create it with {@link openSqlite}, then call `migrate()`.
 *
 * @example
 * ```ts
 * const storage = openSqlite({ path: './.busbar/busbar.db' });
 * await storage.migrate();
 * ```
 */
export class SqliteDriver implements StorageDriver {
  /** Always `'sqlite'`. */
  readonly name = 'sqlite';
  /** A file may be shared by several processes (WAL, busy timeout); `:memory:` is private and volatile. */
  readonly capabilities: DriverCapabilities;
  readonly #db: Database.Database;
  #ops: Operations | null = null;

  /** Prefer {@link openSqlite}; this takes an open connection with pragmas already applied. */
  constructor(db: Database.Database) {
    this.#db = db;
    this.capabilities = { multiProcess: !db.memory, persistent: !db.memory };
  }

  /** The statements, prepared on first use once the schema is current. */
  get #run(): Operations {
    if (this.#ops !== null) return this.#ops;
    const version = userVersion(this.#db);
    if (version !== SCHEMA_VERSION) {
      throw new Error(
        `Expected the SQLite schema at version ${SCHEMA_VERSION}, got version ${version}: call migrate() first`,
      );
    }
    return (this.#ops = prepareOperations(this.#db));
  }

  /** The connection settings in effect (journal mode, fsync policy, busy timeout, schema version). */
  settings(): SqliteSettings {
    return readSettings(this.#db);
  }

  migrate(): Promise<void> {
    return settle(() => {
      migrateSchema(this.#db);
      this.#ops = null;
    });
  }

  close(): Promise<void> {
    return settle(() => {
      this.#ops = null;
      if (this.#db.open) this.#db.close();
    });
  }

  putBus(bus: BusRecord): Promise<void> {
    return settle(() => this.#run.catalog.putBus(bus));
  }
  getBus(name: string): Promise<BusRecord | null> {
    return settle(() => this.#run.catalog.getBus(name));
  }
  listBuses(): Promise<BusRecord[]> {
    return settle(() => this.#run.catalog.listBuses());
  }
  deleteBus(name: string): Promise<boolean> {
    return settle(() => this.#run.catalog.deleteBus(name));
  }

  putSubscription(sub: SubscriptionRecord): Promise<void> {
    return settle(() => this.#run.catalog.putSubscription(sub));
  }
  getSubscription(name: string): Promise<SubscriptionRecord | null> {
    return settle(() => this.#run.catalog.getSubscription(name));
  }
  listSubscriptions(bus?: string): Promise<SubscriptionRecord[]> {
    return settle(() => this.#run.catalog.listSubscriptions(bus));
  }
  deleteSubscription(name: string): Promise<boolean> {
    return settle(() => this.#run.catalog.deleteSubscription(name));
  }

  append(requests: readonly AppendRequest[], now: number): Promise<AppendOutcome[][]> {
    return settle(() => this.#run.append.append(requests, now));
  }

  claim(
    subscription: string,
    opts: { readonly max: number; readonly leaseMs: number; readonly ordered: boolean },
    now: number,
  ): Promise<ClaimedDelivery[]> {
    return settle(() => this.#run.leases.claim(subscription, opts, now));
  }
  complete(items: readonly CompletionItem[], now: number): Promise<boolean[]> {
    return settle(() => this.#run.leases.complete(items, now));
  }
  extend(subscription: string, deliveryId: number, leaseToken: string, leaseUntil: number): Promise<boolean> {
    return settle(() => this.#run.leases.extend(subscription, deliveryId, leaseToken, leaseUntil));
  }
  nextDueAt(subscription: string, after: number): Promise<number | null> {
    return settle(() => this.#run.leases.nextDueAt(subscription, after));
  }
  subscriptionStats(subscription: string): Promise<SubscriptionStats> {
    return settle(() => this.#run.leases.stats(subscription));
  }

  listDeadLetters(
    subscription: string,
    opts: DeadLetterFilter & { readonly limit: number; readonly afterId?: number },
  ): Promise<DeadLetter[]> {
    return settle(() => this.#run.dead.list(subscription, opts));
  }
  getDeadLetter(subscription: string, deliveryId: number): Promise<DeadLetter | null> {
    return settle(() => this.#run.dead.get(subscription, deliveryId));
  }
  countDeadLetters(subscription: string, filter: DeadLetterFilter): Promise<number> {
    return settle(() => this.#run.dead.count(subscription, filter));
  }
  deleteDeadLetters(subscription: string, ids: readonly number[] | 'all'): Promise<number> {
    return settle(() => this.#run.dead.remove(subscription, ids));
  }
  redrive(subscription: string, ids: readonly number[], now: number): Promise<number> {
    return settle(() => this.#run.dead.redrive(subscription, ids, now));
  }

  queryArchive(bus: string, query: ArchiveQuery): Promise<StoredEvent[]> {
    return settle(() => this.#run.archive.query(bus, query));
  }
  queryDeliverable(bus: string, query: ArchiveQuery): Promise<DeliverableEvent[]> {
    return settle(() => this.#run.archive.deliverable(bus, query));
  }
  eventsById(bus: string, id: string): Promise<StoredEvent[]> {
    return settle(() => this.#run.archive.eventsById(bus, id));
  }
  deliveriesOf(eventSeq: number): Promise<DeliveryTrace[]> {
    return settle(() => this.#run.dead.lineage(eventSeq));
  }

  deliveredSeqs(subscription: string, seqs: readonly number[]): Promise<Set<number>> {
    return settle(() => this.#run.archive.deliveredSeqs(subscription, seqs));
  }

  reserveDeliveryIds(count: number): Promise<number> {
    return settle(() => {
      checkReserveCount(count);
      return this.#run.append.reserve(count);
    });
  }

  putReplay(replay: ReplayRecord): Promise<void> {
    return settle(() => this.#run.catalog.putReplay(replay));
  }
  acquireReplay(id: string, owner: string, leaseUntil: number, now: number): Promise<ReplayRecord | null> {
    return settle(() => this.#run.replays.acquire(id, owner, leaseUntil, now));
  }
  advanceReplay(id: string, owner: string, step: ReplayStep, now: number): Promise<ReplayRecord | null> {
    return settle(() => this.#run.replays.advance(id, owner, step, now));
  }
  cancelReplay(id: string, now: number): Promise<boolean> {
    return settle(() => this.#run.replays.cancel(id, now));
  }
  getReplay(id: string): Promise<ReplayRecord | null> {
    return settle(() => this.#run.catalog.getReplay(id));
  }
  listReplays(bus?: string): Promise<ReplayRecord[]> {
    return settle(() => this.#run.catalog.listReplays(bus));
  }

  /** Runs in batches of {@link PURGE_BATCH} events, one transaction each, yielding between them. */
  purgeArchive(
    bus: string,
    opts: { readonly olderThan: number | null; readonly maxBytes: number | null },
  ): Promise<number> {
    return settle(() => this.#run.archive).then((archive) => archive.purge(bus, opts.olderThan, opts.maxBytes));
  }
  /** Moves the dedupe horizon (no rows to delete: dedupe reads the archive, see schema.ts). */
  pruneDedupe(olderThan: number): Promise<number> {
    return settle(() => this.#run.archive.pruneDedupe(olderThan));
  }
}

/**
 * Opens (creating when missing) a SQLite database for Busbar and applies the connection settings:
 * WAL, `synchronous` per durability, a 5 s busy timeout, a 64 MiB page cache, temp tables in memory.
 *
 * @example
 * ```ts
 * const storage = openSqlite({ path: ':memory:' });
 * await storage.migrate();
 * ```
 */
export function openSqlite(options: SqliteOptions): SqliteDriver {
  const durability = options.durability ?? 'full';
  if (durability !== 'full' && durability !== 'normal') {
    throw new TypeError(`Expected \`durability\` to be 'full' or 'normal', got ${JSON.stringify(durability)}`);
  }
  const memory = options.path === ':memory:';
  if (!memory) mkdirSync(dirname(resolve(options.path)), { recursive: true });
  const db = new Database(options.path);
  try {
    applyPragmas(db, durability);
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteDriver(db);
}
