/**
 * Writing events and the deliveries they owe (publish, with dedupe), and checking names against the
 * catalog. Runs inside the driver's transaction, under the writers' lock.
 */
import type { AppendOutcome, AppendRequest } from '../driver.js';
import { code, type CountersRow } from '../rows.js';
import { DELIVERY_INSERT, deliveryRows, planDeliveries, rows, type DeliveryInsert, type Sql } from './sql.js';

/** A subscription as an append sees it: its bus, and its sid when it is read by cursor. */
export interface Target {
  readonly bus: string;
  readonly sid: number | null;
}

/** A catalog row as {@link CATALOG_ROWS} reads it. */
interface CatalogRow {
  kind: string;
  name: string;
  bus: string | null;
  sid: number | null;
}

/** The buses (`$1`) and subscriptions (`$2`) named, as {@link CatalogRow}s. */
const CATALOG_ROWS = `SELECT 'bus' AS kind, name, NULL AS bus, NULL::bigint AS sid FROM buses WHERE name = ANY($1::text[])
  UNION ALL SELECT 'subscription', name, bus, CASE WHEN by_cursor THEN sid END FROM subscriptions
    WHERE name = ANY($2::text[])`;

/** Throws unless every bus and subscription (on its bus) was found; returns the subscriptions. */
function verifyCatalog(
  found: readonly CatalogRow[],
  buses: ReadonlySet<string>,
  pairs: ReadonlyArray<{ readonly subscription: string; readonly bus: string }>,
): Map<string, Target> {
  const knownBuses = new Set(found.filter((r) => r.kind === 'bus').map((r) => r.name));
  for (const bus of buses) {
    if (!knownBuses.has(bus)) throw new Error(`Expected an existing bus, got unknown bus ${code(bus)}`);
  }
  const targets = new Map<string, Target>(
    found.filter((r) => r.kind === 'subscription').map((r) => [r.name, { bus: r.bus!, sid: r.sid }]),
  );
  for (const { subscription, bus } of pairs) {
    const found = targets.get(subscription)?.bus;
    if (found === bus) continue;
    throw new Error(
      found === undefined
        ? `Expected an existing subscription, got unknown subscription ${code(subscription)}`
        : `Expected subscription ${code(subscription)} to be on bus ${code(bus)}, got bus ${code(found)}`,
    );
  }
  return targets;
}

/**
 * Checks bus and subscription names against the catalog, in one query per call; returns the
 * subscriptions found.
 */
export async function checkCatalog(
  sql: Sql,
  buses: ReadonlySet<string>,
  pairs: ReadonlyArray<{ readonly subscription: string; readonly bus: string }>,
): Promise<Map<string, Target>> {
  const names = [...new Set(pairs.map((p) => p.subscription))];
  const found = await rows<CatalogRow>(sql, 'check_catalog', CATALOG_ROWS, [[...buses], names]);
  return verifyCatalog(found, buses, pairs);
}

/** What dedupe knows of a bus + source + id: its newest archived event, and a purged acceptance. */
interface Acceptance {
  readonly seq: number | null;
  readonly at: number | null;
  readonly purgedAt: number | null;
}

/** The dedupe key of a bus + source + id. */
const keyOf = (bus: string, source: string, id: string): string => `${bus}\u0000${source}\u0000${id}`;

/**
 * Checks the catalog (see {@link checkCatalog}) and reads what dedupe knows of each bus + source + id in
 * `keys` (three parallel arrays) that was accepted before, by {@link keyOf}, in one round trip. Dedupe
 * reads the archive (see ../sqlite/schema.ts): the newest event of the key is its latest acceptance,
 * and a purged one may have left its acceptance behind.
 */
async function catalogAndAcceptances(
  sql: Sql,
  buses: ReadonlySet<string>,
  pairs: ReadonlyArray<{ readonly subscription: string; readonly bus: string }>,
  keys: string[][],
): Promise<{ targets: Map<string, Target>; accepted: Map<string, Acceptance> }> {
  const names = [...new Set(pairs.map((p) => p.subscription))];
  const found = await rows<
    CatalogRow & {
      n: number | string | null;
      seq: number | null;
      at: number | null;
      purged_at: number | null;
    }
  >(
    sql,
    'catalog_and_acceptances',
    `SELECT c.*, NULL::bigint AS n, NULL::bigint AS seq, NULL::bigint AS at, NULL::bigint AS purged_at
     FROM (${CATALOG_ROWS}) c
     UNION ALL
     SELECT 'accepted', NULL, k.bus, NULL, k.n, l.seq, l.published_at, p.accepted_at
     FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS k(bus, source, id, n)
     LEFT JOIN LATERAL (SELECT e.seq, e.published_at FROM events e
       WHERE e.bus = k.bus AND e.id = k.id AND e.source = k.source ORDER BY e.seq DESC LIMIT 1) l ON true
     LEFT JOIN purged_acceptances p ON p.bus = k.bus AND p.source = k.source AND p.id = k.id
     WHERE l.seq IS NOT NULL OR p.accepted_at IS NOT NULL`,
    [[...buses], names, ...keys],
  );
  // Each acceptance found is of the key at its (1-based) place `n` in `keys`: text read back may differ
  // from the text sent (a lone surrogate is stored as U+FFFD), and dedupe must match as stored.
  const accepted = new Map<string, Acceptance>();
  for (const row of found) {
    if (row.kind !== 'accepted') continue;
    const n = Number(row.n) - 1;
    accepted.set(keyOf(keys[0]![n]!, keys[1]![n]!, keys[2]![n]!), {
      seq: row.seq,
      at: row.at,
      purgedAt: row.purged_at,
    });
  }
  return { targets: verifyCatalog(found, buses, pairs), accepted };
}

/**
 * Appends the requests (see `StorageDriver.append`) under the writers' lock, whose `counters` the
 * caller read. `wake.payload` makes the notification (sent on `wake.channel` at commit) from the
 * subscriptions that got deliveries and the `seq` range stored per bus. Three round trips at most:
 * the catalog with dedupe, partition heads (only for events with a partition key), and one statement
 * that writes everything.
 */
export async function append(
  sql: Sql,
  counters: CountersRow,
  requests: readonly AppendRequest[],
  now: number,
  wake: {
    readonly channel: string;
    readonly payload: (subscriptions: Set<string>, stored: Map<string, { from: number; to: number }>) => string;
  },
): Promise<AppendOutcome[][]> {
  const buses = new Set(requests.map((r) => r.bus));
  const pairs: Array<{ subscription: string; bus: string }> = [];
  const keys: string[][] = [[], [], []];
  for (const request of requests) {
    for (const event of request.events) {
      for (const subscription of event.subscriptions) pairs.push({ subscription, bus: request.bus });
      // Busbar just gave it its id: nothing earlier can have it.
      if (event.idAssigned === true) continue;
      keys[0]!.push(request.bus);
      keys[1]!.push(event.source);
      keys[2]!.push(event.id);
    }
  }
  const { targets, accepted } = await catalogAndAcceptances(sql, buses, pairs, keys);
  const floor = counters.dedupe_floor;
  const within = (at: number | null, cutoff: number) => at !== null && at > cutoff && at >= floor;

  let seq = counters.next_seq;
  const hwm = Math.max(counters.published_hwm, now);
  const outcomes: AppendOutcome[][] = [];
  const events: unknown[][] = [[], [], [], [], [], [], [], [], [], [], []];
  const deliveries: DeliveryInsert[] = [];
  // Matched events per subscription read by cursor (added to its `matched`), and their delivery ids,
  // reserved first in each event: `delivery_base` + the position in `subs`.
  const matched = new Map<string, { first: number; count: number }>();
  let deliveryId = counters.next_delivery_id;
  const totals = new Map<string, { events: number; bytes: number }>();
  for (const request of requests) {
    const results: AppendOutcome[] = [];
    const cutoff = now - request.dedupeWindowMs;
    for (const event of request.events) {
      const key = keyOf(request.bus, event.source, event.id);
      const latest = accepted.get(key);
      if (latest !== undefined && within(latest.at, cutoff)) {
        results.push({ status: 'duplicate', seq: latest.seq });
        continue;
      }
      if (latest !== undefined && within(latest.purgedAt, cutoff)) {
        results.push({ status: 'duplicate', seq: null });
        continue;
      }
      accepted.set(key, { seq, at: now, purgedAt: latest?.purgedAt ?? null });
      const subscriptions = event.subscriptions.length > 1 ? new Set(event.subscriptions) : event.subscriptions;
      const sids: number[] = [];
      for (const subscription of subscriptions) {
        const sid = targets.get(subscription)!.sid;
        if (sid === null) {
          deliveries.push({ subscription, seq, key: event.partitionKey, replayId: null, redriveOf: null });
        } else {
          sids.push(sid);
          const counted = matched.get(subscription);
          if (counted === undefined) matched.set(subscription, { first: seq, count: 1 });
          else counted.count++;
        }
      }
      const columns = [
        seq,
        request.bus,
        event.id,
        event.source,
        event.type,
        event.time,
        event.partitionKey,
        event.size,
        event.body,
        sids.length === 0 ? null : `{${sids.join(',')}}`,
        sids.length === 0 ? null : deliveryId,
      ];
      deliveryId += sids.length;
      columns.forEach((value, i) => events[i]!.push(value));
      const total = totals.get(request.bus) ?? { events: 0, bytes: 0 };
      total.events++;
      total.bytes += event.size;
      totals.set(request.bus, total);
      results.push({ status: 'accepted', seq });
      seq++;
    }
    outcomes.push(results);
  }
  // Only stored events carry the high-water mark; an all-duplicate call changes nothing.
  if (seq === counters.next_seq) return outcomes;

  const planned = await planDeliveries(sql, deliveries, deliveryId);
  const busNames = [...totals.keys()];
  const woken = new Set([...deliveries.map((d) => d.subscription), ...matched.keys()]);
  const stored = new Map<string, { from: number; to: number }>();
  for (let i = 0; i < events[0]!.length; i++) {
    const [seqOf, bus] = [events[0]![i] as number, events[1]![i] as string];
    const range = stored.get(bus);
    if (range === undefined) stored.set(bus, { from: seqOf, to: seqOf });
    else range.to = seqOf;
  }
  await sql.query({
    name: 'append',
    text: `WITH stored AS (
         INSERT INTO events (seq, bus, id, source, type, time, published_at, published_hwm, partition_key, size, body,
           subs, delivery_base)
         SELECT seq, bus, id, source, type, time, $12, $13, partition_key, size, body, subs::bigint[], delivery_base
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
           $8::integer[], $9::text[], $10::text[], $11::bigint[])
           AS e(seq, bus, id, source, type, time, partition_key, size, body, subs, delivery_base)
       ),
       owed AS (${DELIVERY_INSERT} ${deliveryRows(14, 12)}),
       totals AS (
         INSERT INTO archive_totals (bus, events, bytes) SELECT * FROM unnest($21::text[], $22::bigint[], $23::bigint[])
         ON CONFLICT (bus) DO UPDATE SET events = archive_totals.events + excluded.events,
           bytes = archive_totals.bytes + excluded.bytes
       ),
       -- A subscription with nothing unclaimed (as of before this statement) has every earlier match in
       -- rows: its scans may start just before this append's first match, so that none walks the stretch
       -- it did not match. (Noted here, not on its cursor row, which a claim may hold.)
       counted AS (
         UPDATE subscriptions s SET matched = s.matched + m.n,
           scan_from = CASE WHEN s.matched = (SELECT c.claimed FROM cursors c WHERE c.subscription = s.name)
             THEN greatest(s.scan_from, m.first - 1) ELSE s.scan_from END
         FROM unnest($29::text[], $30::bigint[], $31::bigint[]) AS m(name, n, first) WHERE s.name = m.name
       ),
       moved AS (
         UPDATE counters SET next_seq = $24, next_delivery_id = $25, published_hwm = $13, max_backstep = $26 WHERE id = 1
       )
     SELECT CASE WHEN $28::text <> '' THEN pg_notify($27, $28) END`,
    values: [
      ...events,
      now,
      hwm,
      ...planned.columns,
      busNames,
      busNames.map((b) => totals.get(b)!.events),
      busNames.map((b) => totals.get(b)!.bytes),
      seq,
      planned.nextId,
      Math.max(counters.max_backstep, counters.published_hwm - now),
      wake.channel,
      wake.payload(woken, stored),
      [...matched.keys()],
      [...matched.values()].map((m) => m.count),
      [...matched.values()].map((m) => m.first),
    ],
  });
  return outcomes;
}
