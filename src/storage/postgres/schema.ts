/**
 * The PostgreSQL schema as numbered migrations, applied under an advisory lock so that several nodes
 * starting at once migrate one after another (the later ones find nothing left to do).
 *
 * The layout follows the SQLite driver's (see ../sqlite/schema.ts for the design notes: the counters
 * row, heads of partitions, `published_hwm`, dedupe read from the archive). What differs:
 * - The `counters` row is also the writers' lock: every transaction that creates events or deliveries
 *   (append, redrive, a replay step) updates it first, so `seq` and delivery ids increase in commit
 *   order across nodes, dedupe sees every earlier acceptance, and a new delivery's `head` is decided
 *   against committed rows. A completion that hands a partition to its next delivery takes the same
 *   lock before it looks for that delivery.
 * - Claims read due rows with `FOR UPDATE SKIP LOCKED`, so nodes claiming at once never take the same row.
 * - `attempts.n` orders attempts in recording order (SQLite uses its rowid).
 * - `meta.version` counts the migrations applied (SQLite's `user_version`).
 * - Cursor subscriptions (v2, see ../sqlite/schema.ts): `events.subs` is an array of sids. A
 *   subscription's cursor and the count of events turned into rows (`cursors.claimed`) live apart
 *   from the count of matched events (`subscriptions.matched`), so that a publish (which raises
 *   `matched` under the writers' lock) never waits for a claim (which holds the cursor row), nor a
 *   claim for a publish's commit. For the same reason a caught-up subscription's next match is noted
 *   on `subscriptions.scan_from` (scans start there when it is past the cursor) rather than moving
 *   the cursor.
 */
import type { PoolClient } from 'pg';

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE counters (
    id integer PRIMARY KEY CHECK (id = 1),
    next_seq bigint NOT NULL,
    next_delivery_id bigint NOT NULL,
    published_hwm bigint NOT NULL,
    max_backstep bigint NOT NULL,
    dedupe_floor bigint NOT NULL
  );
  INSERT INTO counters VALUES (1, 1, 1, 0, 0, -9007199254740991);

  CREATE TABLE buses (
    name text PRIMARY KEY,
    retention_max_age_ms bigint,
    retention_max_bytes bigint,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
  );

  CREATE TABLE subscriptions (
    name text PRIMARY KEY,
    bus text NOT NULL,
    pattern text NOT NULL,
    target text NOT NULL,
    delivery text NOT NULL,
    paused boolean NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
  );
  CREATE INDEX subscriptions_by_bus ON subscriptions (bus, name);

  CREATE TABLE events (
    seq bigint PRIMARY KEY,
    bus text NOT NULL,
    id text NOT NULL,
    source text NOT NULL,
    type text NOT NULL,
    time text NOT NULL,
    published_at bigint NOT NULL,
    published_hwm bigint NOT NULL,
    partition_key text,
    size integer NOT NULL,
    body text NOT NULL
  );
  CREATE INDEX events_by_time ON events (bus, published_hwm, seq) INCLUDE (published_at);
  CREATE INDEX events_by_id ON events (bus, id);

  CREATE TABLE archive_totals (
    bus text PRIMARY KEY,
    events bigint NOT NULL,
    bytes bigint NOT NULL
  );

  CREATE TABLE purged_acceptances (
    bus text NOT NULL,
    source text NOT NULL,
    id text NOT NULL,
    accepted_at bigint NOT NULL,
    PRIMARY KEY (bus, source, id)
  );

  CREATE TABLE deliveries (
    id bigint PRIMARY KEY,
    subscription text NOT NULL,
    event_seq bigint NOT NULL,
    state text NOT NULL,
    head smallint NOT NULL,
    attempt_count integer NOT NULL,
    available_at bigint NOT NULL,
    due_at bigint,
    lease_token text,
    leased_at bigint,
    lease_until bigint,
    enqueued_at bigint NOT NULL,
    replay_id text,
    redrive_of bigint,
    dead_reason text,
    dead_at bigint,
    partition_key text
  );
  CREATE INDEX deliveries_due ON deliveries (subscription, head, due_at, id) INCLUDE (state, enqueued_at)
    WHERE state IN ('pending', 'leased');
  CREATE INDEX deliveries_partition ON deliveries (subscription, partition_key, id)
    WHERE state IN ('pending', 'leased') AND partition_key IS NOT NULL;
  CREATE INDEX deliveries_dead ON deliveries (subscription, id) WHERE state = 'dead';
  CREATE INDEX deliveries_by_event ON deliveries (event_seq);

  CREATE TABLE attempts (
    n bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL,
    attempt integer NOT NULL,
    started_at bigint NOT NULL,
    duration_ms double precision NOT NULL,
    outcome text NOT NULL,
    error_message text,
    error_code text,
    error_name text,
    http_status integer,
    response_body text
  );
  CREATE INDEX attempts_by_delivery ON attempts (delivery_id, n);

  CREATE TABLE replays (
    id text PRIMARY KEY,
    bus text NOT NULL,
    from_ms bigint NOT NULL,
    to_ms bigint NOT NULL,
    pattern text,
    subscriptions text,
    skip_delivered boolean NOT NULL,
    rate_per_sec double precision,
    state text NOT NULL,
    cursor bigint NOT NULL,
    scanned bigint NOT NULL,
    enqueued bigint NOT NULL,
    error text,
    owner text,
    lease_until bigint,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
  );
  CREATE INDEX replays_by_bus ON replays (bus, created_at);
  `,
  // v2: unordered subscriptions read the events by cursor (see ./cursors.ts).
  `
  ALTER TABLE counters ADD COLUMN next_sid bigint NOT NULL DEFAULT 1;
  ALTER TABLE subscriptions ADD COLUMN sid bigint, ADD COLUMN by_cursor boolean NOT NULL DEFAULT false,
    ADD COLUMN matched bigint NOT NULL DEFAULT 0, ADD COLUMN scan_from bigint NOT NULL DEFAULT 0;
  ALTER TABLE events ADD COLUMN subs bigint[], ADD COLUMN delivery_base bigint;
  CREATE TABLE cursors (
    subscription text PRIMARY KEY,
    cursor bigint NOT NULL,
    claimed bigint NOT NULL
  );
  -- Existing subscriptions keep the rows they have; from now on, the unordered ones read by cursor.
  UPDATE subscriptions s SET sid = n.sid,
    by_cursor = NOT coalesce((s.delivery::jsonb ->> 'ordered')::boolean, false)
  FROM (SELECT name, row_number() OVER (ORDER BY name) AS sid FROM subscriptions) n WHERE n.name = s.name;
  INSERT INTO cursors SELECT name, (SELECT next_seq - 1 FROM counters), 0 FROM subscriptions;
  UPDATE counters SET next_sid = (SELECT count(*) + 1 FROM subscriptions);
  `,
  // v3: a first attempt that succeeded is kept on its delivery's row, not in \`attempts\` (see
  // isInlineAttempt in ../rows.ts).
  `
  ALTER TABLE deliveries ADD COLUMN first_started_at bigint, ADD COLUMN first_duration_ms double precision,
    ADD COLUMN first_http_status integer;
  `,
];

/** The schema version this code writes: the number of {@link MIGRATIONS}. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The advisory lock key that serialises migrations of one schema (any number, shared by all nodes). */
const MIGRATION_LOCK = 0x62757362; // "busb"

/** Quotes an identifier for SQL text. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates the schema when missing and applies the migrations it lacks, in one transaction holding a
 * transaction-scoped advisory lock (keyed by schema): nodes starting together wait for each other, and
 * a crash mid-way rolls back to the previous version. Fails, changing nothing, when the schema was
 * written by a newer Busbar.
 *
 * @returns the version found before migrating
 */
export async function migrateSchema(client: PoolClient, schema: string): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS meta (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)',
    );
    await client.query('INSERT INTO meta VALUES (1, 0) ON CONFLICT (id) DO NOTHING');
    const found = (await client.query<{ version: number }>('SELECT version FROM meta WHERE id = 1')).rows[0]!.version;
    if (found > SCHEMA_VERSION) {
      throw new Error(
        `Expected a Busbar PostgreSQL schema of version ${SCHEMA_VERSION} or older in schema ${quoteIdent(schema)}, ` +
          `got version ${found}: the database was written by a newer Busbar`,
      );
    }
    for (let version = found; version < SCHEMA_VERSION; version++) await client.query(MIGRATIONS[version]!);
    if (found < SCHEMA_VERSION) await client.query('UPDATE meta SET version = $1 WHERE id = 1', [SCHEMA_VERSION]);
    await client.query('COMMIT');
    return found;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The schema version recorded in `meta`, or 0 before the first migration. */
export async function schemaVersion(client: PoolClient): Promise<number> {
  // Two statements: a query naming `meta` fails when it is planned, whatever a CASE around it says.
  const { rows: found } = await client.query<{ meta: string | null }>(`SELECT to_regclass('meta')::text AS meta`);
  if (found[0]?.meta == null) return 0;
  const { rows } = await client.query<{ version: number }>('SELECT version FROM meta WHERE id = 1');
  return rows[0]?.version ?? 0;
}
