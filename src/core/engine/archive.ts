/**
 * Reading the archive: paged queries filtered by time, type, source and pattern, and the lineage of
 * one event.
 */
import { BusError, describeValue } from '../errors.js';
import type { CloudEvent } from '../events.js';
import { PatternIndex, validatePattern } from '../../patterns/index.js';
import type { DeliveryTrace, StoredEvent } from '../../storage/driver.js';
import { parseCursor, type EngineHooks } from './hooks.js';

/** What {@link queryArchive} selects. */
export interface ArchiveQueryInput {
  /** Published at or after (ms). */
  from?: number;
  /** Published at or before (ms). */
  to?: number;
  type?: string;
  source?: string;
  /** Only events matching this EventBridge pattern. */
  pattern?: string | object;
  /** @default 100 (at most 1000) */
  limit?: number;
  /** The `cursor` of the previous page. */
  cursor?: string;
}

export interface ArchivePage {
  readonly events: CloudEvent[];
  /** Pass back for the next page; null at the end. */
  readonly cursor: string | null;
}

/** One stored event with every delivery it was owed. */
export interface EventLineage {
  readonly event: CloudEvent;
  readonly publishedAt: number;
  readonly deliveries: DeliveryTrace[];
  /** Subscriptions whose pattern matches the event today. */
  readonly matchesNow: string[];
}

/** One page of a bus's archive (the bus is known to exist). */
export async function queryArchive(hooks: EngineHooks, bus: string, query: ArchiveQueryInput): Promise<ArchivePage> {
  const limit = query.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`limit\` to be an integer from 1 to 1000, got ${describeValue(limit)}`,
    );
  }
  const index = new PatternIndex();
  if (query.pattern !== undefined) {
    validatePattern(query.pattern);
    index.add('q', query.pattern);
  }
  let afterSeq = query.cursor === undefined ? undefined : parseCursor(query.cursor);
  const out: StoredEvent[] = [];
  // Pattern filtering happens here, so pages are read until this one is full or the archive ends.
  for (;;) {
    const page = await hooks.storage(() =>
      hooks.driver.queryArchive(bus, {
        from: query.from,
        to: query.to,
        type: query.type,
        source: query.source,
        afterSeq,
        limit,
      }),
    );
    for (const e of page) {
      afterSeq = e.seq;
      if (query.pattern === undefined || index.match(e.body).length > 0) out.push(e);
      if (out.length === limit) break;
    }
    if (out.length === limit || page.length < limit) break;
  }
  return {
    events: out.map((e) => JSON.parse(e.body) as CloudEvent),
    cursor: out.length === limit && afterSeq !== undefined ? String(afterSeq) : null,
  };
}

/** The lineage of every event with this id on the bus; `NOT_FOUND` when there is none. */
export async function lineage(
  hooks: EngineHooks,
  index: PatternIndex,
  bus: string,
  id: string,
): Promise<EventLineage[]> {
  const events = await hooks.storage(() => hooks.driver.eventsById(bus, id));
  if (events.length === 0)
    throw new BusError('NOT_FOUND', `No event with id ${describeValue(id)} in the archive of bus "${bus}"`);
  const out: EventLineage[] = [];
  for (const e of events) {
    const deliveries = await hooks.storage(() => hooks.driver.deliveriesOf(e.seq));
    out.push({
      event: JSON.parse(e.body) as CloudEvent,
      publishedAt: e.publishedAt,
      deliveries,
      matchesNow: index.match(e.body),
    });
  }
  return out;
}
