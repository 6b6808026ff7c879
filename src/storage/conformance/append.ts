/**
 * Conformance: `append` — seqs, outcomes, owed deliveries, dedupe and atomicity.
 */
import { expect } from 'vitest';
import type { AppendRequest } from '../driver.js';
import { BUS, DEDUPE_WINDOW_MS, T0, makeEvent, publish, setup } from './fixtures.js';
import type { ConformanceSuite } from './suite.js';

const HOUR = 3_600_000;

/** One request on {@link BUS} with a one-hour dedupe window. */
function request(events: AppendRequest['events'], bus = BUS, dedupeWindowMs = HOUR): AppendRequest {
  return { bus, events, dedupeWindowMs };
}

/** Registers the append tests. */
export function appendTests(s: ConformanceSuite): void {
  s.area('append', () => {
    s.test('accepted events get increasing seqs in commit order', async (d) => {
      await setup(d, []);
      await setup(d, [], 'audit');
      const first = await d.append(
        [request([makeEvent('e-1'), makeEvent('e-2')]), request([makeEvent('e-3')], 'audit')],
        T0,
      );
      const second = await d.append([request([makeEvent('e-4')])], T0 + 1);
      const seqs = [...first, ...second].flat().map((outcome) => {
        expect(outcome.status).toBe('accepted');
        return outcome.seq ?? Number.NaN;
      });
      expect(seqs).toHaveLength(4);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] ?? Infinity);
    });

    s.test('returns one outcome list per request, in request order', async (d) => {
      await setup(d, []);
      expect(await d.append([], T0)).toEqual([]);
      const outcomes = await d.append(
        [request([makeEvent('e-1'), makeEvent('e-2')]), request([]), request([makeEvent('e-3')])],
        T0,
      );
      expect(outcomes.map((list) => list.map((o) => o.status))).toEqual([['accepted', 'accepted'], [], ['accepted']]);
    });

    s.test('stores every field of the event with publishedAt = now', async (d) => {
      await setup(d, []);
      const event = makeEvent('e-1', {
        source: '/warehouse',
        type: 'stock.low',
        partitionKey: 'sku-9',
        data: { n: 'é' },
      });
      const [seq] = await publish(d, [event], T0 + 42);
      expect(await d.queryArchive(BUS, { limit: 10 })).toEqual([
        {
          seq,
          bus: BUS,
          id: 'e-1',
          source: '/warehouse',
          type: 'stock.low',
          time: event.time,
          publishedAt: T0 + 42,
          partitionKey: 'sku-9',
          body: event.body,
          size: event.size,
        },
      ]);
    });

    s.test('stores text exactly: backslashes, tabs, newlines, quotes and non-ASCII in every field', async (d) => {
      await setup(d, ['a']);
      const odd = 'tab\there\nline\r\\N \\ back\\slash "quoted" \u00e9\u{1F680} \\.';
      const event = makeEvent(`id-${odd}`, {
        source: `/src/${odd}`,
        type: `type.${odd}`,
        partitionKey: `key-${odd}`,
        subscriptions: ['a'],
        body: JSON.stringify({ raw: odd, nested: { also: odd } }) + `\t${odd}`,
      });
      await d.append([request([event])], T0);
      const [stored] = await d.queryArchive(BUS, { limit: 10 });
      expect(stored).toMatchObject({
        id: event.id,
        source: event.source,
        type: event.type,
        partitionKey: event.partitionKey,
        body: event.body,
        size: event.size,
      });
      expect((await d.eventsById(BUS, event.id)).map((e) => e.body)).toEqual([event.body]);
    });

    s.test('creates one pending delivery due at now for each listed subscription only', async (d) => {
      await setup(d, ['a', 'b', 'c']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['c', 'a'] })], T0 + 7);
      const traces = await d.deliveriesOf(seq);
      expect(traces.map((t) => t.subscription).sort()).toEqual(['a', 'c']);
      for (const trace of traces) {
        expect(trace).toMatchObject({ state: 'pending', enqueuedAt: T0 + 7, availableAt: T0 + 7, attempts: [] });
        expect(trace).toMatchObject({ replayId: null, redriveOf: null, deadReason: null });
      }
      expect(await d.subscriptionStats('b')).toEqual({ backlog: 0, inFlight: 0, dead: 0, oldestPendingAt: null });
      expect(await d.subscriptionStats('a')).toEqual({ backlog: 1, inFlight: 0, dead: 0, oldestPendingAt: T0 + 7 });
    });

    s.test('an event listed for no subscription is archived without deliveries', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1')], T0);
      expect((await d.queryArchive(BUS, { limit: 10 })).map((e) => e.seq)).toEqual([seq]);
      expect(await d.deliveriesOf(seq)).toEqual([]);
      expect((await d.subscriptionStats('a')).backlog).toBe(0);
    });

    s.test('a duplicate within the window is not stored, gets no delivery and reports the original seq', async (d) => {
      await setup(d, ['a']);
      const [seq] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const again = makeEvent('e-1', { type: 'order.changed', subscriptions: ['a'] });
      const outcomes = await d.append([request([again], BUS, DEDUPE_WINDOW_MS)], T0 + DEDUPE_WINDOW_MS - 1);
      expect(outcomes).toEqual([[{ status: 'duplicate', seq }]]);
      expect((await d.queryArchive(BUS, { limit: 10 })).map((e) => e.type)).toEqual(['order.placed']);
      expect((await d.subscriptionStats('a')).backlog).toBe(1);
    });

    s.test('an event whose id Busbar assigned is accepted, and still counts for dedupe afterwards', async (d) => {
      await setup(d, ['a']);
      const [seq] = await publish(d, [{ ...makeEvent('e-new', { subscriptions: ['a'] }), idAssigned: true }], T0);
      // Published again with that id (a producer that kept it), within the window: a duplicate.
      const again = makeEvent('e-new', { subscriptions: ['a'] });
      const outcomes = await d.append([request([again], BUS, DEDUPE_WINDOW_MS)], T0 + 1);
      expect(outcomes).toEqual([[{ status: 'duplicate', seq }]]);
      expect((await d.subscriptionStats('a')).backlog).toBe(1);
    });

    s.test('an event one full window after the original is accepted again', async (d) => {
      await setup(d, ['a']);
      const [first = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const [second = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0 + DEDUPE_WINDOW_MS);
      expect(second).toBeGreaterThan(first);
      expect((await d.eventsById(BUS, 'e-1')).map((e) => e.seq)).toEqual([first, second]);
      expect((await d.subscriptionStats('a')).backlog).toBe(2);
      // The window now runs from the second acceptance.
      const outcomes = await d.append([request([makeEvent('e-1')], BUS, DEDUPE_WINDOW_MS)], T0 + DEDUPE_WINDOW_MS + 1);
      expect(outcomes).toEqual([[{ status: 'duplicate', seq: second }]]);
    });

    s.test('duplicates within one request: the first wins', async (d) => {
      await setup(d, []);
      const outcomes = await d.append(
        [request([makeEvent('e-1'), makeEvent('e-1', { type: 'order.changed' }), makeEvent('e-2')])],
        T0,
      );
      const [[first, duplicate, other] = []] = outcomes;
      expect(first?.status).toBe('accepted');
      expect(duplicate).toEqual({ status: 'duplicate', seq: first?.seq });
      expect(other?.status).toBe('accepted');
      expect((await d.eventsById(BUS, 'e-1')).map((e) => e.type)).toEqual(['order.placed']);
    });

    s.test('duplicates across requests of one call: the first wins', async (d) => {
      await setup(d, ['a']);
      const outcomes = await d.append(
        [request([makeEvent('e-1', { subscriptions: ['a'] })]), request([makeEvent('e-1', { subscriptions: ['a'] })])],
        T0,
      );
      const seq = outcomes[0]?.[0]?.seq;
      expect(outcomes).toEqual([[{ status: 'accepted', seq }], [{ status: 'duplicate', seq }]]);
      expect(await d.eventsById(BUS, 'e-1')).toHaveLength(1);
      expect((await d.subscriptionStats('a')).backlog).toBe(1);
    });

    s.test('dedupe finds ids and sources as stored, whatever their characters, in calls of any size', async (d) => {
      await setup(d, []);
      // A lone surrogate is not well-formed text: stores keep it as U+FFFD, and must still match it.
      const odd = ['q"uo\\te\ttab', 'ünï-😀', 'lone-\ud800-surrogate'];
      const first = await publish(
        d,
        odd.map((id) => makeEvent(id, { source: `/src/${id}` })),
        T0,
      );
      const many = Array.from({ length: 250 }, (_, i) => makeEvent(`m-${i}`));
      const again = [...many.slice(0, 120), ...odd.map((id) => makeEvent(id, { source: `/src/${id}` })), ...many];
      const [outcomes = []] = await d.append([request(again)], T0 + 1);
      expect(outcomes.slice(120, 123)).toEqual(first.map((seq) => ({ status: 'duplicate', seq })));
      // The second copies of the first 120 events, across the call's first hundred and later ones.
      expect(outcomes.slice(123, 243)).toEqual(outcomes.slice(0, 120).map(({ seq }) => ({ status: 'duplicate', seq })));
      expect(outcomes.filter((o) => o.status === 'accepted')).toHaveLength(250);
    });

    s.test('dedupe is keyed by bus, source and id', async (d) => {
      await setup(d, []);
      await setup(d, [], 'audit');
      const outcomes = await d.append(
        [
          request([makeEvent('e-1', { source: '/shop' }), makeEvent('e-1', { source: '/warehouse' })]),
          request([makeEvent('e-1', { source: '/shop' })], 'audit'),
        ],
        T0,
      );
      expect(outcomes.flat().map((o) => o.status)).toEqual(['accepted', 'accepted', 'accepted']);
      expect((await d.eventsById(BUS, 'e-1')).map((e) => e.source)).toEqual(['/shop', '/warehouse']);
    });

    s.test('a zero window accepts every event', async (d) => {
      await setup(d, []);
      const outcomes = await d.append([request([makeEvent('e-1'), makeEvent('e-1')], BUS, 0)], T0);
      const later = await d.append([request([makeEvent('e-1')], BUS, 0)], T0);
      expect([...outcomes, ...later].flat().map((o) => o.status)).toEqual(['accepted', 'accepted', 'accepted']);
      expect(await d.eventsById(BUS, 'e-1')).toHaveLength(3);
    });

    s.test('a duplicate of a purged original reports seq null', async (d) => {
      await setup(d, []);
      await publish(d, [makeEvent('e-1')], T0);
      expect(await d.purgeArchive(BUS, { olderThan: T0 + 1, maxBytes: null })).toBe(1);
      const outcomes = await d.append([request([makeEvent('e-1')])], T0 + 2);
      expect(outcomes).toEqual([[{ status: 'duplicate', seq: null }]]);
    });

    s.test('a request for an unknown bus rejects the whole call and stores nothing', async (d) => {
      await setup(d, ['a']);
      const valid = request([makeEvent('e-1', { subscriptions: ['a'] })]);
      await expect(d.append([valid, request([makeEvent('e-2')], 'nope')], T0)).rejects.toBeInstanceOf(Error);
      expect(await d.queryArchive(BUS, { limit: 10 })).toEqual([]);
      expect((await d.subscriptionStats('a')).backlog).toBe(0);
      // Nothing was recorded for dedupe either: the same event is accepted now.
      const outcomes = await d.append([valid], T0 + 1);
      expect(outcomes[0]?.[0]?.status).toBe('accepted');
    });

    s.test('an event listing an unknown subscription or one of another bus rejects the whole call', async (d) => {
      await setup(d, ['a']);
      await setup(d, ['x'], 'audit');
      const valid = request([makeEvent('e-1', { subscriptions: ['a'] })]);
      for (const wrong of ['nope', 'x']) {
        const bad = request([makeEvent('e-2'), makeEvent('e-3', { subscriptions: ['a', wrong] })]);
        await expect(d.append([valid, bad], T0)).rejects.toBeInstanceOf(Error);
      }
      expect(await d.queryArchive(BUS, { limit: 10 })).toEqual([]);
      expect((await d.subscriptionStats('a')).backlog).toBe(0);
      expect((await d.subscriptionStats('x')).backlog).toBe(0);
    });
  });
}
