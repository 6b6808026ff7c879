/** `GET /v1/buses/{bus}/tail`: stored events as Server-Sent Events, over a real socket. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { event, harness, type Harness } from './support/server.js';
import { openSse } from './support/sse.js';

let h: Harness;
let base: string;

beforeEach(async () => {
  h = await harness('memory', { server: { apiKeys: [{ key: 'admin-key-0000000001', scopes: ['admin'] }] } });
  await h.bus.putBus('orders');
  await h.bus.putBus('other');
  base = await h.app.listen({ port: 0, host: '127.0.0.1' });
});

afterEach(() => h.close());

/** A tail stream whose messages come parsed: the seq as id, the CloudEvent. */
async function open(path: string) {
  const stream = await openSse(`${base}${path}`, { authorization: 'Bearer admin-key-0000000001' });
  return {
    ...stream,
    messages: async (count: number) =>
      (await stream.messages('cloudevent', count)).map((m) => ({
        id: m.id!,
        event: JSON.parse(m.data) as Record<string, unknown>,
      })),
  };
}

describe('GET /v1/buses/{bus}/tail', () => {
  it('streams the events of its bus from now on, filtered by the pattern, with their seq as id', async () => {
    await h.bus.publish('orders', event('before'));
    const all = await open('/v1/buses/orders/tail');
    const pattern = encodeURIComponent(JSON.stringify({ type: ['order.paid'] }));
    const paid = await open(`/v1/buses/orders/tail?pattern=${pattern}`);
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await h.bus.publish('other', event('elsewhere'));
    await h.bus.publish('orders', [event('order.placed', { n: 1 }), event('order.paid', { n: 2 })]);
    // A duplicate is not stored, so not streamed.
    await h.bus.publish('orders', event('order.paid', { n: 2 }, { id: 'fixed' }));
    await h.bus.publish('orders', event('order.paid', { n: 2 }, { id: 'fixed' }));
    const seen = await all.messages(3);
    expect(seen.map((m) => m.event['type'])).toEqual(['order.placed', 'order.paid', 'order.paid']);
    expect(seen.map((m) => Number(m.id))).toEqual([...seen.map((m) => Number(m.id))].sort((a, b) => a - b));
    expect(seen[0]!.event).toMatchObject({ specversion: '1.0', source: '/shop', data: { n: 1 } });
    expect((await paid.messages(2)).map((m) => m.event['type'])).toEqual(['order.paid', 'order.paid']);
    expect(paid.text()).not.toContain('order.placed');
    all.close();
    paid.close();
  });

  it('answers errors before streaming: unknown bus, bad pattern, missing key, unknown parameter', async () => {
    const unknown = await h.send('GET', '/v1/buses/nope/tail', undefined, {
      authorization: 'Bearer admin-key-0000000001',
    });
    expect([unknown.statusCode, unknown.json<{ error: { code: string } }>().error.code]).toEqual([404, 'NOT_FOUND']);
    const bad = await h.send('GET', `/v1/buses/orders/tail?pattern=${encodeURIComponent('{"type":"x"}')}`, undefined, {
      authorization: 'Bearer admin-key-0000000001',
    });
    expect([bad.statusCode, bad.json<{ error: { code: string } }>().error.code]).toEqual([400, 'INVALID_PATTERN']);
    const notJson = await h.send('GET', '/v1/buses/orders/tail?pattern=%7Bnope', undefined, {
      authorization: 'Bearer admin-key-0000000001',
    });
    expect(notJson.json<{ error: { code: string } }>().error.code).toBe('INVALID_PATTERN');
    const anonymous = await h.send('GET', '/v1/buses/orders/tail');
    expect(anonymous.statusCode).toBe(401);
    const extra = await h.send('GET', '/v1/buses/orders/tail?since=1', undefined, {
      authorization: 'Bearer admin-key-0000000001',
    });
    expect(extra.statusCode).toBe(400);
  });

  it('stops listening when the client goes, and lets the server close with streams open', async () => {
    const stream = await open('/v1/buses/orders/tail');
    await h.bus.publish('orders', event('a'));
    await stream.messages(1);
    stream.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await h.bus.publish('orders', event('b'));
    const open2 = await open('/v1/buses/orders/tail');
    const closed = h.app.close();
    await expect(closed).resolves.toBeUndefined();
    open2.close();
  });
});
