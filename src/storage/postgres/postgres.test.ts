/**
 * What the PostgreSQL driver does beyond the shared conformance suite: migrations when several nodes
 * start at once and on a newer schema, its URL options, notifications (`watch`) surviving a lost
 * connection, and dedupe between nodes publishing the same events at once.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoreChange, SubscriptionRecord } from '../driver.js';
import { BUS, DEFAULT_DELIVERY_POLICY, T0, makeBus, makeEvent, makeSubscription } from '../conformance/fixtures.js';
import { openPostgres, type PostgresDriver } from './index.js';
import { MIGRATIONS, SCHEMA_VERSION, quoteIdent } from './schema.js';
import { TEST_POSTGRES_URL, dropSchema, freshSchema, postgresUnavailable, testUrl } from './testing.js';

const unavailable = await postgresUnavailable();

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function eventually(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not reached within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('openPostgres options', () => {
  it('rejects a URL that is not postgres://, a bad schema name and a bad pool size, saying which', () => {
    expect(() => openPostgres({ url: 'mysql://x' })).toThrow('Expected `url` to be a postgres:// URL, got "mysql://x"');
    expect(() => openPostgres({ url: 'not a url' })).toThrow('Expected `url` to be a postgres:// URL');
    expect(() => openPostgres({ url: 'postgres://h/db?schema=Orders' })).toThrow(
      'Expected the schema name to be 1 to 63 lowercase letters, digits or "_" (not starting with a digit), got "Orders"',
    );
    expect(() => openPostgres({ url: 'postgres://h/db?pool=0' })).toThrow(
      'Expected the pool size to be an integer from 1 to 1000, got "0"',
    );
  });

  it('takes the schema from the URL, else busbar', () => {
    expect(openPostgres({ url: 'postgres://h/db?schema=bus_1' }).schema).toBe('bus_1');
    expect(openPostgres({ url: 'postgres://h/db' }).schema).toBe('busbar');
  });
});

describe.skipIf(unavailable !== null)('the PostgreSQL driver', () => {
  const schemas: string[] = [];
  const drivers: PostgresDriver[] = [];
  const open = (schema: string): PostgresDriver => {
    const driver = openPostgres({ url: testUrl(schema), poolSize: 2 });
    drivers.push(driver);
    return driver;
  };

  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((d) => d.close()));
    for (const schema of schemas.splice(0)) await dropSchema(schema);
  });

  it('migrates once when several nodes start at once, and again is a no-op', async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const nodes = Array.from({ length: 5 }, () => open(schema));
    await Promise.all(nodes.map((d) => d.migrate()));
    await nodes[0]!.migrate();
    const version = await admin(
      async (c) => (await c.query<{ version: number }>(`SELECT version FROM ${quoteIdent(schema)}.meta`)).rows,
    );
    expect(version).toEqual([{ version: SCHEMA_VERSION }]);
    await nodes[1]!.putBus(makeBus());
    expect((await nodes[4]!.listBuses()).map((b) => b.name)).toEqual([BUS]);
  });

  it('refuses a schema written by a newer Busbar, and work before migrate()', async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const fresh = open(schema);
    await expect(fresh.listBuses()).rejects.toThrow(
      `Expected the PostgreSQL schema "${schema}" at version ${SCHEMA_VERSION}, got version 0: call migrate() first`,
    );
    await fresh.migrate();
    await admin((c) => c.query(`UPDATE ${quoteIdent(schema)}.meta SET version = 99`));
    await expect(open(schema).migrate()).rejects.toThrow(
      `Expected a Busbar PostgreSQL schema of version ${SCHEMA_VERSION} or older in schema "${schema}", got version 99: the database was written by a newer Busbar`,
    );
  });

  it('tells watchers what other nodes did, not its own, and comes back after its connection is killed', async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const [a, b] = [open(schema), open(schema)];
    await a.migrate();
    const told: StoreChange[] = [];
    const stop = await b.watch((change) => told.push(change));
    const own: StoreChange[] = [];
    const stopOwn = await a.watch((change) => own.push(change));

    await a.putBus(makeBus());
    await a.putSubscription(makeSubscription('s'));
    await a.append([{ bus: BUS, events: [makeEvent('e-1', { subscriptions: ['s'] })], dedupeWindowMs: 0 }], 1);
    await eventually(() => told.some((c) => c.kind === 'published'));
    expect(told).toEqual([
      { kind: 'catalog' },
      { kind: 'catalog' },
      { kind: 'due', subscriptions: ['s'] },
      { kind: 'published', bus: BUS, fromSeq: 1, toSeq: 1 },
    ]);
    expect(own).toEqual([]);

    // Kill every LISTEN connection of this schema's channel: the watcher reconnects and says resync.
    told.length = 0;
    await admin((c) =>
      c.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'busbar' AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
      ),
    );
    await eventually(() => told.some((c) => c.kind === 'resync'));
    await a.append([{ bus: BUS, events: [makeEvent('e-2', { subscriptions: ['s'] })], dedupeWindowMs: 0 }], 2);
    await eventually(() => told.some((c) => c.kind === 'published'));
    expect(told.filter((c) => c.kind !== 'resync')).toEqual([
      { kind: 'due', subscriptions: ['s'] },
      { kind: 'published', bus: BUS, fromSeq: 2, toSeq: 2 },
    ]);
    await stop();
    await stopOwn();
  });

  /** A migrated driver on a fresh schema, with the test bus and the given subscriptions. */
  async function withSubscriptions(...subscriptions: SubscriptionRecord[]) {
    const schema = freshSchema();
    schemas.push(schema);
    const d = open(schema);
    await d.migrate();
    await d.putBus(makeBus());
    for (const sub of subscriptions) await d.putSubscription(sub);
    return { d, schema };
  }

  it('dedupes across nodes: the same keys published at once from two nodes are stored once', async () => {
    const { d: first, schema } = await withSubscriptions(makeSubscription('a'));
    const second = open(schema);
    // Twenty rounds of 50 keys, each sent by both nodes at once: whichever commits second must see
    // every key of the first (dedupe reads under the writers' lock).
    let duplicates = 0;
    for (let round = 0; round < 20; round++) {
      const events = Array.from({ length: 50 }, (_, i) => makeEvent(`r${round}-${i}`, { subscriptions: ['a'] }));
      const outcomes = await Promise.all(
        [first, second].map((d) => d.append([{ bus: BUS, events, dedupeWindowMs: 60_000 }], T0 + round)),
      );
      for (const [results] of outcomes) duplicates += results!.filter((o) => o.status === 'duplicate').length;
    }
    expect(duplicates).toBe(1_000);
    expect(await first.subscriptionStats('a')).toMatchObject({ backlog: 1_000 });
    expect((await first.queryArchive(BUS, { limit: 2_000 })).length).toBe(1_000);
  });

  it('writes delivery rows at publish for ordered subscriptions only; a claim makes the others', async () => {
    const { d, schema } = await withSubscriptions(
      makeSubscription('a'),
      makeSubscription('fifo', { delivery: { ...DEFAULT_DELIVERY_POLICY, ordered: true } }),
    );
    const events = ['e-1', 'e-2', 'e-3'].map((id) => makeEvent(id, { subscriptions: ['a', 'fifo'] }));
    await d.append([{ bus: BUS, events, dedupeWindowMs: 0 }], T0);
    const rowsOf = async () =>
      admin(async (c) => {
        const found = await c.query<{ subscription: string; n: string }>(
          `SELECT subscription, count(*) AS n FROM ${quoteIdent(schema)}.deliveries GROUP BY 1 ORDER BY 1`,
        );
        return found.rows.map((r) => [r.subscription, Number(r.n)]);
      });
    expect(await rowsOf()).toEqual([['fifo', 3]]);
    expect(await d.subscriptionStats('a')).toEqual({ backlog: 3, inFlight: 0, dead: 0, oldestPendingAt: T0 });
    expect((await d.claim('a', { max: 2, leaseMs: 1000, ordered: false }, T0 + 1)).map((c) => c.event.id)).toEqual([
      'e-1',
      'e-2',
    ]);
    expect(await rowsOf()).toEqual([
      ['a', 2],
      ['fifo', 3],
    ]);
  });

  it("notes where a caught-up subscription's next match is, so scans start there", async () => {
    const { d, schema } = await withSubscriptions(makeSubscription('a'), makeSubscription('rare'));
    const scanFrom = () =>
      admin(
        async (c) =>
          (
            await c.query<{ scan_from: number }>(
              `SELECT scan_from::int FROM ${quoteIdent(schema)}.subscriptions WHERE name = 'rare'`,
            )
          ).rows[0]!.scan_from,
      );
    const many = Array.from({ length: 1000 }, (_, i) => makeEvent(`e-${i}`, { subscriptions: ['a'] }));
    await d.append([{ bus: BUS, events: many, dedupeWindowMs: 0 }], T0);
    const [outcomes] = await d.append(
      [{ bus: BUS, events: [makeEvent('r-1', { subscriptions: ['a', 'rare'] })], dedupeWindowMs: 0 }],
      T0 + 1,
    );
    const first = outcomes![0]!.seq!;
    expect(await scanFrom()).toBe(first - 1);
    // With something unclaimed it stays: the next claim starts there.
    await d.append([{ bus: BUS, events: [makeEvent('r-2', { subscriptions: ['rare'] })], dedupeWindowMs: 0 }], T0 + 2);
    expect(await scanFrom()).toBe(first - 1);
    const claimed = await d.claim('rare', { max: 10, leaseMs: 1000, ordered: false }, T0 + 3);
    expect(claimed.map((c) => c.event.id)).toEqual(['r-1', 'r-2']);
  });

  it('upgrading a version-1 schema keeps its deliveries and reads later events by cursor', async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const policy = JSON.stringify(DEFAULT_DELIVERY_POLICY);
    const fifo = JSON.stringify({ ...DEFAULT_DELIVERY_POLICY, ordered: true });
    await admin(async (c) => {
      await c.query(`CREATE SCHEMA ${quoteIdent(schema)}; SET search_path TO ${quoteIdent(schema)}`);
      await c.query(MIGRATIONS[0]!);
      await c.query(`CREATE TABLE meta (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL);
        INSERT INTO meta VALUES (1, 1);
        INSERT INTO buses VALUES ('${BUS}', NULL, NULL, ${T0}, ${T0});
        INSERT INTO subscriptions VALUES ('a', '${BUS}', '{}', '{}', '${policy}', false, ${T0}, ${T0}),
          ('fifo', '${BUS}', '{}', '{}', '${fifo}', false, ${T0}, ${T0});
        INSERT INTO events (seq, bus, id, source, type, time, published_at, published_hwm, size, body)
          VALUES (1, '${BUS}', 'e-1', '/shop', 'order.placed', '', ${T0}, ${T0}, 2, '{}');
        INSERT INTO deliveries (id, subscription, event_seq, state, head, attempt_count, available_at, due_at,
          enqueued_at) VALUES (1, 'a', 1, 'pending', 1, 0, ${T0}, ${T0}, ${T0}),
          (2, 'fifo', 1, 'pending', 1, 0, ${T0}, ${T0}, ${T0});
        UPDATE counters SET next_seq = 2, next_delivery_id = 3;`);
    });
    const d = open(schema);
    await d.migrate();
    const modes = await admin(
      async (c) =>
        (
          await c.query<{ name: string; sid: number; by_cursor: boolean; cursor: number }>(
            `SELECT s.name, s.sid::int, s.by_cursor, c.cursor::int FROM ${quoteIdent(schema)}.subscriptions s
             JOIN ${quoteIdent(schema)}.cursors c ON c.subscription = s.name ORDER BY 1`,
          )
        ).rows,
    );
    expect(modes).toEqual([
      { name: 'a', sid: 1, by_cursor: true, cursor: 1 },
      { name: 'fifo', sid: 2, by_cursor: false, cursor: 1 },
    ]);
    await d.append(
      [{ bus: BUS, events: [makeEvent('e-2', { subscriptions: ['a', 'fifo'] })], dedupeWindowMs: 0 }],
      T0 + 1,
    );
    const claimed = await d.claim('a', { max: 10, leaseMs: 1000, ordered: false }, T0 + 2);
    expect(claimed.map((c) => [c.deliveryId, c.event.id])).toEqual([
      [1, 'e-1'],
      [3, 'e-2'],
    ]);
    expect((await d.claim('fifo', { max: 10, leaseMs: 1000, ordered: true }, T0 + 2)).map((c) => c.deliveryId)).toEqual(
      [2, 4],
    );
  });
});
