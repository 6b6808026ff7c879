/**
 * The HTTP API on the memory driver: the shared route suite, plus what needs a special set-up (body
 * limits, a failing storage, unexpected errors, a closed bus).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openMemory } from '../src/storage/memory/index.js';
import type { StorageDriver } from '../src/storage/driver.js';
import { describeServer } from './support/server-suite.js';
import { event, harness, type Harness } from './support/server.js';

describe('HTTP API (memory)', () => {
  describeServer('memory');
});

/** A memory driver whose every call fails while `failing` is set, like a disk that went away. */
function flakyDriver(): { driver: StorageDriver; fail(on: boolean): void } {
  const inner = openMemory();
  let failing = false;
  const driver = new Proxy(inner, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || key === 'close') return value;
      return (...args: unknown[]): unknown => {
        if (failing) return Promise.reject(new Error('disk I/O error'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { driver, fail: (on) => (failing = on) };
}

describe('HTTP API: limits and failures', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('answers 413 PAYLOAD_TOO_LARGE for a body over maxBodyBytes and stores nothing', async () => {
    h = await harness('memory', { server: { maxBodyBytes: 1024 } });
    await h.send('PUT', '/v1/buses/orders');
    const res = await h.send('POST', '/v1/buses/orders/events', event('big', { text: 'x'.repeat(2000) }));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({
      error: { code: 'PAYLOAD_TOO_LARGE', message: 'The request body is larger than the server accepts' },
    });
    const binary = await h.send('POST', '/v1/buses/orders/events', Buffer.alloc(2000), {
      'content-type': 'application/octet-stream',
      'ce-specversion': '1.0',
      'ce-id': '1',
      'ce-source': '/s',
      'ce-type': 't',
    });
    expect(binary.statusCode).toBe(413);
    expect(await h.bus.queryArchive('orders')).toEqual({ events: [], cursor: null });
  });

  it('answers 413 EVENT_TOO_LARGE for an event over the engine limit, with per-event results', async () => {
    h = await harness('memory', { engine: { maxEventBytes: 1024 } });
    await h.send('PUT', '/v1/buses/orders');
    const res = await h.send('POST', '/v1/buses/orders/events', [
      event('ok'),
      event('big', { text: 'x'.repeat(2000) }),
    ]);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({
      error: { code: 'EVENT_TOO_LARGE' },
      results: [
        { index: 0, status: 'valid' },
        { index: 1, status: 'invalid', error: { code: 'EVENT_TOO_LARGE' } },
      ],
    });
    expect(await h.bus.queryArchive('orders')).toEqual({ events: [], cursor: null });
  });

  it('answers 503 STORAGE_UNAVAILABLE when storage fails, and /readyz says so', async () => {
    const flaky = flakyDriver();
    h = await harness(flaky.driver);
    await h.send('PUT', '/v1/buses/orders');
    flaky.fail(true);
    const res = await h.send('POST', '/v1/buses/orders/events', event('x', {}, { id: 'lost' }));
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      error: { code: 'STORAGE_UNAVAILABLE', message: 'Storage failed: disk I/O error' },
    });
    const ready = await h.send('GET', '/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({
      status: 'unavailable',
      error: { code: 'STORAGE_UNAVAILABLE', message: 'Storage is not answering: disk I/O error' },
    });
    expect((await h.send('GET', '/healthz')).statusCode).toBe(200);
    flaky.fail(false);
    expect((await h.send('GET', '/readyz')).statusCode).toBe(200);
    expect(await h.bus.queryArchive('orders')).toEqual({ events: [], cursor: null });
  });

  it('answers 503 CLOSED once the bus is closed', async () => {
    h = await harness('memory');
    await h.send('PUT', '/v1/buses/orders');
    await h.bus.close();
    const res = await h.send('POST', '/v1/buses/orders/events', event('x'));
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: { code: 'CLOSED', message: 'This Busbar instance is closed' } });
    expect((await h.send('GET', '/readyz')).statusCode).toBe(503);
  });

  it('answers 500 INTERNAL for an unexpected error without leaking its message or stack', async () => {
    h = await harness('memory');
    h.app.get('/boom', () => {
      throw new Error('secret detail at /home/app/x.js:1');
    });
    const res = await h.send('GET', '/boom');
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      error: { code: 'INTERNAL', message: 'An unexpected error occurred; the server log has the details' },
    });
    expect(res.body).not.toContain('secret');
  });

  it('rejects a bad maxBodyBytes', async () => {
    h = await harness('memory');
    const { buildServer } = await import('../src/server/index.js');
    expect(() => buildServer(h!.bus, { maxBodyBytes: 0 })).toThrow('Expected `maxBodyBytes` to be a positive integer');
  });
});
