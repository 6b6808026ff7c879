/**
 * The SQLite schema as numbered migrations, and the connection settings applied on open.
 *
 * `PRAGMA user_version` holds the number of migrations applied. Migrations only ever get appended:
 * an applied step never changes, so a database records exactly which steps made it.
 */
import type Database from 'better-sqlite3';

/**
 * Schema steps in order; step `i` takes `user_version` from `i` to `i + 1`.
 *
 * Design notes for v1:
 * - `seq` and delivery ids come from `counters`, not from SQLite's rowid allocation, which reuses the
 *   largest id after that row is deleted; a dead-letter id or a replay cursor must never point at a
 *   different row later.
 * - Dedupe reads the archive: the newest event of a bus, source and id is its latest acceptance
 *   (`events_by_id`). `purged_acceptances` remembers acceptances whose event a purge removed, and
 *   `counters.dedupe_floor` is the pruning horizon: acceptances before it are forgotten. Publishing
 *   thus writes no dedupe rows at all.
 * - `deliveries.due_at` is the moment a row becomes claimable: `available_at` while pending,
 *   `lease_until` while leased (an expired lease is due again); `NULL` once the row is settled.
 * - `deliveries.head` is 1 when no delivery of the same subscription and partition key with a smaller
 *   id is pending or leased (always 1 without a key). Ordered claims read only heads, so a long FIFO
 *   backlog behind one busy key costs nothing per claim.
 * - `events.published_hwm` is the largest `publishedAt` of all events up to this one, so it never
 *   decreases with `seq`: the index `(bus, published_hwm, seq, published_at)` lists a bus's archive
 *   in `seq` order and turns a time range into a `seq` range. `publishedAt` itself may step back
 *   with the engine's clock; `counters.max_backstep` (the largest step back ever seen) widens the
 *   range to stay exact.
 * - `deliveries_due` carries `state` and `enqueued_at` so subscription statistics read only the index.
 * - `archive_totals` keeps each bus's archive size so a `maxBytes` purge does not sum the table.
 *
 * Cursor subscriptions (v4): a publish writes no delivery row for an unordered subscription. The
 * event row lists the matched ones by their `sid` (`events.subs`, text `,3,7,12,`; a `sid` is never
 * reused) and reserves their delivery ids: the subscription at position i of `subs` owns delivery
 * `delivery_base + i`. A claim first turns the subscription's matched events after its `cursor` into
 * pending rows (in `seq` order, under those ids) and then claims rows as before; `unclaimed` counts
 * the matched events not turned into rows yet. So ingest costs one row per event however many
 * subscriptions match, and a subscription's rows exist only once it is being consumed. Ordered
 * subscriptions keep a row per event from the publish on: their claims need every partition's head.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE counters (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq INTEGER NOT NULL,
    next_delivery_id INTEGER NOT NULL,
    -- the largest publishedAt so far, and the most an append's now has ever been below it
    published_hwm INTEGER NOT NULL,
    max_backstep INTEGER NOT NULL,
    -- pruneDedupe's horizon: acceptances before it no longer make duplicates
    dedupe_floor INTEGER NOT NULL
  );
  INSERT INTO counters (id, next_seq, next_delivery_id, published_hwm, max_backstep, dedupe_floor)
  VALUES (1, 1, 1, 0, 0, -9007199254740991);

  CREATE TABLE buses (
    name TEXT PRIMARY KEY,
    retention_max_age_ms INTEGER,
    retention_max_bytes INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE subscriptions (
    name TEXT PRIMARY KEY,
    bus TEXT NOT NULL,
    pattern TEXT NOT NULL,
    target TEXT NOT NULL,
    delivery TEXT NOT NULL,
    paused INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX subscriptions_by_bus ON subscriptions (bus, name);

  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    bus TEXT NOT NULL,
    id TEXT NOT NULL,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    published_hwm INTEGER NOT NULL,
    partition_key TEXT,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
  );
  CREATE INDEX events_by_time ON events (bus, published_hwm, seq, published_at);
  CREATE INDEX events_by_id ON events (bus, id);

  CREATE TABLE archive_totals (
    bus TEXT PRIMARY KEY,
    events INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE purged_acceptances (
    bus TEXT NOT NULL,
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (bus, source, id)
  ) WITHOUT ROWID;

  CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    subscription TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    head INTEGER NOT NULL,
    attempt_count INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    due_at INTEGER,
    lease_token TEXT,
    leased_at INTEGER,
    lease_until INTEGER,
    enqueued_at INTEGER NOT NULL,
    replay_id TEXT,
    redrive_of INTEGER,
    dead_reason TEXT,
    dead_at INTEGER,
    partition_key TEXT
  );
  CREATE INDEX deliveries_due ON deliveries (subscription, head, due_at, id, state, enqueued_at)
    WHERE state IN ('pending', 'leased');
  CREATE INDEX deliveries_partition ON deliveries (subscription, partition_key, id)
    WHERE state IN ('pending', 'leased') AND partition_key IS NOT NULL;
  CREATE INDEX deliveries_dead ON deliveries (subscription, id) WHERE state = 'dead';
  CREATE INDEX deliveries_by_event ON deliveries (event_seq);

  CREATE TABLE attempts (
    delivery_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error_message TEXT,
    error_code TEXT,
    error_name TEXT,
    http_status INTEGER
  );
  CREATE INDEX attempts_by_delivery ON attempts (delivery_id);

  CREATE TABLE replays (
    id TEXT PRIMARY KEY,
    bus TEXT NOT NULL,
    from_ms INTEGER NOT NULL,
    to_ms INTEGER NOT NULL,
    pattern TEXT,
    subscriptions TEXT,
    skip_delivered INTEGER NOT NULL,
    rate_per_sec REAL,
    state TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    scanned INTEGER NOT NULL,
    enqueued INTEGER NOT NULL,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX replays_by_bus ON replays (bus, created_at);
  `,
  // v2: the first KiB of a failed webhook attempt's response body.
  `
  ALTER TABLE attempts ADD COLUMN response_body TEXT;
  `,
  // v3: a replay's owner and lease, so that it runs in one process at a time.
  `
  ALTER TABLE replays ADD COLUMN owner TEXT;
  ALTER TABLE replays ADD COLUMN lease_until INTEGER;
  `,
  // v4: unordered subscriptions read the events through a cursor (see "Cursor subscriptions" above).
  `
  ALTER TABLE counters ADD COLUMN next_sid INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE subscriptions ADD COLUMN sid INTEGER;
  ALTER TABLE subscriptions ADD COLUMN by_cursor INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE subscriptions ADD COLUMN cursor INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE subscriptions ADD COLUMN unclaimed INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE events ADD COLUMN subs TEXT;
  ALTER TABLE events ADD COLUMN delivery_base INTEGER;
  -- Existing subscriptions keep the rows they have; from now on, the unordered ones read by cursor.
  UPDATE subscriptions SET
    sid = (SELECT count(*) FROM subscriptions s WHERE s.name <= subscriptions.name),
    by_cursor = NOT coalesce(json_extract(delivery, '$.ordered'), 0),
    cursor = (SELECT next_seq - 1 FROM counters);
  UPDATE counters SET next_sid = (SELECT count(*) + 1 FROM subscriptions);
  `,
  // v5: a first attempt that succeeded is kept on its delivery's row, not in \`attempts\` (see
  // isInlineAttempt in ../rows.ts).
  `
  ALTER TABLE deliveries ADD COLUMN first_started_at INTEGER;
  ALTER TABLE deliveries ADD COLUMN first_duration_ms INTEGER;
  ALTER TABLE deliveries ADD COLUMN first_http_status INTEGER;
  `,
  // v6: deliveries a replay step stores delivered by their first attempt, as runs (see
  // ./delivered-runs.ts): one row per step, subscription and stretch of seqs, not one each.
  `
  CREATE TABLE delivered_runs (
    subscription TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    replay_id TEXT,
    enqueued_at INTEGER NOT NULL,
    min_id INTEGER NOT NULL,
    max_id INTEGER NOT NULL,
    entries TEXT NOT NULL
  );
  CREATE INDEX delivered_runs_by_bucket ON delivered_runs (bucket);
  CREATE INDEX delivered_runs_by_subscription ON delivered_runs (subscription, bucket);
  CREATE INDEX delivered_runs_by_id ON delivered_runs (max_id);
  `,
];

/** The schema version this code writes: the number of {@link MIGRATIONS}. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema up to {@link SCHEMA_VERSION}, each step in its own transaction together with its
 * `user_version` bump, so a crash mid-way leaves the database at a whole step. Running it again is a
 * no-op. Fails, changing nothing, when the database was written by a newer version of Busbar.
 *
 * @returns the version found before migrating
 */
export function migrateSchema(db: Database.Database): number {
  const found = userVersion(db);
  if (found > SCHEMA_VERSION) {
    throw new Error(
      `Expected a Busbar SQLite schema of version ${SCHEMA_VERSION} or older, got version ${found}: ` +
        'the database was written by a newer Busbar',
    );
  }
  for (let version = found; version < SCHEMA_VERSION; version++) {
    const step = MIGRATIONS[version]!;
    db.transaction(() => {
      // Re-read inside the write lock: another process may have migrated in the meantime.
      if (userVersion(db) !== version) return;
      db.exec(step);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
  return found;
}

/** The schema version recorded in the database (`PRAGMA user_version`). */
export function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** How each commit reaches the disk; see docs/storage.md. */
export type Durability = 'full' | 'normal';

/**
 * Connection settings, applied once per connection before anything else.
 * WAL lets readers run beside the single writer; `synchronous` picks the fsync policy per commit.
 */
export function applyPragmas(db: Database.Database, durability: Durability): void {
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('busy_timeout = 5000');
  // Negative: KiB. 64 MiB keeps the hot part of the delivery indexes in memory.
  db.pragma('cache_size = -65536');
  db.pragma('temp_store = MEMORY');
  // Truncate the WAL back to 64 MiB after checkpoints so a burst does not leave a huge file behind.
  db.pragma('journal_size_limit = 67108864');
}

/** The connection settings in effect, as {@link SqliteDriver.settings} reports them. */
export interface SqliteSettings {
  /** `'wal'` for a file; SQLite keeps `':memory:'` databases in `'memory'` mode. */
  readonly journalMode: string;
  readonly synchronous: 'off' | 'normal' | 'full' | 'extra';
  readonly busyTimeoutMs: number;
  /** `PRAGMA user_version`: the number of migrations applied. */
  readonly schemaVersion: number;
}

const SYNCHRONOUS = ['off', 'normal', 'full', 'extra'] as const;

/** Reads the settings of a connection. */
export function readSettings(db: Database.Database): SqliteSettings {
  return {
    journalMode: db.pragma('journal_mode', { simple: true }) as string,
    synchronous: SYNCHRONOUS[db.pragma('synchronous', { simple: true }) as number] ?? 'full',
    busyTimeoutMs: db.pragma('busy_timeout', { simple: true }) as number,
    schemaVersion: userVersion(db),
  };
}
