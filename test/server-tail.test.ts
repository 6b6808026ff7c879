/** `GET /v1/buses/{bus}/tail`: stored events as Server-Sent Events, over a real socket. */
import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { event, harness, type Harness } from './support/server.js';

let h: Harness;
let base: string;

beforeEach(async () => {
  h = await harness('memory', { server: { apiKeys: [{ key: 'admin-key-0000000001', scopes: ['admin'] }] } });
  await h.bus.putBus('orders');
  await h.bus.putBus('other');
  base = await h.app.listen({ port: 0, host: '127.0.0.1' });
});

afterEach(() => h.close());

interface Stream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Resolves with the parsed `cloudevent` messages once `count` arrived. */
  messages(count: number): Promise<Array<{ id: string; event: Record<string, unknown> }>>;
  /** Everything received so far. */
  text(): string;
  close(): void;
}

function open(path: string, key = 'admin-key-0000000001'): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } }, (res) => {
      let text = '';
      const waiters: Array<() => void> = [];
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        for (const w of waiters.splice(0)) w();
      });
      const parse = () =>
        text
          .split('\n\n')
          .filter((block) => block.startsWith('event: cloudevent'))
          .map((block) => {
            const lines = block.split('\n');
            const data = lines
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n');
            return {
              id: lines.find((l) => l.startsWith('id: '))!.slice(4),
              event: JSON.parse(data) as Record<string, unknown>,
            };
          });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => text,
        close: () => req.destroy(),
        messages: (count) =>
          new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`timed out; received: ${text}`)), 5_000);
            const check = (): void => {
              const found = parse();
              if (found.length >= count) {
                clearTimeout(timer);
                done(found);
              } else waiters.push(check);
            };
            check();
          }),
      });
    });
    req.on('error', reject);
  });
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
