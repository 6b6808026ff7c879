/**
 * Conformance: archive queries, lineage (`eventsById`, `deliveriesOf`), `enqueue`, `deliveredSeqs`
 * and replay records.
 */
import { expect } from 'vitest';
import type { ArchiveQuery, AttemptRecord, DeliveryTrace, NewDelivery, ReplayStep, StorageDriver } from '../driver.js';
import {
  BUS,
  DEFAULT_DELIVERY_POLICY,
  T0,
  attemptFor,
  claimAll,
  claimOne,
  enqueue,
  killOldest,
  makeAttempt,
  makeBus,
  makeEvent,
  makeReplay,
  makeSubscription,
  pick,
  publish,
  settle,
  setup,
} from './fixtures.js';
import type { ConformanceSuite } from './suite.js';

/** The event ids a query returns, in order. */
async function idsOf(d: StorageDriver, query: Partial<ArchiveQuery>, bus = BUS): Promise<string[]> {
  return (await d.queryArchive(bus, { limit: 100, ...query })).map((e) => e.id);
}

/** Registers the archive, lineage, enqueue and replay tests. */
/** The lineage entry of a delivery of subscription `a` that replay `r-1` stored delivered by `attempt` at `at`. */
function deliveredEarly(deliveryId: number, at: number, attempt: AttemptRecord): DeliveryTrace {
  return {
    deliveryId,
    subscription: 'a',
    state: 'delivered',
    enqueuedAt: at,
    availableAt: at,
    replayId: 'r-1',
    redriveOf: null,
    deadReason: null,
    attempts: [attempt],
  };
}

export function archiveTests(s: ConformanceSuite): void {
  s.area('archive', () => {
    s.test("queryArchive returns the bus's events by ascending seq", async (d) => {
      await setup(d, []);
      await setup(d, [], 'audit');
      await publish(d, [makeEvent('e-1')], T0);
      await publish(d, [makeEvent('x-1')], T0, { bus: 'audit' });
      await publish(d, [makeEvent('e-2'), makeEvent('e-3')], T0 + 1);
      const events = await d.queryArchive(BUS, { limit: 100 });
      expect(events.map((e) => e.id)).toEqual(['e-1', 'e-2', 'e-3']);
      expect(events.map((e) => e.seq)).toEqual(events.map((e) => e.seq).sort((x, y) => x - y));
      expect(await idsOf(d, {}, 'audit')).toEqual(['x-1']);
    });

    s.test('queryArchive filters by publishedAt, bounds inclusive', async (d) => {
      await setup(d, []);
      for (const [i, id] of ['e-1', 'e-2', 'e-3'].entries()) await publish(d, [makeEvent(id)], T0 + 100 * i);
      expect(await idsOf(d, { from: T0 + 100 })).toEqual(['e-2', 'e-3']);
      expect(await idsOf(d, { to: T0 + 100 })).toEqual(['e-1', 'e-2']);
      expect(await idsOf(d, { from: T0 + 100, to: T0 + 100 })).toEqual(['e-2']);
      expect(await idsOf(d, { from: T0 + 101, to: T0 + 199 })).toEqual([]);
    });

    s.test('queryArchive filters by type and by source', async (d) => {
      await setup(d, []);
      await publish(
        d,
        [
          makeEvent('e-1', { type: 'order.placed', source: '/shop' }),
          makeEvent('e-2', { type: 'order.shipped', source: '/warehouse' }),
          makeEvent('e-3', { type: 'order.placed', source: '/warehouse' }),
        ],
        T0,
      );
      expect(await idsOf(d, { type: 'order.placed' })).toEqual(['e-1', 'e-3']);
      expect(await idsOf(d, { source: '/warehouse' })).toEqual(['e-2', 'e-3']);
      expect(await idsOf(d, { type: 'order.placed', source: '/warehouse' })).toEqual(['e-3']);
      expect(await idsOf(d, { type: 'order.cancelled' })).toEqual([]);
    });

    s.test('queryArchive pages with afterSeq and limit', async (d) => {
      await setup(d, []);
      const seqs = await publish(
        d,
        ['e-1', 'e-2', 'e-3', 'e-4', 'e-5'].map((id) => makeEvent(id)),
        T0,
      );
      expect(await idsOf(d, { limit: 2 })).toEqual(['e-1', 'e-2']);
      expect(await idsOf(d, { limit: 2, afterSeq: pick(seqs, 1) })).toEqual(['e-3', 'e-4']);
      expect(await idsOf(d, { limit: 2, afterSeq: pick(seqs, 3) })).toEqual(['e-5']);
      expect(await idsOf(d, { limit: 2, afterSeq: pick(seqs, 4) })).toEqual([]);
      expect(await idsOf(d, { limit: 1, afterSeq: pick(seqs, 0), type: 'order.placed', from: T0 })).toEqual(['e-2']);
    });

    s.test('queryArchive of an unknown bus is empty', async (d) => {
      expect(await d.queryArchive('nope', { limit: 10 })).toEqual([]);
    });

    s.test('queryDeliverable returns what queryArchive does, with what a delivery carries', async (d) => {
      await setup(d, []);
      await setup(d, [], 'audit');
      const seqs: number[] = [];
      for (const [i, id] of ['e-1', 'e-2', 'e-3', 'e-4'].entries()) {
        const type = i % 2 === 0 ? 'order.placed' : 'order.shipped';
        seqs.push(...(await publish(d, [makeEvent(id, { type, data: { i, text: 'ünïcode' } })], T0 + 100 * i)));
      }
      await publish(d, [makeEvent('x-1')], T0, { bus: 'audit' });
      const queries: ArchiveQuery[] = [
        { limit: 100 },
        { limit: 2 },
        { limit: 2, afterSeq: pick(seqs, 1) },
        { limit: 100, from: T0 + 100, to: T0 + 200 },
        { limit: 100, type: 'order.placed' },
        { limit: 100, source: '/elsewhere' },
      ];
      for (const query of queries) {
        const expected = (await d.queryArchive(BUS, query)).map(({ seq, id, publishedAt, size, body }) => ({
          seq,
          id,
          publishedAt,
          size,
          body,
        }));
        const deliverable = (await d.queryDeliverable(BUS, query)).map(({ seq, id, publishedAt, size, body }) => ({
          seq,
          id,
          publishedAt,
          size,
          body,
        }));
        expect(deliverable).toEqual(expected);
      }
      expect((await d.queryDeliverable(BUS, { limit: 100 })).map((e) => e.id)).toEqual(['e-1', 'e-2', 'e-3', 'e-4']);
      expect(await d.queryDeliverable('nope', { limit: 10 })).toEqual([]);
    });

    s.test('eventsById returns every event with that id on the bus, by seq', async (d) => {
      await setup(d, []);
      await setup(d, [], 'audit');
      await publish(d, [makeEvent('e-1', { source: '/b' }), makeEvent('e-2', { source: '/a' })], T0);
      await publish(d, [makeEvent('e-1', { source: '/a' })], T0 + 1);
      await publish(d, [makeEvent('e-1', { source: '/c' })], T0 + 2, { bus: 'audit' });
      const events = await d.eventsById(BUS, 'e-1');
      expect(events.map((e) => e.source)).toEqual(['/b', '/a']);
      expect(events).toEqual(await d.queryArchive(BUS, { limit: 10 }).then((all) => all.filter((e) => e.id === 'e-1')));
      expect(await d.eventsById(BUS, 'nope')).toEqual([]);
    });
  });

  s.area('lineage', () => {
    s.test('deliveriesOf lists every delivery of the event with its attempts, by delivery id', async (d) => {
      await setup(d, ['a', 'b', 'c']);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a', 'b'] })], T0);
      const first = await claimOne(d, 'a', T0 + 1);
      await settle(d, first, { kind: 'retry', availableAt: T0 + 10 }, T0 + 2);
      const second = await claimOne(d, 'a', T0 + 10);
      await settle(d, second, { kind: 'ack' }, T0 + 11);
      const dead = await killOldest(d, 'b', T0 + 20);
      await d.redrive('b', [dead], T0 + 30);

      const traces = await d.deliveriesOf(seq);
      expect(traces.map((t) => t.deliveryId)).toEqual(traces.map((t) => t.deliveryId).sort((x, y) => x - y));
      expect(traces.find((t) => t.subscription === 'a')).toEqual({
        deliveryId: first.deliveryId,
        subscription: 'a',
        state: 'delivered',
        enqueuedAt: T0,
        availableAt: T0 + 10,
        replayId: null,
        redriveOf: null,
        deadReason: null,
        attempts: [
          attemptFor(first, { kind: 'retry', availableAt: T0 + 10 }, T0 + 2),
          attemptFor(second, { kind: 'ack' }, T0 + 11),
        ],
      });
      const ofB = traces.filter((t) => t.subscription === 'b');
      expect(ofB.map((t) => [t.state, t.redriveOf])).toEqual([
        ['redriven', null],
        ['pending', dead],
      ]);
      expect(pick(ofB, 0).attempts.map((a) => a.outcome)).toEqual(['non_retriable']);
    });

    s.test('deliveriesOf an unknown event is empty', async (d) => {
      expect(await d.deliveriesOf(987_654)).toEqual([]);
    });
  });

  s.area('replay steps', () => {
    s.test(
      'advanceReplay creates pending deliveries due at now with their replay id, and stores progress',
      async (d) => {
        await setup(d, ['a', 'b']);
        const [seq = 0] = await publish(d, [makeEvent('e-1')], T0);
        await d.putReplay(makeReplay('r-1', { enqueued: 3 }));
        const step = {
          deliveries: [
            { subscription: 'a', eventSeq: seq, replayId: 'r-1' },
            { subscription: 'b', eventSeq: seq, replayId: null },
          ],
          cursor: seq,
          scanned: 9,
          state: 'running',
          error: null,
          leaseUntil: T0 + 60_000,
        } as const;
        const next = await d.advanceReplay('r-1', 'runner-1', step, T0 + 100);
        expect(next).toEqual({
          ...makeReplay('r-1'),
          cursor: seq,
          scanned: 9,
          enqueued: 5,
          leaseUntil: T0 + 60_000,
          updatedAt: T0 + 100,
        });
        expect(await d.getReplay('r-1')).toEqual(next);
        const traces = await d.deliveriesOf(seq);
        expect(
          traces.map((t) => [t.subscription, t.state, t.enqueuedAt, t.availableAt, t.replayId, t.redriveOf]),
        ).toEqual([
          ['a', 'pending', T0 + 100, T0 + 100, 'r-1', null],
          ['b', 'pending', T0 + 100, T0 + 100, null, null],
        ]);
        expect(await claimOne(d, 'a', T0 + 100)).toMatchObject({ replayId: 'r-1', attempt: 1, enqueuedAt: T0 + 100 });
        const done = { ...step, deliveries: [], state: 'completed' } as const;
        expect(await d.advanceReplay('r-1', 'runner-1', done, T0 + 200)).toMatchObject({
          state: 'completed',
          enqueued: 5,
        });
        // Ended: no further steps.
        expect(await d.advanceReplay('r-1', 'runner-1', step, T0 + 300)).toBeNull();
        expect((await d.deliveriesOf(seq)).length).toBe(2);
      },
    );

    s.test('a step with an unknown event or subscription rejects and changes nothing', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1')], T0);
      await d.putReplay(makeReplay('r-1'));
      const valid = { subscription: 'a', eventSeq: seq, replayId: 'r-1' };
      const unknownEvent = { subscription: 'a', eventSeq: seq + 1_000, replayId: 'r-1' };
      const unknownSub = { subscription: 'nope', eventSeq: seq, replayId: 'r-1' };
      const step = (deliveries: NewDelivery[]) =>
        ({ deliveries, cursor: seq, scanned: 1, state: 'running', error: null, leaseUntil: T0 + 60_000 }) as const;
      await expect(d.advanceReplay('r-1', 'runner-1', step([valid, unknownEvent]), T0 + 1)).rejects.toBeInstanceOf(
        Error,
      );
      await expect(d.advanceReplay('r-1', 'runner-1', step([valid, unknownSub]), T0 + 1)).rejects.toBeInstanceOf(Error);
      expect(await d.deliveriesOf(seq)).toEqual([]);
      expect(await d.getReplay('r-1')).toEqual(makeReplay('r-1'));
    });

    s.test('reserveDeliveryIds hands out blocks that no other delivery gets', async (d) => {
      await setup(d, ['a']);
      const first = await d.reserveDeliveryIds(3);
      const second = await d.reserveDeliveryIds(2);
      expect(second).toBeGreaterThanOrEqual(first + 3);
      const [seq = 0] = await publish(d, [makeEvent('e-1', { subscriptions: ['a'] })], T0);
      const { deliveryId } = await claimOne(d, 'a', T0);
      expect(deliveryId).toBeGreaterThanOrEqual(second + 2);
      for (const bad of [0, -1, 1.5, Number.NaN]) await expect(d.reserveDeliveryIds(bad)).rejects.toThrow(/count/);
      expect((await d.deliveriesOf(seq)).map((t) => t.deliveryId)).toEqual([deliveryId]);
    });

    s.test(
      'advanceReplay stores deliveries the engine attempted under their reserved ids, settled by the attempt',
      async (d) => {
        await setup(d, ['a']);
        const [e1 = 0, e2 = 0, e3 = 0, e4 = 0] = await publish(
          d,
          ['e-1', 'e-2', 'e-3', 'e-4'].map((id) => makeEvent(id)),
          T0,
        );
        const first = await d.reserveDeliveryIds(3);
        await d.putReplay(makeReplay('r-1'));
        const ok = makeAttempt(1, { startedAt: T0 + 10, durationMs: 2 });
        const failed = makeAttempt(1, {
          startedAt: T0 + 10,
          outcome: 'error',
          error: { message: 'boom', code: 'E_BOOM', name: 'Error' },
        });
        const step = {
          deliveries: [
            {
              subscription: 'a',
              eventSeq: e1,
              replayId: 'r-1',
              id: first,
              attempted: { attempt: ok, completion: { kind: 'ack' } },
            },
            {
              subscription: 'a',
              eventSeq: e2,
              replayId: 'r-1',
              id: first + 1,
              attempted: { attempt: failed, completion: { kind: 'retry', availableAt: T0 + 500 } },
            },
            {
              subscription: 'a',
              eventSeq: e3,
              replayId: 'r-1',
              id: first + 2,
              attempted: { attempt: failed, completion: { kind: 'dead', reason: 'max_attempts' } },
            },
            // Not attempted (its consumer went away): pending under its reserved id.
            { subscription: 'a', eventSeq: e4, replayId: 'r-1' },
          ],
          cursor: e4,
          scanned: 4,
          state: 'running',
          error: null,
          leaseUntil: T0 + 60_000,
        } as const satisfies ReplayStep;
        expect(await d.advanceReplay('r-1', 'runner-1', step, T0 + 20)).toMatchObject({ enqueued: 4, cursor: e4 });
        const replayed = (seq: number) => d.deliveriesOf(seq);
        expect(await replayed(e1)).toEqual([deliveredEarly(first, T0 + 20, ok)]);
        expect(await replayed(e2)).toMatchObject([
          { deliveryId: first + 1, state: 'pending', availableAt: T0 + 500, attempts: [failed] },
        ]);
        expect(await replayed(e3)).toMatchObject([
          { deliveryId: first + 2, state: 'dead', deadReason: 'max_attempts', attempts: [failed] },
        ]);
        expect(await replayed(e4)).toMatchObject([{ state: 'pending', availableAt: T0 + 20, attempts: [] }]);
        expect(await d.deliveredSeqs('a', [e1, e2, e3, e4])).toEqual(new Set([e1]));
        const [dead] = await d.listDeadLetters('a', { limit: 10 });
        expect(dead).toMatchObject({
          deliveryId: first + 2,
          reason: 'max_attempts',
          deadAt: T0 + 20,
          attempts: [failed],
        });
        // The retry is due at its time and is the delivery's second attempt; the plain one is due now.
        expect((await claimAll(d, 'a', T0 + 20)).map((c) => [c.event.seq, c.attempt])).toEqual([[e4, 1]]);
        const retried = await claimOne(d, 'a', T0 + 500);
        expect(retried).toMatchObject({ deliveryId: first + 1, attempt: 2, replayId: 'r-1', enqueuedAt: T0 + 20 });
        expect(await d.subscriptionStats('a')).toMatchObject({ dead: 1 });
      },
    );

    s.test(
      'a step naming an id that is taken or was never reserved, or an ordered subscription, rejects',
      async (d) => {
        await setup(d, ['a']);
        await d.putSubscription(makeSubscription('fifo', { delivery: { ...DEFAULT_DELIVERY_POLICY, ordered: true } }));
        const [seq = 0] = await publish(d, [makeEvent('e-1')], T0);
        await d.putReplay(makeReplay('r-1'));
        const first = await d.reserveDeliveryIds(2);
        const attempted = { attempt: makeAttempt(1), completion: { kind: 'ack' } } as const;
        const step = (deliveries: NewDelivery[]) =>
          ({ deliveries, cursor: seq, scanned: 1, state: 'running', error: null, leaseUntil: T0 + 60_000 }) as const;
        const valid = { subscription: 'a', eventSeq: seq, replayId: 'r-1', id: first, attempted };
        const cases: NewDelivery[][] = [
          [valid, { ...valid, id: first + 1_000_000 }],
          [valid, { ...valid }],
          [{ ...valid, subscription: 'fifo', id: first + 1 }],
          [{ subscription: 'fifo', eventSeq: seq, replayId: 'r-1', attempted }],
        ];
        for (const deliveries of cases) {
          await expect(d.advanceReplay('r-1', 'runner-1', step(deliveries), T0 + 1)).rejects.toThrow(
            /reserved delivery id|ordered/,
          );
        }
        expect((await d.deliveriesOf(seq)).filter((t) => t.replayId === 'r-1')).toEqual([]);
        expect(await d.getReplay('r-1')).toEqual(makeReplay('r-1'));
        // The block is still usable.
        expect(await d.advanceReplay('r-1', 'runner-1', step([valid]), T0 + 2)).toMatchObject({ enqueued: 1 });
      },
    );

    s.test('a page of attempted deliveries is stored whole, or not at all when one late in it is bad', async (d) => {
      await setup(d, ['a']);
      await d.putBus(makeBus('other'));
      await d.putSubscription(makeSubscription('elsewhere', { bus: 'other' }));
      const count = 250;
      const seqs = await publish(
        d,
        Array.from({ length: count }, (_, i) => makeEvent(`e-${i}`)),
        T0,
      );
      await d.putReplay(makeReplay('r-1'));
      const first = await d.reserveDeliveryIds(count + 1);
      const ok = makeAttempt(1, { startedAt: T0 + 10, durationMs: 1 });
      const page: NewDelivery[] = seqs.map((eventSeq, i) => ({
        subscription: 'a',
        eventSeq,
        replayId: 'r-1',
        id: first + i,
        attempted: { attempt: ok, completion: { kind: 'ack' } },
      }));
      const step = (deliveries: NewDelivery[]) =>
        ({
          deliveries,
          cursor: seqs[count - 1]!,
          scanned: count,
          state: 'running',
          error: null,
          leaseUntil: T0 + 60_000,
        }) as const;
      const late = (change: Partial<NewDelivery>): NewDelivery[] =>
        page.map((delivery, i) => (i === 230 ? { ...delivery, ...change } : delivery));
      const bad: Array<[NewDelivery[], RegExp]> = [
        [late({ eventSeq: seqs[count - 1]! + 1_000 }), /archived event/],
        [late({ subscription: 'elsewhere' }), /bus/],
        [late({ subscription: 'nope' }), /subscription/],
        [late({ id: first + 3 }), /deliveries\[230\]\.id .*another delivery has it/],
        [late({ id: first + count + 5 }), /deliveries\[230\]\.id .*not reserved/],
      ];
      for (const [deliveries, error] of bad) {
        await expect(d.advanceReplay('r-1', 'runner-1', step(deliveries), T0 + 20)).rejects.toThrow(error);
      }
      expect(await d.deliveredSeqs('a', seqs)).toEqual(new Set());
      expect(await d.getReplay('r-1')).toEqual(makeReplay('r-1'));
      expect(await d.advanceReplay('r-1', 'runner-1', step(page), T0 + 20)).toMatchObject({ enqueued: count });
      expect(await d.deliveredSeqs('a', seqs)).toEqual(new Set(seqs));
      expect(await d.deliveriesOf(seqs[230]!)).toEqual([deliveredEarly(first + 230, T0 + 20, ok)]);
    });

    s.test('only the owner advances a running replay; a cancelled one takes no step', async (d) => {
      await setup(d, ['a']);
      const [seq = 0] = await publish(d, [makeEvent('e-1')], T0);
      await d.putReplay(makeReplay('r-1'));
      const step = {
        deliveries: [{ subscription: 'a', eventSeq: seq, replayId: 'r-1' }],
        cursor: seq,
        scanned: 1,
        state: 'running',
        error: null,
        leaseUntil: T0 + 60_000,
      } as const;
      expect(await d.advanceReplay('r-1', 'someone-else', step, T0 + 1)).toBeNull();
      expect(await d.advanceReplay('nope', 'runner-1', step, T0 + 1)).toBeNull();
      expect(await d.cancelReplay('r-1', T0 + 2)).toBe(true);
      expect(await d.advanceReplay('r-1', 'runner-1', step, T0 + 3)).toBeNull();
      expect(await d.deliveriesOf(seq)).toEqual([]);
      expect(await d.getReplay('r-1')).toEqual({ ...makeReplay('r-1'), state: 'cancelled', updatedAt: T0 + 2 });
      expect(await d.cancelReplay('r-1', T0 + 4)).toBe(false);
      expect(await d.cancelReplay('nope', T0 + 4)).toBe(false);
    });

    s.test('acquireReplay takes a running replay only when no other owner holds a live lease', async (d) => {
      await setup(d, ['a']);
      await d.putReplay(makeReplay('r-1', { owner: 'runner-1', leaseUntil: T0 + 30_000 }));
      expect(await d.acquireReplay('r-1', 'runner-2', T0 + 60_000, T0 + 29_999)).toBeNull();
      // The owner renews its own lease.
      expect(await d.acquireReplay('r-1', 'runner-1', T0 + 40_000, T0 + 1)).toMatchObject({ leaseUntil: T0 + 40_000 });
      // Lapsed: another instance takes over, and the old owner can no longer step.
      const taken = await d.acquireReplay('r-1', 'runner-2', T0 + 70_000, T0 + 40_000);
      expect(taken).toEqual({
        ...makeReplay('r-1'),
        owner: 'runner-2',
        leaseUntil: T0 + 70_000,
        updatedAt: T0 + 40_000,
      });
      const step = { deliveries: [], cursor: 0, scanned: 0, state: 'running', error: null, leaseUntil: 1 } as const;
      expect(await d.advanceReplay('r-1', 'runner-1', step, T0 + 40_001)).toBeNull();
      // A released replay (no owner) and a completed one.
      await d.putReplay(makeReplay('r-2', { owner: null, leaseUntil: null }));
      expect(await d.acquireReplay('r-2', 'runner-3', T0 + 9, T0)).toMatchObject({ owner: 'runner-3' });
      await d.putReplay(makeReplay('r-3', { state: 'completed', owner: null, leaseUntil: null }));
      expect(await d.acquireReplay('r-3', 'runner-3', T0 + 9, T0)).toBeNull();
      expect(await d.acquireReplay('nope', 'runner-3', T0 + 9, T0)).toBeNull();
    });

    s.test('deliveredSeqs returns the given seqs with a delivered delivery to the subscription', async (d) => {
      await setup(d, ['a', 'b']);
      const seqs = await publish(
        d,
        ['e-1', 'e-2', 'e-3', 'e-4'].map((id) => makeEvent(id, { subscriptions: ['a'] })),
        T0,
      );
      const [s1 = 0, s2 = 0, s3 = 0, s4 = 0] = seqs;
      await settle(d, await claimOne(d, 'a', T0), { kind: 'ack' }, T0 + 1);
      await killOldest(d, 'a', T0 + 2);
      await claimOne(d, 'a', T0 + 3);
      await enqueue(
        d,
        [
          { subscription: 'a', eventSeq: s1, replayId: 'r-1' },
          { subscription: 'b', eventSeq: s4, replayId: 'r-1' },
        ],
        T0 + 4,
      );
      await settle(d, await claimOne(d, 'b', T0 + 4), { kind: 'ack' }, T0 + 5);
      // e-1: delivered (a later replay delivery is pending); e-2 dead; e-3 leased; e-4 pending.
      expect(await d.deliveredSeqs('a', [s1, s2, s3, s4, 987_654])).toEqual(new Set([s1]));
      expect(await d.deliveredSeqs('b', seqs)).toEqual(new Set([s4]));
      expect(await d.deliveredSeqs('a', [])).toEqual(new Set());
    });
  });

  s.area('replays', () => {
    s.test('putReplay then getReplay returns the record; put overwrites', async (d) => {
      await setup(d, ['a']);
      const replay = makeReplay('r-1', { pattern: '{"type":["order.placed"]}', ratePerSec: 50 });
      await d.putReplay(replay);
      expect(await d.getReplay('r-1')).toEqual(replay);
      const done = { ...replay, state: 'completed', cursor: 42, scanned: 10, enqueued: 7, updatedAt: T0 + 9 } as const;
      await d.putReplay(done);
      expect(await d.getReplay('r-1')).toEqual(done);
      expect(await d.listReplays()).toEqual([done]);
    });

    s.test('getReplay of an unknown id is null', async (d) => {
      expect(await d.getReplay('nope')).toBeNull();
    });

    s.test('listReplays orders by createdAt then id, for all buses or one', async (d) => {
      await setup(d, ['a']);
      await setup(d, ['x'], 'audit');
      await d.putReplay(makeReplay('r-a', { createdAt: T0 + 10 }));
      await d.putReplay(makeReplay('r-c', { bus: 'audit', subscriptions: null, createdAt: T0 }));
      await d.putReplay(makeReplay('r-b', { createdAt: T0, error: 'stopped', state: 'failed' }));
      expect((await d.listReplays()).map((r) => r.id)).toEqual(['r-b', 'r-c', 'r-a']);
      expect((await d.listReplays(BUS)).map((r) => r.id)).toEqual(['r-b', 'r-a']);
      expect(await d.listReplays('nope')).toEqual([]);
    });
  });
}
