/**
 * The PostgreSQL storage driver: a connection pool, one schema, any number of Busbar nodes sharing it.
 *
 * Writes that create events or deliveries run in transactions under the writers' lock (schema.ts);
 * claims are single statements with `FOR UPDATE SKIP LOCKED`. Nodes tell each other about new work
 * and catalog changes with `NOTIFY` on a channel per schema ({@link PostgresDriver.watch}).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
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
  StoreChange,
  StoredEvent,
  SubscriptionRecord,
  SubscriptionStats,
} from '../driver.js';
import { checkReserveCount } from '../driver.js';
import * as archive from './archive.js';
import { append } from './append.js';
import * as catalog from './catalog.js';
import * as dead from './dead-letters.js';
import * as leases from './leases.js';
import { SCHEMA_VERSION, migrateSchema, quoteIdent, schemaVersion } from './schema.js';
import { LOCK_COUNTERS, type Sql } from './sql.js';
import type { CountersRow } from '../rows.js';

/** Options for {@link openPostgres}. */
export interface PostgresOptions {
  /**
   * A PostgreSQL connection URL (`postgres://user:password@host:5432/database`). Two query parameters
   * are Busbar's own and not passed on: `schema` and `pool` (see below).
   */
  readonly url: string;
  /**
   * The schema that holds Busbar's tables, created when missing. Nodes sharing a bus use the same
   * schema; separate schemas keep separate Busbar installations in one database.
   * @default the URL's `schema` parameter, else 'busbar'
   */
  readonly schema?: string;
  /**
   * Connections per node. Claims, completions and publishes of one node share them.
   * @default the URL's `pool` parameter, else 10
   */
  readonly poolSize?: number;
}

/** Whether an error says the connection itself is gone (rather than a statement failing). */
function connectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // Class 08: connection exceptions; 57P01–57P03: the server is shutting down or cannot take it.
  if (typeof code === 'string') return code.startsWith('08') || /^57P0[1-3]$/.test(code);
  return error instanceof Error && /Connection terminated|ECONNRESET|ECONNREFUSED|EPIPE/.test(error.message);
}

/** SQLSTATEs worth running a transaction again for: serialization failure and deadlock. */
const RETRIABLE = new Set(['40001', '40P01']);
const MAX_TRIES = 5;
/** Largest NOTIFY payload PostgreSQL accepts is 8000 bytes; longer wake-ups say "any subscription". */
const MAX_PAYLOAD = 7900;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The type id of int8 (`bigint`, `count(*)`). */
const INT8 = 20;

/** int8 as a JavaScript number: seqs, ids and times stay far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 ? Number : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
};

/**
 * The {@link StorageDriver} over PostgreSQL. Create it with {@link openPostgres}, then call `migrate()`.
 *
 * @example
 * ```ts
 * const storage = openPostgres({ url: 'postgres://postgres@127.0.0.1:5432/busbar' });
 * await storage.migrate();
 * ```
 */
export class PostgresDriver implements StorageDriver {
  /** Always `'postgres'`. */
  readonly name = 'postgres';
  readonly capabilities: DriverCapabilities = { multiProcess: true, persistent: true };
  /** The schema holding the tables. */
  readonly schema: string;
  readonly #config: pg.PoolConfig;
  /** Connections whose commits wait for the WAL flush: publishes, redrives, replays, the catalog, reads. */
  readonly #pool: pg.Pool;
  /**
   * Connections with `synchronous_commit = off`, for the delivery path (claims, lease extensions,
   * completions, and what a dispatcher reads to schedule itself): a database crash may undo their
   * last fraction of a second, which hands those deliveries out again — a duplicate, never a loss —
   * and commits never wait for the disk.
   */
  readonly #leasePool: pg.Pool;
  readonly #channel: string;
  /** This driver's mark on its notifications, so that it does not wake itself. */
  readonly #node = randomUUID();
  #checked: Promise<void> | null = null;
  #closed = false;
  readonly #listeners = new Set<Listening>();

  /** Host, port and database, for error messages (never the password). */
  readonly #where: string;

  /** Prefer {@link openPostgres}. `config.max` connections are shared half and half by the two pools. */
  constructor(config: pg.PoolConfig, schema: string) {
    this.schema = schema;
    const url = new URL(config.connectionString ?? 'postgres://localhost');
    this.#where = `${url.hostname}:${url.port || '5432'}${url.pathname}`;
    this.#config = config;
    this.#channel = `busbar_${schema}`;
    const total = config.max ?? 10;
    this.#pool = new pg.Pool({ ...config, max: Math.max(1, Math.ceil(total / 2)) });
    this.#leasePool = new pg.Pool({
      ...config,
      max: Math.max(1, Math.floor(total / 2)),
      // Every statement of the delivery path reads through an index. Told so, the planner never picks
      // the sequential scan it prefers while a table is small (and keeps, once a plan is cached).
      options: `${config.options ?? ''} -c synchronous_commit=off -c enable_seqscan=off`,
    });
    // An idle connection that breaks (PostgreSQL restarted) is dropped by the pool; the next query
    // opens a new one. Without a listener the error would end the process.
    this.#pool.on('error', () => undefined);
    this.#leasePool.on('error', () => undefined);
  }

  /** The schema must be current before anything else runs (checked once per driver). */
  #ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('The PostgreSQL driver is closed'));
    this.#checked ??= this.#withClient(async (client) => {
      const version = await schemaVersion(client);
      if (version !== SCHEMA_VERSION) {
        throw new Error(
          `Expected the PostgreSQL schema ${quoteIdent(this.schema)} at version ${SCHEMA_VERSION}, ` +
            `got version ${version}: call migrate() first`,
        );
      }
    }).catch((error: unknown) => {
      this.#checked = null;
      throw error;
    });
    return this.#checked;
  }

  /**
   * Runs `work` on a connection of its own. A connection that breaks while checked out emits 'error'
   * besides failing its query (unheard, that event would end the process); it is then destroyed
   * rather than returned to the pool.
   */
  async #withClient<T>(work: (client: pg.PoolClient) => Promise<T>, pool = this.#pool): Promise<T> {
    const client = await pool.connect().catch((error: unknown) => {
      throw new Error(`Cannot connect to PostgreSQL at ${this.#where}: ${(error as Error).message}`, { cause: error });
    });
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    try {
      return await work(client);
    } catch (error) {
      broken ??= connectionLost(error) ? (error as Error) : undefined;
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** Runs single statements (each its own transaction) on the durable pool, or the lease pool. */
  async #run<T>(work: (sql: Sql) => Promise<T>, pool = this.#pool): Promise<T> {
    await this.#ready();
    return work(pool);
  }

  /**
   * Runs `work` in one transaction on one connection; serialization failures and deadlocks run it
   * again. A connection that failed is destroyed rather than returned to the pool.
   */
  async #transaction<T>(work: (sql: Sql) => Promise<T>, pool = this.#pool): Promise<T> {
    return this.#attempts(pool, 'BEGIN', (client) => work(client));
  }

  /**
   * A transaction on the durable pool that starts by taking the writers' lock (see schema.ts), in the
   * same round trip as its BEGIN; `work` gets the counters read under the lock.
   */
  #locked<T>(work: (sql: Sql, counters: CountersRow) => Promise<T>): Promise<T> {
    return this.#attempts(this.#pool, `BEGIN; ${LOCK_COUNTERS}`, (client, begun) => {
      const results = begun as unknown as pg.QueryResult<CountersRow>[];
      return work(client, results[1]!.rows[0]!);
    });
  }

  /** Runs a transaction opened by `begin`, again on serialization failures and deadlocks. */
  async #attempts<T>(
    pool: pg.Pool,
    begin: string,
    work: (client: pg.PoolClient, begun: pg.QueryResult) => Promise<T>,
  ): Promise<T> {
    await this.#ready();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#withClient(async (client) => {
          const begun = await client.query(begin);
          try {
            const result = await work(client, begun);
            await client.query('COMMIT');
            return result;
          } catch (error) {
            // A failed ROLLBACK means a broken connection, which #withClient then destroys.
            await client.query('ROLLBACK').catch(() => undefined);
            throw error;
          }
        }, pool);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string' && RETRIABLE.has(code) && attempt < MAX_TRIES) continue;
        throw error;
      }
    }
  }

  /**
   * A notification's payload: this node, the kind, the subscriptions with work due (`*`: too many to
   * list) and, for a publish, the `seq` range stored per bus (`bus:from-to`, left out when too long).
   */
  #payload(
    kind: 'due' | 'catalog',
    subscriptions: Iterable<string> = [],
    stored: ReadonlyMap<string, { from: number; to: number }> = new Map(),
  ): string {
    const names = [...subscriptions].join(',');
    const ranges = [...stored].map(([bus, { from, to }]) => `${bus}:${from}-${to}`).join(',');
    const payload = `${this.#node}|${kind}|${names}|${ranges}`;
    if (payload.length <= MAX_PAYLOAD) return payload;
    return `${this.#node}|${kind}|${names.length === 0 ? '' : '*'}|`;
  }

  /** Tells the other nodes (inside the caller's transaction: sent at its commit). */
  async #notify(sql: Sql, kind: 'due' | 'catalog', subscriptions: Iterable<string> = []): Promise<void> {
    await sql.query({
      name: 'notify',
      text: 'SELECT pg_notify($1, $2)',
      values: [this.#channel, this.#payload(kind, subscriptions)],
    });
  }

  migrate(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('The PostgreSQL driver is closed'));
    return this.#withClient(async (client) => {
      await migrateSchema(client, this.schema);
      this.#checked = Promise.resolve();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#listeners].map((l) => l.stop()));
    await Promise.all([this.#pool.end(), this.#leasePool.end()]);
  }

  /**
   * Listens on the schema's channel with a connection of its own, reconnecting (with backoff) when it
   * breaks and then telling `resync`.
   */
  async watch(listener: (change: StoreChange) => void): Promise<() => Promise<void>> {
    await this.#ready();
    const listening = new Listening(this.#config, this.#channel, this.#node, listener);
    this.#listeners.add(listening);
    try {
      await listening.start();
    } catch (error) {
      this.#listeners.delete(listening);
      await listening.stop();
      throw error;
    }
    return async () => {
      this.#listeners.delete(listening);
      await listening.stop();
    };
  }

  putBus(bus: BusRecord): Promise<void> {
    return this.#transaction(async (sql) => {
      await catalog.putBus(sql, bus);
      await this.#notify(sql, 'catalog');
    });
  }
  getBus(name: string): Promise<BusRecord | null> {
    return this.#run((sql) => catalog.getBus(sql, name));
  }
  listBuses(): Promise<BusRecord[]> {
    return this.#run((sql) => catalog.listBuses(sql));
  }
  deleteBus(name: string): Promise<boolean> {
    return this.#locked(async (sql) => {
      const deleted = await catalog.deleteBus(sql, name);
      if (deleted) await this.#notify(sql, 'catalog');
      return deleted;
    });
  }

  /** Under the writers' lock: no publish is half-way while a subscription changes how it is read. */
  putSubscription(sub: SubscriptionRecord): Promise<void> {
    return this.#locked(async (sql, counters) => {
      await catalog.putSubscription(sql, sub, counters);
      await this.#notify(sql, 'catalog');
    });
  }
  getSubscription(name: string): Promise<SubscriptionRecord | null> {
    return this.#run((sql) => catalog.getSubscription(sql, name));
  }
  listSubscriptions(bus?: string): Promise<SubscriptionRecord[]> {
    return this.#run((sql) => catalog.listSubscriptions(sql, bus));
  }
  /** Under the writers' lock: a publish that saw the subscription has stored its deliveries first. */
  deleteSubscription(name: string): Promise<boolean> {
    return this.#locked(async (sql) => {
      const deleted = await catalog.deleteSubscription(sql, name);
      if (deleted) await this.#notify(sql, 'catalog');
      return deleted;
    });
  }

  async append(requests: readonly AppendRequest[], now: number): Promise<AppendOutcome[][]> {
    if (requests.length === 0) return [];
    return this.#locked((sql, counters) =>
      append(sql, counters, requests, now, {
        channel: this.#channel,
        payload: (subscriptions, stored) => this.#payload('due', subscriptions, stored),
      }),
    );
  }

  claim(
    subscription: string,
    opts: { readonly max: number; readonly leaseMs: number; readonly ordered: boolean },
    now: number,
  ): Promise<ClaimedDelivery[]> {
    return this.#run((sql) => leases.claim(sql, subscription, opts, now), this.#leasePool);
  }
  async complete(items: readonly CompletionItem[], now: number): Promise<boolean[]> {
    if (items.length === 0) return [];
    return this.#transaction(async (sql) => {
      const { results, woken } = await leases.complete(sql, items, now);
      if (woken.size > 0) await this.#notify(sql, 'due', woken);
      return results;
    }, this.#leasePool);
  }
  extend(subscription: string, deliveryId: number, leaseToken: string, leaseUntil: number): Promise<boolean> {
    return this.#run((sql) => leases.extend(sql, subscription, deliveryId, leaseToken, leaseUntil), this.#leasePool);
  }
  nextDueAt(subscription: string, after: number): Promise<number | null> {
    return this.#run((sql) => leases.nextDueAt(sql, subscription, after), this.#leasePool);
  }
  subscriptionStats(subscription: string): Promise<SubscriptionStats> {
    return this.#run((sql) => leases.stats(sql, subscription), this.#leasePool);
  }

  /** Reads of rows plus their attempts run in one transaction: one consistent snapshot. */
  listDeadLetters(
    subscription: string,
    opts: DeadLetterFilter & { readonly limit: number; readonly afterId?: number },
  ): Promise<DeadLetter[]> {
    return this.#transaction((sql) => dead.list(sql, subscription, opts));
  }
  getDeadLetter(subscription: string, deliveryId: number): Promise<DeadLetter | null> {
    return this.#transaction((sql) => dead.get(sql, subscription, deliveryId));
  }
  countDeadLetters(subscription: string, filter: DeadLetterFilter): Promise<number> {
    return this.#run((sql) => dead.count(sql, subscription, filter));
  }
  deleteDeadLetters(subscription: string, ids: readonly number[] | 'all'): Promise<number> {
    return this.#run((sql) => dead.remove(sql, subscription, ids));
  }
  async redrive(subscription: string, ids: readonly number[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    return this.#locked(async (sql, counters) => {
      const created = await dead.redrive(sql, counters, subscription, ids, now);
      if (created > 0) await this.#notify(sql, 'due', [subscription]);
      return created;
    });
  }

  queryArchive(bus: string, query: ArchiveQuery): Promise<StoredEvent[]> {
    return this.#transaction((sql) => archive.query(sql, bus, query));
  }
  queryDeliverable(bus: string, query: ArchiveQuery): Promise<DeliverableEvent[]> {
    return this.#transaction((sql) => archive.deliverable(sql, bus, query));
  }
  eventsById(bus: string, id: string): Promise<StoredEvent[]> {
    return this.#run((sql) => archive.eventsById(sql, bus, id));
  }
  /** One snapshot for all its reads: a claim making a row meanwhile must not show it twice or not at all. */
  deliveriesOf(eventSeq: number): Promise<DeliveryTrace[]> {
    return this.#attempts(this.#pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', (sql) =>
      dead.lineage(sql, eventSeq),
    );
  }
  deliveredSeqs(subscription: string, seqs: readonly number[]): Promise<Set<number>> {
    return this.#run((sql) => archive.deliveredSeqs(sql, subscription, seqs));
  }

  /** Under the writers' lock, like every write that hands out delivery ids. */
  async reserveDeliveryIds(count: number): Promise<number> {
    checkReserveCount(count);
    return this.#locked(async (sql, counters) => {
      await sql.query({
        name: 'reserve_delivery_ids',
        text: 'UPDATE counters SET next_delivery_id = $1 WHERE id = 1',
        values: [counters.next_delivery_id + count],
      });
      return counters.next_delivery_id;
    });
  }

  putReplay(replay: ReplayRecord): Promise<void> {
    return this.#run((sql) => catalog.putReplay(sql, replay));
  }
  acquireReplay(id: string, owner: string, leaseUntil: number, now: number): Promise<ReplayRecord | null> {
    return this.#run((sql) => catalog.acquireReplay(sql, id, owner, leaseUntil, now), this.#leasePool);
  }
  advanceReplay(id: string, owner: string, step: ReplayStep, now: number): Promise<ReplayRecord | null> {
    return this.#locked(async (sql, counters) => {
      const record = await catalog.advanceReplay(sql, counters, id, owner, step, now);
      if (record !== null && step.deliveries.length > 0) {
        await this.#notify(sql, 'due', new Set(step.deliveries.map((d) => d.subscription)));
      }
      return record;
    });
  }
  cancelReplay(id: string, now: number): Promise<boolean> {
    return this.#run((sql) => catalog.cancelReplay(sql, id, now));
  }
  getReplay(id: string): Promise<ReplayRecord | null> {
    return this.#run((sql) => catalog.getReplay(sql, id));
  }
  listReplays(bus?: string): Promise<ReplayRecord[]> {
    return this.#run((sql) => catalog.listReplays(sql, bus));
  }

  /** In batches of {@link archive.PURGE_BATCH} events, one short transaction each, under the writers' lock. */
  async purgeArchive(
    bus: string,
    opts: { readonly olderThan: number | null; readonly maxBytes: number | null },
  ): Promise<number> {
    await this.#ready();
    return archive.purge((work) => this.#locked(work), bus, opts.olderThan, opts.maxBytes);
  }
  pruneDedupe(olderThan: number): Promise<number> {
    return this.#run((sql) => archive.pruneDedupe(sql, olderThan), this.#leasePool);
  }
}

/** One `watch`: a dedicated connection that LISTENs, and comes back after it breaks. */
class Listening {
  #client: pg.Client | null = null;
  #stopped = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #backoffMs = 100;

  constructor(
    private readonly config: pg.PoolConfig,
    private readonly channel: string,
    private readonly node: string,
    private readonly listener: (change: StoreChange) => void,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client(this.config);
    client.on('notification', (message) => {
      if (message.channel === this.channel && message.payload !== undefined) this.#told(message.payload);
    });
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = null;
      client.removeAllListeners('end');
      void client.end().catch(() => undefined);
      this.#reconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    await client.connect();
    await client.query(`LISTEN ${quoteIdent(this.channel)}`);
    if (this.#stopped) {
      await client.end();
      return;
    }
    this.#client = client;
    this.#backoffMs = 100;
  }

  #reconnect(): void {
    if (this.#stopped) return;
    this.#retry = setTimeout(() => {
      this.#start_again();
    }, this.#backoffMs);
    this.#backoffMs = Math.min(this.#backoffMs * 2, 5_000);
  }

  #start_again(): void {
    this.start().then(
      () => {
        if (!this.#stopped) this.listener({ kind: 'resync' });
      },
      () => this.#reconnect(),
    );
  }

  #told(payload: string): void {
    const [node, kind, names = '', ranges = ''] = payload.split('|');
    if (node === this.node) return;
    if (kind === 'catalog') this.listener({ kind: 'catalog' });
    else if (kind === 'due') {
      if (names !== '') this.listener({ kind: 'due', subscriptions: names === '*' ? null : names.split(',') });
      for (const range of ranges === '' ? [] : ranges.split(',')) {
        const match = /^(.+):(\d+)-(\d+)$/.exec(range);
        if (match !== null) {
          this.listener({ kind: 'published', bus: match[1]!, fromSeq: Number(match[2]), toSeq: Number(match[3]) });
        }
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    if (client !== null) await client.end().catch(() => undefined);
  }
}

/**
 * Opens a PostgreSQL driver for Busbar (connections are made on first use). Each connection uses
 * the schema first in its `search_path`, aborts a statement after 60 s and a transaction left idle for
 * 15 s (a stuck node must not hold the writers' lock).
 *
 * @example
 * ```ts
 * const storage = openPostgres({ url: 'postgres://postgres@127.0.0.1:5432/test?schema=busbar' });
 * await storage.migrate();
 * ```
 */
export function openPostgres(options: PostgresOptions): PostgresDriver {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new TypeError(`Expected \`url\` to be a postgres:// URL, got ${JSON.stringify(options.url)}`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new TypeError(`Expected \`url\` to be a postgres:// URL, got ${JSON.stringify(options.url)}`);
  }
  const schema = options.schema ?? url.searchParams.get('schema') ?? 'busbar';
  if (!SCHEMA_NAME.test(schema)) {
    throw new TypeError(
      `Expected the schema name to be 1 to 63 lowercase letters, digits or "_" (not starting with a digit), got ${JSON.stringify(schema)}`,
    );
  }
  const poolParam = url.searchParams.get('pool');
  const poolSize = options.poolSize ?? (poolParam === null ? 10 : Number(poolParam));
  if (!Number.isSafeInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
    throw new TypeError(
      `Expected the pool size to be an integer from 1 to 1000, got ${JSON.stringify(poolParam ?? options.poolSize)}`,
    );
  }
  url.searchParams.delete('schema');
  url.searchParams.delete('pool');
  const config: pg.PoolConfig = {
    connectionString: url.toString(),
    max: poolSize,
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    application_name: 'busbar',
    options: `-c search_path=${schema} -c statement_timeout=60000 -c idle_in_transaction_session_timeout=15000`,
    types,
  };
  return new PostgresDriver(config, schema);
}
