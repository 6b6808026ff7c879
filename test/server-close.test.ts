/** Closing the server answers waiting long-polls at once, so a shutdown never waits for `waitMs`. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { harness, type Harness } from './support/server.js';

let h: Harness;
beforeEach(async () => {
  h = await harness('memory');
  await h.bus.putBus('orders');
  await h.bus.putSubscription('work', { bus: 'orders', pattern: { source: ['/shop'] }, target: { type: 'pull' } });
});
afterEach(() => h.bus.close());

describe('closing the server', () => {
  it('answers a waiting long-poll with no messages and closes without waiting for it', async () => {
    const base = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const poll = fetch(`${base}/v1/subscriptions/work/pull`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ waitMs: 30_000 }),
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    await h.app.close();
    expect(performance.now() - started).toBeLessThan(5_000);
    const res = await poll;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ messages: [] });
  });
});
