import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Busbar } from '../busbar.js';
import { ManualClock } from '../core/clock.js';
import { BusError } from '../core/errors.js';
import { applyTopology, describeTopology, loadTopology } from './topology.js';

const dir = mkdtempSync(join(tmpdir(), 'busbar-topology-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes `text` to a new file with extension `ext`; returns its path. */
function file(text: string, ext = 'yaml'): string {
  const path = join(dir, `t${++files}.${ext}`);
  writeFileSync(path, text);
  return path;
}

/** The message of the BusError `load` throws (the file's path shortened to `F`), checking its code. */
function failure(load: () => unknown, path?: string): string {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).code).toBe('INVALID_ARGUMENT');
    return path === undefined ? (err as BusError).message : (err as BusError).message.replace(path, 'F');
  }
  throw new Error('expected a failure');
}

const YAML = `
buses:
  orders:
    retention: { maxAgeMs: 604800000, maxBytes: null }
  audit:
subscriptions:
  inventory:
    bus: orders
    pattern: { type: [order.placed] }
    target: { type: pull }
    delivery: { maxAttempts: 5 }
  notify:
    bus: orders
    pattern: { source: ['/shop'] }
apiKeys:
  - key: \${SHOP_KEY}
    scopes: [publish:orders, consume:inv-*]
`;

const env = { SHOP_KEY: 'shop-key-0123456789' };

describe('loadTopology', () => {
  it('reads YAML and JSON into the same topology, expanding ${VAR} from the environment', () => {
    const yaml = loadTopology(file(YAML), env);
    expect(yaml.buses).toEqual([
      { name: 'orders', retention: { maxAgeMs: 604800000, maxBytes: null } },
      { name: 'audit' },
    ]);
    expect(yaml.subscriptions).toEqual([
      {
        name: 'inventory',
        input: {
          bus: 'orders',
          pattern: { type: ['order.placed'] },
          target: { type: 'pull' },
          delivery: { maxAttempts: 5 },
        },
      },
      // Without a target a subscription is pulled, as with PUT /v1/subscriptions.
      { name: 'notify', input: { bus: 'orders', pattern: { source: ['/shop'] }, target: { type: 'pull' } } },
    ]);
    expect(yaml.apiKeys).toEqual([{ key: 'shop-key-0123456789', scopes: ['publish:orders', 'consume:inv-*'] }]);

    const json = JSON.stringify({
      buses: { orders: { retention: { maxAgeMs: 604800000, maxBytes: null } }, audit: {} },
      subscriptions: {
        inventory: {
          bus: 'orders',
          pattern: { type: ['order.placed'] },
          target: { type: 'pull' },
          delivery: { maxAttempts: 5 },
        },
        notify: { bus: 'orders', pattern: { source: ['/shop'] } },
      },
      apiKeys: [{ key: '${SHOP_KEY}', scopes: ['publish:orders', 'consume:inv-*'] }],
    });
    const fromJson = loadTopology(file(json, 'json'), env);
    expect({ ...fromJson, file: '' }).toEqual({ ...yaml, file: '' });
  });

  it('loads the example file', () => {
    const example = fileURLToPath(new URL('../../examples/busbar.config.yaml', import.meta.url));
    const keys = { SHOP_KEY: 'k'.repeat(16), INVENTORY_KEY: 'i'.repeat(16), OPS_KEY: 'o'.repeat(16) };
    const secret = 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
    const topology = loadTopology(example, { ...keys, NOTIFY_WEBHOOK_SECRET: secret });
    expect(topology.subscriptions.map((s) => s.input.target)).toEqual([
      { type: 'pull' },
      { type: 'webhook', url: 'https://example.com/hooks/orders', secret },
    ]);
    expect(topology.apiKeys.map((k) => k.scopes)).toEqual([['publish:orders'], ['consume:inventory'], ['admin']]);
  });

  it('refuses a variable that is not set, and keeps $${VAR} as text', () => {
    const path = file('subscriptions:\n  s:\n    bus: b\n    pattern: { type: ["${MISSING}"] }\n');
    const message = '`subscriptions.s.pattern.type[0]` refers to ${MISSING}, which is not set in the environment';
    expect(failure(() => loadTopology(path, {}), path)).toBe(`F: ${message}`);
    expect(failure(() => loadTopology(path, { MISSING: '' }), path)).toBe(`F: ${message}`);
    const escaped = loadTopology(file('subscriptions:\n  s:\n    bus: b\n    pattern: { type: ["$${X}-${X}"] }\n'), {
      X: 'x',
    });
    expect(escaped.subscriptions[0]!.input.pattern).toEqual({ type: ['${X}-x'] });
  });

  const sub = (body: string): string => `subscriptions:\n  inventory:\n    bus: orders\n${body}`;
  it.each([
    [
      'an unknown section',
      'queues: {}',
      'F: Unexpected key `queues`; the file has `buses`, `subscriptions` and `apiKeys`',
    ],
    ['a list at the top', '- a', 'F: Expected an object with `buses`, `subscriptions` and `apiKeys`, got an array'],
    ['an empty file', '', 'F: Expected an object with `buses`, `subscriptions` and `apiKeys`, got null'],
    ['buses as a list', 'buses: [orders]', 'F: Expected `buses` to be an object of entries by name, got an array'],
    [
      'an unknown bus key',
      'buses:\n  orders: { retain: 1 }',
      'F: Unexpected key `buses.orders.retain`; a bus has `retention`',
    ],
    [
      'a bad bus name',
      'buses:\n  "my orders": {}',
      'F: Expected the name of `buses.my orders` to be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit, got "my orders" (string)',
    ],
    [
      'a bad retention',
      'buses:\n  orders: { retention: { maxAgeMs: -1 } }',
      `F: Expected \`buses.orders.retention.maxAgeMs\` to be an integer from 1 to ${Number.MAX_SAFE_INTEGER}, got -1 (number)`,
    ],
    [
      'an unknown subscription key',
      sub('    pattern: { type: [x] }\n    retries: 3\n'),
      'F: Unexpected key `subscriptions.inventory.retries`; a subscription has `bus`, `pattern`, `target` and `delivery`',
    ],
    [
      'a subscription without a bus',
      'subscriptions:\n  inventory: { pattern: { type: [x] } }',
      'F: Expected `subscriptions.inventory.bus` to be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit, got undefined',
    ],
    [
      'a subscription without a pattern',
      sub(''),
      'F: Expected `subscriptions.inventory.pattern` to be an event pattern, got undefined',
    ],
    [
      'an invalid pattern',
      sub('    pattern: { type: order.placed }\n'),
      'F: subscriptions.inventory.pattern: Event pattern is not valid. Reason: "type" must be an object or an array (at "type")',
    ],
    [
      'an unknown target type',
      sub('    pattern: { type: [x] }\n    target: { type: email }\n'),
      'F: Expected `subscriptions.inventory.target.type` to be one of "handler", "pull", "webhook", got "email" (string)',
    ],
    [
      'a bad webhook URL',
      sub('    pattern: { type: [x] }\n    target: { type: webhook, url: ftp://x }\n'),
      'F: Expected `subscriptions.inventory.target.url` to be an absolute http or https URL, got "ftp://x" (string)',
    ],
    [
      'a bad delivery policy',
      sub('    pattern: { type: [x] }\n    delivery: { maxAttempts: 0 }\n'),
      'F: Expected `subscriptions.inventory.delivery.maxAttempts` to be an integer from 1 to 1000, got 0 (number)',
    ],
    [
      'an unknown delivery option',
      sub('    pattern: { type: [x] }\n    delivery: { retries: 3 }\n'),
      'F: Expected `subscriptions.inventory.delivery.retries` to be one of maxAttempts, maxAgeMs, backoff, timeoutMs, concurrency, ordered (unknown option), got "retries" (string)',
    ],
    ['apiKeys not a list', 'apiKeys: {}', 'F: Expected `apiKeys` to be a list of `{ key, scopes }`, got an object'],
    [
      'a short API key (not shown)',
      'apiKeys:\n  - { key: short-secret, scopes: [admin] }',
      'F: Expected `apiKeys[0].key` to be at least 16 characters without spaces, got one of 12',
    ],
    [
      'an API key without scopes',
      'apiKeys:\n  - { key: a-key-of-16-chars }',
      'F: Expected `apiKeys[0].scopes` to be a non-empty list, got undefined',
    ],
    [
      'a bad scope',
      'apiKeys:\n  - { key: a-key-of-16-chars, scopes: [admin, write:orders] }',
      'F: Expected `apiKeys[0].scopes[1]` to be admin, publish:<bus> or consume:<subscription>, got "write:orders" (string)',
    ],
    [
      'an unknown API key field',
      'apiKeys:\n  - { key: a-key-of-16-chars, scopes: [admin], name: ops }',
      'F: Unexpected key `apiKeys[0].name`; an API key has `key` and `scopes`',
    ],
    [
      'bad YAML, with line and column',
      'buses:\n  orders: [1, 2\nsubscriptions: {}\n',
      'F: Invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 3, column 1',
    ],
    ['a key given twice', 'buses: {}\nbuses: {}\n', 'F: Invalid YAML: Map keys must be unique at line 2, column 1'],
  ])('refuses %s', (_, text, message) => {
    const path = file(text);
    expect(failure(() => loadTopology(path, {}), path)).toBe(message);
  });

  it('reports bad JSON with line and column, a missing file and an unknown extension', () => {
    const json = file('{\n  "buses": {\n    "orders": {},\n  }\n}', 'json');
    expect(failure(() => loadTopology(json), json)).toBe(
      'F: Invalid JSON at line 4, column 3: Expected double-quoted property name',
    );
    const missing = join(dir, 'missing.yaml');
    expect(failure(() => loadTopology(missing), missing)).toMatch(/^Cannot read the topology file F: ENOENT/);
    expect(failure(() => loadTopology('busbar.toml'))).toBe(
      'Expected the topology file to end in .json, .yaml or .yml, got "busbar.toml" (string)',
    );
  });
});

describe('applyTopology', () => {
  let clock: ManualClock;
  let bus: Busbar;
  beforeEach(async () => {
    clock = new ManualClock(Date.parse('2026-11-27T00:00:00Z'));
    bus = await Busbar.open({ storage: 'memory', clock });
  });
  afterEach(() => bus.close());

  it('creates what is declared, and a second apply changes nothing', async () => {
    const topology = loadTopology(file(YAML), env);
    expect(await applyTopology(bus, topology)).toEqual({ created: 4, updated: 0, unchanged: 0 });
    expect(bus.getBus('orders').retention).toEqual({ maxAgeMs: 604800000, maxBytes: null });
    const inventory = bus.getSubscription('inventory');
    expect(inventory).toMatchObject({
      bus: 'orders',
      pattern: '{"type":["order.placed"]}',
      target: { type: 'pull' },
      delivery: { maxAttempts: 5, timeoutMs: 30_000 },
    });

    await clock.advance(60_000);
    expect(await applyTopology(bus, loadTopology(file(YAML), env))).toEqual({ created: 0, updated: 0, unchanged: 4 });
    expect(bus.getSubscription('inventory')).toEqual(inventory);
    expect(bus.getBus('orders').updatedAt).toBe(inventory.createdAt);
    expect(describeTopology(topology, { created: 0, updated: 0, unchanged: 4 })).toBe(
      `topology ${topology.file}: 2 buses, 2 subscriptions applied (0 created, 0 updated, 4 unchanged; nothing else is changed or deleted), 1 API key`,
    );
  });

  it('updates what changed, keeps what the API changed and the file does not declare, and deletes nothing', async () => {
    await applyTopology(bus, loadTopology(file(YAML), env));
    await bus.putSubscription('inventory', {
      bus: 'orders',
      pattern: { type: ['order.placed'] },
      target: { type: 'pull' },
      delivery: { timeoutMs: 5_000 },
    });
    await bus.putSubscription('extra', { bus: 'orders', pattern: { type: ['x'] } });
    const before = bus.getSubscription('inventory');
    await clock.advance(60_000);

    const changed = YAML.replace('pattern: { type: [order.placed] }', 'pattern: { type: [order.shipped] }');
    expect(await applyTopology(bus, loadTopology(file(changed), env))).toEqual({
      created: 0,
      updated: 1,
      unchanged: 3,
    });
    const after = bus.getSubscription('inventory');
    expect(after.pattern).toBe('{"type":["order.shipped"]}');
    expect(after.updatedAt).toBe(before.updatedAt + 60_000);
    expect(after.delivery).toMatchObject({ maxAttempts: 5, timeoutMs: 5_000 });
    expect(bus.listSubscriptions().map((s) => s.name)).toEqual(['extra', 'inventory', 'notify']);
  });

  it('accepts a bus that exists already, and applies nothing when a reference is wrong', async () => {
    await bus.putBus('payments');
    const ok = file('subscriptions:\n  charge: { bus: payments, pattern: { type: [x] } }\n');
    expect(await applyTopology(bus, loadTopology(ok))).toEqual({ created: 1, updated: 0, unchanged: 0 });

    const unknownBus = file(`buses:\n  orders:\n${'subscriptions:\n  s: { bus: nowhere, pattern: { type: [x] } }\n'}`);
    expect(await applyTopology(bus, loadTopology(unknownBus)).catch((err: BusError) => err.message)).toBe(
      `${unknownBus}: Expected \`subscriptions.s.bus\` to be a bus declared under \`buses\` or one that exists, got "nowhere" (string)`,
    );
    const moved = file('buses:\n  orders:\nsubscriptions:\n  charge: { bus: orders, pattern: { type: [x] } }\n');
    expect(await applyTopology(bus, loadTopology(moved)).catch((err: BusError) => err.message)).toBe(
      `${moved}: Expected \`subscriptions.charge.bus\` to be "payments", the bus the subscription belongs to (delete it to move it), got "orders" (string)`,
    );
    expect(bus.listBuses().map((b) => b.name)).toEqual(['payments']);
    expect(bus.getSubscription('charge').bus).toBe('payments');
  });
});
