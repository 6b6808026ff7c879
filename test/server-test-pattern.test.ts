/** `POST /v1/test-pattern` through `app.inject()`. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, type Harness } from './support/server.js';

let h: Harness;
beforeAll(async () => {
  h = await harness('memory');
});
afterAll(() => h.close());

const post = (payload: unknown) =>
  h.app.inject({ method: 'POST', url: '/v1/test-pattern', payload: payload as object });

describe('POST /v1/test-pattern', () => {
  it('answers match true or false, for objects and for JSON text', async () => {
    const yes = await post({ pattern: { type: ['order.placed'] }, event: { type: 'order.placed' } });
    expect([yes.statusCode, yes.json()]).toEqual([200, { match: true }]);
    const no = await post({ pattern: { type: ['order.placed'] }, event: { type: 'order.paid' } });
    expect(no.json()).toEqual({ match: false });
    const text = await post({ pattern: '{"n":[12345678901234567890]}', event: '{"n":12345678901234567890}' });
    expect(text.json()).toEqual({ match: true });
  });

  it('reports an invalid pattern, event or body with a 400 and its code', async () => {
    const pattern = await post({ pattern: { type: 'x' }, event: {} });
    expect(pattern.statusCode).toBe(400);
    expect(pattern.json()).toEqual({
      error: {
        code: 'INVALID_PATTERN',
        message: 'Event pattern is not valid. Reason: "type" must be an object or an array (at "type")',
        details: { path: 'type', reason: '"type" must be an object or an array' },
      },
    });
    const event = await post({ pattern: { type: ['x'] }, event: '{"type": ' });
    expect([event.statusCode, event.json<{ error: { code: string } }>().error.code]).toEqual([400, 'INVALID_JSON']);
    const missing = await post({ pattern: { type: ['x'] } });
    expect(missing.json<{ error: { message: string } }>().error.message).toBe(
      'Expected `event` to be an object or JSON text, got undefined',
    );
  });
});
