import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveStartSettings } from './start-options.js';

const dir = mkdtempSync(join(tmpdir(), 'busbar-start-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveStartSettings', () => {
  it('uses the defaults', () => {
    expect(resolveStartSettings({}, {})).toEqual({
      port: 4080,
      host: '127.0.0.1',
      storage: './.busbar/busbar.db',
      durability: 'full',
      apiKeys: [],
      topology: null,
      allowPrivateTargets: true,
    });
  });

  it('prefers options over environment variables over defaults', () => {
    const env = {
      BUSBAR_PORT: '5000',
      BUSBAR_HOST: '0.0.0.0',
      BUSBAR_STORAGE: 'memory',
      BUSBAR_DURABILITY: 'normal',
      BUSBAR_API_KEYS: 'a-key-of-16-chars=admin',
    };
    expect(resolveStartSettings({}, env)).toMatchObject({
      port: 5000,
      host: '0.0.0.0',
      storage: 'memory',
      durability: 'normal',
    });
    expect(resolveStartSettings({ port: '6000', storage: '/tmp/x.db' }, env)).toMatchObject({
      port: 6000,
      storage: '/tmp/x.db',
    });
    expect(resolveStartSettings({ data: './data/' }, {})).toMatchObject({ storage: './data/busbar.db' });
  });

  it('names the bad setting and what it expected', () => {
    expect(() => resolveStartSettings({}, { BUSBAR_PORT: '70000' })).toThrow(
      'Expected BUSBAR_PORT to be a port number from 0 to 65535, got "70000" (string)',
    );
    expect(() => resolveStartSettings({ durability: 'fast' }, {})).toThrow(
      'Expected --durability to be "full" or "normal", got "fast" (string)',
    );
    expect(() => resolveStartSettings({ data: 'a', storage: 'b' }, {})).toThrow(
      'Expected at most one of --data and --storage, got both',
    );
  });

  it('refuses a reachable address without API keys, and parses keys with scopes', () => {
    expect(() => resolveStartSettings({ host: '0.0.0.0' }, {})).toThrow(
      /^Refusing to listen on 0.0.0.0 without API keys/,
    );
    const settings = resolveStartSettings(
      { host: '0.0.0.0' },
      { BUSBAR_API_KEYS: 'shop-key-0123456789=publish:orders,consume:inv-*; ops-key-0123456789=admin' },
    );
    expect(settings.apiKeys).toEqual([
      { key: 'shop-key-0123456789', scopes: ['publish:orders', 'consume:inv-*'] },
      { key: 'ops-key-0123456789', scopes: ['admin'] },
    ]);
    expect(() => resolveStartSettings({}, { BUSBAR_API_KEYS: 'short=admin' })).toThrow(/at least 16 characters/);
    expect(() => resolveStartSettings({}, { BUSBAR_API_KEYS: 'a-key-of-16-chars=root' })).toThrow(
      'Expected an API key scope to be admin, publish:<bus> or consume:<subscription>, got "root"',
    );
  });

  it('allows private webhook targets only on loopback unless told', () => {
    const keys = { BUSBAR_API_KEYS: 'a-key-of-16-chars=admin' };
    expect(resolveStartSettings({ host: '0.0.0.0' }, keys).allowPrivateTargets).toBe(false);
    expect(
      resolveStartSettings({ host: '0.0.0.0' }, { ...keys, BUSBAR_ALLOW_PRIVATE_TARGETS: 'true' }).allowPrivateTargets,
    ).toBe(true);
    expect(() => resolveStartSettings({}, { BUSBAR_ALLOW_PRIVATE_TARGETS: 'yes' })).toThrow(
      'Expected BUSBAR_ALLOW_PRIVATE_TARGETS to be "true" or "false", got "yes" (string)',
    );
  });

  it('loads the --config file (or BUSBAR_CONFIG), whose API keys join those of BUSBAR_API_KEYS', () => {
    const config = join(dir, 'busbar.config.yaml');
    writeFileSync(config, 'buses:\n  orders:\napiKeys:\n  - { key: "${SHOP_KEY}", scopes: [publish:orders] }\n');
    const env = { SHOP_KEY: 'shop-key-0123456789', BUSBAR_API_KEYS: 'ops-key-0123456789=admin' };
    const settings = resolveStartSettings({ config, host: '0.0.0.0' }, env);
    expect(settings.topology?.buses).toEqual([{ name: 'orders' }]);
    expect(settings.apiKeys).toEqual([
      { key: 'ops-key-0123456789', scopes: ['admin'] },
      { key: 'shop-key-0123456789', scopes: ['publish:orders'] },
    ]);
    // The file's keys alone are enough to listen on a reachable address.
    const fromEnv = resolveStartSettings({ host: '0.0.0.0' }, { SHOP_KEY: env.SHOP_KEY, BUSBAR_CONFIG: config });
    expect(fromEnv.topology?.file).toBe(config);
    expect(fromEnv.apiKeys).toEqual([{ key: 'shop-key-0123456789', scopes: ['publish:orders'] }]);
    expect(() => resolveStartSettings({ config }, { ...env, BUSBAR_API_KEYS: 'shop-key-0123456789=admin' })).toThrow(
      'Expected every API key (BUSBAR_API_KEYS and the topology file) to be given once, got one twice',
    );
    expect(() => resolveStartSettings({ config }, {})).toThrow(
      `${config}: \`apiKeys[0].key\` refers to \${SHOP_KEY}, which is not set in the environment`,
    );
  });
});
