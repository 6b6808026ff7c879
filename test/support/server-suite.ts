/**
 * The HTTP API suite, run on every storage (test/server.test.ts on memory, test/server-sqlite.test.ts
 * on SQLite): each route's success path and its main errors, asserting bodies and what was stored.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BusbarOptions } from '../../src/busbar.js';
import { T0, event, harness, type Harness } from './server.js';

interface Pulled {
  messages: Array<{ receipt: string; attempt: number; event: Record<string, unknown> }>;
}

export function describeServer(storage: NonNullable<BusbarOptions['storage']>): void {
  let h: Harness;

  beforeEach(async () => {
    h = await harness(storage);
    await h.send('PUT', '/v1/buses/orders', {});
  });
  afterEach(() => h.close());

  /** Creates a pull subscription on `orders`. */
  const subscribe = (name: string, pattern: object = { source: ['/shop'] }, delivery?: object) =>
    h.send('PUT', `/v1/subscriptions/${name}`, { bus: 'orders', pattern, target: { type: 'pull' }, delivery });

  const archive = async (query = ''): Promise<Array<Record<string, unknown>>> => {
    const res = await h.send('GET', `/v1/buses/orders/events${query}`);
    expect(res.statusCode).toBe(200);
    return res.json<{ events: Array<Record<string, unknown>> }>().events;
  };

  const pull = async (name: string, body: object = {}): Promise<Pulled['messages']> => {
    const res = await h.send('POST', `/v1/subscriptions/${name}/pull`, body);
    expect(res.statusCode).toBe(200);
    return res.json<Pulled>().messages;
  };

  describe('health', () => {
    it('answers /healthz and /readyz', async () => {
      expect((await h.send('GET', '/healthz')).json()).toEqual({ status: 'ok' });
      const ready = await h.send('GET', '/readyz');
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ok' });
    });

    it('answers 404 NOT_FOUND for an unknown route', async () => {
      const res = await h.send('GET', '/v1/nothing?x=1');
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No route GET /v1/nothing' } });
    });

    it('answers 400 INVALID_ARGUMENT for a malformed URL', async () => {
      const res = await h.send('GET', '/v1/buses/%E0%A4%A');
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: { code: 'INVALID_ARGUMENT', message: "'/v1/buses/%E0%A4%A' is not a valid url component" },
      });
    });
  });

  describe('buses', () => {
    it('creates, updates, lists, gets and deletes a bus', async () => {
      const put = await h.send('PUT', '/v1/buses/audit', { retention: { maxAgeMs: 86_400_000 } });
      expect(put.statusCode).toBe(200);
      expect(put.json()).toMatchObject({ name: 'audit', retention: { maxAgeMs: 86_400_000 }, createdAt: T0 });
      const noBody = await h.send('PUT', '/v1/buses/audit');
      expect(noBody.json()).toMatchObject({ name: 'audit', retention: { maxAgeMs: 86_400_000 } });
      const list = await h.send('GET', '/v1/buses');
      expect(list.json<{ buses: Array<{ name: string }> }>().buses.map((b) => b.name)).toEqual(['audit', 'orders']);
      expect((await h.send('GET', '/v1/buses/audit')).json()).toMatchObject({ name: 'audit' });
      const del = await h.send('DELETE', '/v1/buses/audit');
      expect(del.statusCode).toBe(204);
      expect(del.body).toBe('');
      const gone = await h.send('GET', '/v1/buses/audit');
      expect(gone.statusCode).toBe(404);
      expect(gone.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No bus named "audit" (string)' } });
    });

    it('rejects bad retention and unknown fields with 400, creating nothing', async () => {
      const bad = await h.send('PUT', '/v1/buses/audit', { retention: { maxAgeMs: -1 } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      expect(bad.json<{ error: { message: string } }>().error.message).toContain('maxAgeMs');
      const unknown = await h.send('PUT', '/v1/buses/audit', { retension: {} });
      expect(unknown.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      expect(unknown.json<{ error: { message: string } }>().error.message).toContain('`retension`');
      expect((await h.send('GET', '/v1/buses/audit')).statusCode).toBe(404);
    });

    it('answers 404 deleting an unknown bus', async () => {
      const res = await h.send('DELETE', '/v1/buses/nope');
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    });
  });

  describe('publish', () => {
    it('accepts structured mode and reports a second publish as a duplicate', async () => {
      const e = event('order.placed', { total: 30 }, { id: 'o-1' });
      const headers = { 'content-type': 'application/cloudevents+json; charset=utf-8' };
      const first = await h.send('POST', '/v1/buses/orders/events', e, headers);
      expect(first.statusCode).toBe(200);
      expect(first.json()).toEqual({ results: [{ id: 'o-1', status: 'accepted' }] });
      const again = await h.send('POST', '/v1/buses/orders/events', e, headers);
      expect(again.json()).toEqual({ results: [{ id: 'o-1', status: 'duplicate' }] });
      expect(await archive()).toEqual([expect.objectContaining({ id: 'o-1', data: { total: 30 } })]);
    });

    it('accepts batch mode and application/json with one event or an array', async () => {
      const batch = await h.send(
        'POST',
        '/v1/buses/orders/events',
        [event('a', {}, { id: '1' }), event('b', {}, { id: '2' })],
        {
          'content-type': 'application/cloudevents-batch+json',
        },
      );
      expect(batch.json()).toEqual({
        results: [
          { id: '1', status: 'accepted' },
          { id: '2', status: 'accepted' },
        ],
      });
      const one = await h.send('POST', '/v1/buses/orders/events', event('c', {}, { id: '3' }));
      expect(one.json()).toEqual({ results: [{ id: '3', status: 'accepted' }] });
      const many = await h.send('POST', '/v1/buses/orders/events', [event('d', {}, { id: '4' })]);
      expect(many.json()).toEqual({ results: [{ id: '4', status: 'accepted' }] });
      expect((await archive()).map((e) => e['type'])).toEqual(['a', 'b', 'c', 'd']);
    });

    it('accepts binary mode: ce-* headers are attributes, the body is data', async () => {
      const ce = { 'ce-specversion': '1.0', 'ce-source': '/shop', 'ce-type': 'order.placed' };
      const jsonData = await h.send('POST', '/v1/buses/orders/events', '{"total":30}', {
        ...ce,
        'ce-id': 'b-1',
        'ce-subject': 'order%2042',
        'ce-partitionkey': 'customer-7',
        'content-type': 'application/json',
      });
      expect(jsonData.json()).toEqual({ results: [{ id: 'b-1', status: 'accepted' }] });
      await h.send('POST', '/v1/buses/orders/events', 'hello', { ...ce, 'ce-id': 'b-2', 'content-type': 'text/plain' });
      await h.send('POST', '/v1/buses/orders/events', Buffer.from([0, 1, 2, 255]), {
        ...ce,
        'ce-id': 'b-3',
        'content-type': 'application/octet-stream',
      });
      await h.send('POST', '/v1/buses/orders/events', undefined, { ...ce, 'ce-id': 'b-4' });
      const stored = await archive();
      expect(stored[0]).toMatchObject({
        id: 'b-1',
        subject: 'order 42',
        partitionkey: 'customer-7',
        datacontenttype: 'application/json',
        data: { total: 30 },
      });
      expect(stored[1]).toMatchObject({ id: 'b-2', datacontenttype: 'text/plain', data: 'hello' });
      expect(stored[2]).toMatchObject({
        id: 'b-3',
        datacontenttype: 'application/octet-stream',
        data_base64: Buffer.from([0, 1, 2, 255]).toString('base64'),
      });
      expect(stored[3]).toMatchObject({ id: 'b-4' });
      expect(stored[3]).not.toHaveProperty('data');
    });

    it('rejects a bad batch whole with per-event results, storing nothing', async () => {
      const res = await h.send('POST', '/v1/buses/orders/events', [event('ok'), { specversion: '1.0', type: 'x' }], {
        'content-type': 'application/cloudevents-batch+json',
      });
      expect(res.statusCode).toBe(400);
      const body = res.json<{ error: { code: string; message: string }; results: unknown[] }>();
      expect(body.error.code).toBe('INVALID_EVENT');
      expect(body.error.message).toContain('Event 2 of 2 (index 1)');
      expect(body.error.message).toContain('source');
      expect(body.results).toEqual([
        { index: 0, status: 'valid' },
        {
          index: 1,
          status: 'invalid',
          error: { code: 'INVALID_EVENT', message: expect.stringContaining('source') as unknown },
        },
      ]);
      expect(await archive()).toEqual([]);
    });

    it('rejects binary mode without the required attributes', async () => {
      const res = await h.send('POST', '/v1/buses/orders/events', 'x', {
        'ce-type': 't',
        'content-type': 'text/plain',
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'INVALID_EVENT' } });
      expect(await archive()).toEqual([]);
    });

    it('answers 400 INVALID_JSON for a malformed body and 404 for an unknown bus', async () => {
      const bad = await h.send('POST', '/v1/buses/orders/events', '{"specversion": ', {
        'content-type': 'application/cloudevents+json',
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ error: { code: 'INVALID_JSON' } });
      const unknown = await h.send('POST', '/v1/buses/nope/events', event('x'));
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No bus named "nope" (string)' } });
      expect(await archive()).toEqual([]);
    });

    it('answers 415 for a body that is neither JSON nor binary mode', async () => {
      const res = await h.send('POST', '/v1/buses/orders/events', 'hello', { 'content-type': 'text/plain' });
      expect(res.statusCode).toBe(415);
      expect(res.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
      const admin = await h.send('PUT', '/v1/buses/other', 'retention', { 'content-type': 'text/plain' });
      expect(admin.statusCode).toBe(415);
      expect(admin.json<{ error: { message: string } }>().error.message).toContain('JSON body');
    });
  });

  describe('subscriptions', () => {
    it('creates, lists, gets with stats, pauses, resumes and deletes', async () => {
      const put = await subscribe('notify', { type: ['order.placed'] });
      expect(put.statusCode).toBe(200);
      expect(put.json()).toMatchObject({
        name: 'notify',
        bus: 'orders',
        pattern: '{"type":["order.placed"]}',
        target: { type: 'pull' },
        paused: false,
      });
      await h.send('PUT', '/v1/buses/audit', {});
      await h.send('PUT', '/v1/subscriptions/log', { bus: 'audit', pattern: { source: ['/shop'] } });
      const all = await h.send('GET', '/v1/subscriptions');
      expect(all.json<{ subscriptions: Array<{ name: string }> }>().subscriptions.map((s) => s.name)).toEqual([
        'log',
        'notify',
      ]);
      expect((await h.send('GET', '/v1/subscriptions/log')).json()).toMatchObject({ target: { type: 'pull' } });
      const ofBus = await h.send('GET', '/v1/subscriptions?bus=orders');
      expect(ofBus.json<{ subscriptions: Array<{ name: string }> }>().subscriptions.map((s) => s.name)).toEqual([
        'notify',
      ]);
      await h.send('POST', '/v1/buses/orders/events', event('order.placed'));
      const one = await h.send('GET', '/v1/subscriptions/notify');
      expect(one.json()).toMatchObject({ name: 'notify', stats: { backlog: 1, inFlight: 0, dead: 0 } });

      const paused = await h.send('POST', '/v1/subscriptions/notify/pause');
      expect(paused.json()).toMatchObject({ name: 'notify', paused: true });
      expect(await pull('notify')).toEqual([]);
      const resumed = await h.send('POST', '/v1/subscriptions/notify/resume', {});
      expect(resumed.json()).toMatchObject({ paused: false });
      expect(await pull('notify')).toHaveLength(1);

      expect((await h.send('DELETE', '/v1/subscriptions/notify')).statusCode).toBe(204);
      const gone = await h.send('GET', '/v1/subscriptions/notify');
      expect(gone.statusCode).toBe(404);
      expect(gone.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    });

    it('rejects an unknown bus, a bad pattern and a missing pattern', async () => {
      const noBus = await h.send('PUT', '/v1/subscriptions/s', { bus: 'nope', pattern: {} });
      expect(noBus.statusCode).toBe(404);
      const badPattern = await h.send('PUT', '/v1/subscriptions/s', { bus: 'orders', pattern: { type: 'x' } });
      expect(badPattern.statusCode).toBe(400);
      expect(badPattern.json()).toMatchObject({ error: { code: 'INVALID_PATTERN' } });
      const missing = await h.send('PUT', '/v1/subscriptions/s', { bus: 'orders' });
      expect(missing.json()).toEqual({
        error: { code: 'INVALID_ARGUMENT', message: 'Expected `pattern` in the body, got nothing' },
      });
      expect((await h.send('GET', '/v1/subscriptions/s')).statusCode).toBe(404);
      expect((await h.send('POST', '/v1/subscriptions/s/pause')).statusCode).toBe(404);
      const unknownBus = await h.send('GET', '/v1/subscriptions?bus=nope');
      expect(unknownBus.statusCode).toBe(404);
    });
  });

  describe('pull', () => {
    beforeEach(async () => {
      await subscribe('work');
      await h.send('POST', '/v1/buses/orders/events', [event('a', {}, { id: '1' }), event('b', {}, { id: '2' })]);
    });

    it('pulls, acks, and leaves the backlog empty', async () => {
      const messages = await pull('work', { max: 10, leaseMs: 30_000 });
      expect(messages.map((m) => [m.event['id'], m.attempt])).toEqual([
        ['1', 1],
        ['2', 1],
      ]);
      const receipts = messages.map((m) => m.receipt);
      const ack = await h.send('POST', '/v1/subscriptions/work/ack', { receipts });
      expect(ack.statusCode).toBe(200);
      expect(ack.json()).toEqual({ results: receipts.map((receipt) => ({ receipt, status: 'ok' })) });
      const stats = await h.send('GET', '/v1/subscriptions/work');
      expect(stats.json()).toMatchObject({ stats: { backlog: 0, inFlight: 0, dead: 0 } });
    });

    it('answers 409 STALE_RECEIPT for a settled or invalid receipt, settling the valid ones', async () => {
      const [first, second] = await pull('work');
      await h.send('POST', '/v1/subscriptions/work/ack', { receipts: [first!.receipt] });
      const res = await h.send('POST', '/v1/subscriptions/work/ack', {
        receipts: [first!.receipt, second!.receipt, 'garbage'],
      });
      expect(res.statusCode).toBe(409);
      const body = res.json<{ error: { code: string; message: string }; results: unknown[] }>();
      expect(body.error.code).toBe('STALE_RECEIPT');
      expect(body.error.message).toContain('2 of 3 receipts are stale or invalid');
      expect(body.results).toEqual([
        { receipt: first!.receipt, status: 'stale' },
        { receipt: second!.receipt, status: 'ok' },
        { receipt: 'garbage', status: 'invalid' },
      ]);
      expect((await h.send('GET', '/v1/subscriptions/work')).json()).toMatchObject({ stats: { backlog: 0 } });
    });

    it('answers 409 for a receipt presented to another subscription, leaving its lease alone', async () => {
      await subscribe('other');
      const [first] = await pull('work', { max: 1 });
      for (const action of ['ack', 'nack', 'extend']) {
        const res = await h.send('POST', `/v1/subscriptions/other/${action}`, { receipts: [first!.receipt] });
        expect(res.statusCode).toBe(409);
        expect(res.json<{ results: unknown[] }>().results).toEqual([{ receipt: first!.receipt, status: 'stale' }]);
      }
      expect((await h.send('GET', '/v1/subscriptions/work')).json()).toMatchObject({ stats: { inFlight: 1 } });
      const ack = await h.send('POST', '/v1/subscriptions/work/ack', { receipts: [first!.receipt] });
      expect(ack.statusCode).toBe(200);
    });

    it('nacks for a retry, extends a lease, and rejects bad options', async () => {
      const [first] = await pull('work', { max: 1 });
      const extend = await h.send('POST', '/v1/subscriptions/work/extend', {
        receipts: [first!.receipt],
        leaseMs: 60_000,
      });
      expect(extend.json()).toEqual({ results: [{ receipt: first!.receipt, status: 'ok' }] });
      const nack = await h.send('POST', '/v1/subscriptions/work/nack', {
        receipts: [first!.receipt],
        delayMs: 0,
        error: 'database busy',
      });
      expect(nack.json()).toEqual({ results: [{ receipt: first!.receipt, status: 'ok' }] });
      const again = await pull('work', { max: 10 });
      expect(again.map((m) => [m.event['id'], m.attempt])).toEqual(
        expect.arrayContaining([
          ['1', 2],
          ['2', 1],
        ]),
      );

      const badMax = await h.send('POST', '/v1/subscriptions/work/pull', { max: 0 });
      expect(badMax.statusCode).toBe(400);
      expect(badMax.json<{ error: { message: string } }>().error.message).toBe(
        'Expected `max` to be an integer from 1 to 1000, got 0 (number)',
      );
      const unknownField = await h.send('POST', '/v1/subscriptions/work/ack', { receipt: 'x' });
      expect(unknownField.json<{ error: { message: string } }>().error.message).toContain('`receipt`');
      const noReceipts = await h.send('POST', '/v1/subscriptions/work/ack', { receipts: [] });
      expect(noReceipts.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      const unknownSub = await h.send('POST', '/v1/subscriptions/nope/pull', {});
      expect(unknownSub.statusCode).toBe(404);
    });
  });

  describe('dead letters', () => {
    /** Dead-letters both events of `work` by nacking them with `deadLetter`. */
    async function killAll(): Promise<void> {
      await subscribe('work');
      await h.send('POST', '/v1/buses/orders/events', [
        event('a', {}, { id: '1' }),
        event('b', { big: true }, { id: '2' }),
      ]);
      const receipts = (await pull('work')).map((m) => m.receipt);
      const nack = await h.send('POST', '/v1/subscriptions/work/nack', {
        receipts,
        deadLetter: true,
        error: 'bad order',
      });
      expect(nack.statusCode).toBe(200);
    }

    it('lists, gets, redrives (dry run first), deletes and purges', async () => {
      await killAll();
      const list = await h.send('GET', '/v1/subscriptions/work/dead-letters?limit=1');
      const page = list.json<{ deadLetters: Array<{ id: number; reason: string }>; cursor: string | null }>();
      expect(page.deadLetters).toHaveLength(1);
      expect(page.deadLetters[0]).toMatchObject({
        subscription: 'work',
        reason: 'non_retriable',
        event: { id: '1' },
        attempts: [{ attempt: 1, outcome: 'non_retriable', error: { message: 'bad order' } }],
      });
      expect(page.cursor).not.toBeNull();
      const next = await h.send('GET', `/v1/subscriptions/work/dead-letters?limit=1&cursor=${page.cursor}`);
      const second = next.json<{ deadLetters: Array<{ id: number }> }>().deadLetters[0]!;
      expect(second).toMatchObject({ event: { id: '2' } });

      const one = await h.send('GET', `/v1/subscriptions/work/dead-letters/${second.id}`);
      expect(one.json()).toMatchObject({ id: second.id, event: { id: '2' } });

      const dry = await h.send('POST', '/v1/subscriptions/work/dead-letters/redrive', {
        pattern: { data: { big: [true] } },
        dryRun: true,
      });
      expect(dry.json()).toEqual({ count: 1, dryRun: true });
      expect((await h.send('GET', '/v1/subscriptions/work')).json()).toMatchObject({ stats: { backlog: 0, dead: 2 } });
      const redrive = await h.send('POST', '/v1/subscriptions/work/dead-letters/redrive', { ids: [second.id] });
      expect(redrive.json()).toEqual({ count: 1, dryRun: false });
      expect((await h.send('GET', '/v1/subscriptions/work')).json()).toMatchObject({ stats: { backlog: 1, dead: 1 } });
      expect((await pull('work')).map((m) => m.event['id'])).toEqual(['2']);

      const first = page.deadLetters[0]!;
      expect((await h.send('DELETE', `/v1/subscriptions/work/dead-letters/${first.id}`)).statusCode).toBe(204);
      const missing = await h.send('GET', `/v1/subscriptions/work/dead-letters/${first.id}`);
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
      expect((await h.send('DELETE', `/v1/subscriptions/work/dead-letters/${first.id}`)).statusCode).toBe(404);
    });

    it('purges every dead letter', async () => {
      await killAll();
      const purge = await h.send('DELETE', '/v1/subscriptions/work/dead-letters');
      expect(purge.json()).toEqual({ deleted: 2 });
      const list = await h.send('GET', '/v1/subscriptions/work/dead-letters');
      expect(list.json()).toEqual({ deadLetters: [], cursor: null });
    });

    it('validates query strings, ids and redrive bodies', async () => {
      await subscribe('work');
      const limit = await h.send('GET', '/v1/subscriptions/work/dead-letters?limit=ten');
      expect(limit.statusCode).toBe(400);
      expect(limit.json()).toEqual({
        error: {
          code: 'INVALID_ARGUMENT',
          message: 'Expected `limit` in the query string to be integer, got "ten" (string)',
        },
      });
      const big = await h.send('GET', '/v1/subscriptions/work/dead-letters?limit=5000');
      expect(big.json<{ error: { message: string } }>().error.message).toContain('<= 1000');
      const typo = await h.send('GET', '/v1/subscriptions/work/dead-letters?limt=5');
      expect(typo.json<{ error: { message: string } }>().error.message).toBe(
        'Unexpected field `limt` in the query string',
      );
      const id = await h.send('GET', '/v1/subscriptions/work/dead-letters/abc');
      expect(id.statusCode).toBe(400);
      expect(id.json<{ error: { message: string } }>().error.message).toContain('`id` in the path');
      const body = await h.send('POST', '/v1/subscriptions/work/dead-letters/redrive', { ids: 'all' });
      expect(body.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      const unknown = await h.send('GET', '/v1/subscriptions/nope/dead-letters');
      expect(unknown.statusCode).toBe(404);
    });
  });

  describe('archive and lineage', () => {
    it('queries by pattern, type and time, pages with a cursor, and shows lineage', async () => {
      await subscribe('big', { data: { total: [{ numeric: ['>', 100] }] } });
      await h.send('POST', '/v1/buses/orders/events', [
        event('order.placed', { total: 30 }, { id: '1' }),
        event('order.placed', { total: 300 }, { id: '2' }),
        event('order.cancelled', { total: 500 }, { id: '3' }),
      ]);
      const pattern = encodeURIComponent(JSON.stringify({ data: { total: [{ numeric: ['>', 100] }] } }));
      expect((await archive(`?pattern=${pattern}`)).map((e) => e['id'])).toEqual(['2', '3']);
      expect((await archive('?type=order.placed')).map((e) => e['id'])).toEqual(['1', '2']);
      expect((await archive(`?from=${T0}&to=${T0}`)).map((e) => e['id'])).toEqual(['1', '2', '3']);
      expect(await archive(`?from=${T0 + 1}`)).toEqual([]);
      const page = await h.send('GET', '/v1/buses/orders/events?limit=2');
      const first = page.json<{ events: Array<{ id: string }>; cursor: string }>();
      expect(first.events.map((e) => e.id)).toEqual(['1', '2']);
      expect((await archive(`?limit=2&cursor=${first.cursor}`)).map((e) => e['id'])).toEqual(['3']);

      const lineage = await h.send('GET', '/v1/buses/orders/events/2');
      expect(lineage.statusCode).toBe(200);
      expect(lineage.json()).toEqual([
        expect.objectContaining({
          event: expect.objectContaining({ id: '2' }) as unknown,
          publishedAt: T0,
          deliveries: [expect.objectContaining({ subscription: 'big', state: 'pending' })],
          matchesNow: ['big'],
        }),
      ]);
      const missing = await h.send('GET', '/v1/buses/orders/events/nope');
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    });

    it('rejects bad query strings with a clear 400', async () => {
      const badPattern = await h.send('GET', `/v1/buses/orders/events?pattern=${encodeURIComponent('{"type":"x"}')}`);
      expect(badPattern.statusCode).toBe(400);
      expect(badPattern.json()).toMatchObject({ error: { code: 'INVALID_PATTERN' } });
      const from = await h.send('GET', '/v1/buses/orders/events?from=yesterday');
      expect(from.json()).toEqual({
        error: {
          code: 'INVALID_ARGUMENT',
          message: 'Expected `from` in the query string to be integer, got "yesterday" (string)',
        },
      });
      const cursor = await h.send('GET', '/v1/buses/orders/events?cursor=abc');
      expect(cursor.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      expect((await h.send('GET', '/v1/buses/nope/events')).statusCode).toBe(404);
    });
  });

  describe('replays', () => {
    it('starts a replay on a bus, gets, lists and cancels it', async () => {
      await subscribe('work');
      await h.send('POST', '/v1/buses/orders/events', [event('a', {}, { id: '1' }), event('b', {}, { id: '2' })]);
      const start = await h.send('POST', '/v1/buses/orders/replays', { from: T0, to: T0, subscriptions: ['work'] });
      expect(start.statusCode).toBe(202);
      const record = start.json<{ id: string }>();
      expect(record).toMatchObject({ bus: 'orders', from: T0, to: T0, subscriptions: ['work'], state: 'running' });
      const done = await h.bus.replays.wait(record.id);
      expect(done).toMatchObject({ state: 'completed', scanned: 2, enqueued: 2 });
      const got = await h.send('GET', `/v1/replays/${record.id}`);
      expect(got.json()).toMatchObject({ id: record.id, state: 'completed', enqueued: 2 });
      const replayed = await pull('work');
      expect(replayed.filter((m) => m.event['replayid'] === record.id)).toHaveLength(2);

      const second = await h.send('POST', '/v1/replays', { bus: 'orders', from: T0, ratePerSec: 1 });
      expect(second.statusCode).toBe(202);
      const id = second.json<{ id: string }>().id;
      const cancel = await h.send('POST', `/v1/replays/${id}/cancel`);
      expect(cancel.statusCode).toBe(200);
      expect(cancel.json<{ state: string }>().state).toMatch(/^(cancelled|completed)$/);
      const list = await h.send('GET', '/v1/replays?bus=orders');
      expect(
        list
          .json<{ replays: Array<{ id: string }> }>()
          .replays.map((r) => r.id)
          .sort(),
      ).toEqual([record.id, id].sort());
    });

    it('rejects bad replays and answers 404 for unknown ones', async () => {
      const noFrom = await h.send('POST', '/v1/buses/orders/replays', {});
      expect(noFrom.statusCode).toBe(400);
      expect(noFrom.json<{ error: { message: string } }>().error.message).toContain('`from`');
      const mismatch = await h.send('POST', '/v1/buses/orders/replays', { bus: 'other', from: T0 });
      expect(mismatch.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
      const noBus = await h.send('POST', '/v1/buses/nope/replays', { from: T0 });
      expect(noBus.statusCode).toBe(404);
      const missingBus = await h.send('POST', '/v1/replays', { from: T0 });
      expect(missingBus.json<{ error: { message: string } }>().error.message).toContain('`bus`');
      const unknown = await h.send('GET', '/v1/replays/nope');
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
      expect((await h.send('POST', '/v1/replays/nope/cancel')).statusCode).toBe(404);
      expect((await h.send('GET', '/v1/replays')).json()).toEqual({ replays: [] });
    });
  });
}
