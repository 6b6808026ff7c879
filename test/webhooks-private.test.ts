/** Webhook targets on private addresses are refused (dead-lettered, never connected) unless allowed. */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Busbar } from '../src/busbar.js';
import { isPrivateAddress } from '../src/server/webhooks/addresses.js';
import { webhookHandler } from '../src/server/webhooks/index.js';

describe('isPrivateAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['8.8.8.8', false],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['fd00::1', true],
    ['::ffff:10.0.0.1', true],
    ['2001:db8::1', false],
  ])('%s → %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });
});

describe('allowPrivateTargets: false', () => {
  let hits = 0;
  const receiver = createServer((_req, res) => {
    hits++;
    res.statusCode = 204;
    res.end();
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });
  afterAll(() => new Promise((resolve) => receiver.close(resolve)));

  it.each(['127.0.0.1', 'localhost'])('dead-letters a target on %s without connecting', async (host) => {
    const bus = await Busbar.open({ storage: 'memory' });
    try {
      await bus.putBus('b');
      await bus.putSubscription('hook', { bus: 'b', pattern: { type: ['x'] } });
      const handler = webhookHandler(
        { type: 'webhook', url: `http://${host}:${port}/`, mode: 'binary' },
        { allowPrivateTargets: false },
      );
      bus.consume('hook', handler);
      await bus.publish('b', { specversion: '1.0', source: '/s', type: 'x' });
      for (let i = 0; i < 200 && (await bus.stats('hook')).dead === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const { deadLetters } = await bus.deadLetters.list('hook');
      expect(deadLetters[0]?.reason).toBe('non_retriable');
      expect(deadLetters[0]?.attempts[0]?.error?.message).toMatch(
        /^refusing to deliver to .*private, loopback and link-local targets are not allowed/,
      );
      expect(hits).toBe(0);
    } finally {
      await bus.close();
    }
  });
});
