/** Secret rotation: with several secrets every request carries one signature per secret. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Busbar } from '../src/busbar.js';
import { BusError } from '../src/core/errors.js';
import { webhookHandler } from '../src/server/webhooks/index.js';
import { validateTarget } from '../src/core/engine/targets.js';

const OLD = `whsec_${Buffer.from('old-secret-0123456789abcdef').toString('base64')}`;
const NEW = `whsec_${Buffer.from('new-secret-0123456789abcdef').toString('base64')}`;
const OTHER = `whsec_${Buffer.from('another-secret-0123456789ab').toString('base64')}`;
const seen: Array<{ body: string; headers: IncomingHttpHeaders }> = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8').on('data', (c: string) => (body += c));
  req.on('end', () => {
    seen.push({ body, headers: req.headers });
    res.statusCode = 204;
    res.end();
  });
});
let port = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
});
afterAll(() => new Promise((resolve) => receiver.close(resolve)));

it('signs with every secret, so receivers on the old or the new secret both verify', async () => {
  const bus = await Busbar.open({ storage: 'memory' });
  try {
    await bus.putBus('b');
    const target = { type: 'webhook', url: `http://127.0.0.1:${port}/`, secret: [OLD, NEW] };
    await bus.putSubscription('hook', { bus: 'b', pattern: { type: ['x'] }, target });
    bus.consume('hook', webhookHandler(validateTarget(target) as never));
    await bus.publish('b', { specversion: '1.0', source: '/s', type: 'x', data: { n: 1 } });
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const [{ body, headers }] = seen as [(typeof seen)[0]];
    const plain = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]));
    expect(plain['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(OLD).verify(body, plain)).toEqual({ n: 1 });
    expect(new Webhook(NEW).verify(body, plain)).toEqual({ n: 1 });
    expect(() => new Webhook(OTHER).verify(body, plain)).toThrow();
  } finally {
    await bus.close();
  }
});

it('accepts one to five secrets', () => {
  const base = { type: 'webhook', url: 'https://example.com/hook' };
  expect(() => validateTarget({ ...base, secret: [] })).toThrow(BusError);
  expect(() => validateTarget({ ...base, secret: [OLD, NEW, OTHER, OLD, NEW, OTHER] })).toThrow(
    /one secret or a list of 1 to 5 during a rotation/,
  );
  expect(() => validateTarget({ ...base, secret: [OLD, 'nope'] })).toThrow(/"whsec_" followed by the base64/);
});
