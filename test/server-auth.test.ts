/** API keys and scopes through `app.inject()`: 401 without a valid key, 403 outside its scopes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Busbar } from '../src/busbar.js';
import { buildServer } from '../src/server/index.js';
import { parseApiKeys } from '../src/server/auth.js';

let bus: Busbar;
let app: ReturnType<typeof buildServer>;
const SHOP = 'shop-key-0123456789';
const OPS = 'ops-key-0123456789';

beforeAll(async () => {
  bus = await Busbar.open({ storage: 'memory' });
  await bus.putBus('orders');
  await bus.putBus('audit');
  await bus.putSubscription('inv-eu', { bus: 'orders', pattern: { type: ['x'] }, target: { type: 'pull' } });
  app = buildServer(bus, { apiKeys: parseApiKeys(`${SHOP}=publish:orders,consume:inv-*;${OPS}=admin`) });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await bus.close();
});

const as = (key: string | undefined, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
  app.inject({ method, url, payload, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
const event = { specversion: '1.0', source: '/shop', type: 'x' };

describe('API keys', () => {
  it('answers 401 without a key or with an unknown one, and leaves health checks open', async () => {
    const none = await as(undefined, 'POST', '/v1/buses/orders/events', event);
    expect([none.statusCode, none.json<{ error: { code: string } }>().error.code]).toEqual([401, 'UNAUTHORIZED']);
    expect((await as('not-a-key-at-all-0000', 'GET', '/v1/buses')).statusCode).toBe(401);
    expect((await as(undefined, 'GET', '/healthz')).statusCode).toBe(200);
    expect((await bus.queryArchive('orders')).events).toHaveLength(0);
  });

  it('lets a key publish and consume only within its scopes', async () => {
    expect((await as(SHOP, 'POST', '/v1/buses/orders/events', event)).statusCode).toBe(200);
    const other = await as(SHOP, 'POST', '/v1/buses/audit/events', event);
    expect([other.statusCode, other.json<{ error: { message: string } }>().error.message]).toEqual([
      403,
      'The API key lacks the scope "publish:audit"',
    ]);
    expect((await as(SHOP, 'POST', '/v1/subscriptions/inv-eu/pull', {})).statusCode).toBe(200);
    expect((await as(SHOP, 'GET', '/v1/buses')).statusCode).toBe(403);
    expect((await as(SHOP, 'POST', '/v1/test-pattern', { pattern: { a: ['x'] }, event: { a: 'x' } })).statusCode).toBe(
      200,
    );
    expect((await bus.queryArchive('audit')).events).toHaveLength(0);
  });

  it('lets an admin key do everything', async () => {
    expect((await as(OPS, 'GET', '/v1/buses')).statusCode).toBe(200);
    expect((await as(OPS, 'PUT', '/v1/buses/new', {})).statusCode).toBe(200);
    expect((await as(OPS, 'POST', '/v1/buses/audit/events', event)).statusCode).toBe(200);
  });
});
