/**
 * `Busbar.open()`: the engine on a storage chosen by a string or given as a driver. This module is the
 * outer layer that knows the drivers; the engine in src/core only knows the storage seam.
 */
import { BusError, describeValue } from './core/errors.js';
import { Engine, type EngineOptions } from './core/engine/engine.js';
import type { StorageDriver } from './storage/driver.js';
import { openMemory } from './storage/memory/index.js';

/** Where Busbar keeps its data when nothing says otherwise. */
export const DEFAULT_STORAGE = './.busbar/busbar.db';

/** Options of {@link Busbar.open}. */
export interface BusbarOptions extends EngineOptions {
  /**
   * A driver, or: `'memory'` (nothing persists), a SQLite file path (`'./data/bus.db'`, or
   * `'sqlite:./data/bus.db'`, `'sqlite::memory:'`), or a PostgreSQL URL
   * (`'postgres://user@host:5432/db'`, with optional `?schema=busbar&pool=10`) that several Busbar
   * processes may share.
   * @default './.busbar/busbar.db'
   */
  storage?: StorageDriver | string;
  /**
   * SQLite only: `'full'` fsyncs every commit (an acknowledged publish survives power loss); `'normal'`
   * survives a crash of the process but may lose the last commits on power loss.
   * @default 'full'
   */
  durability?: 'full' | 'normal';
}

/** SQLite is loaded on first use, so in-memory and custom-driver users never load the native addon. */
async function sqlite(path: string, durability: 'full' | 'normal'): Promise<StorageDriver> {
  const { openSqlite } = await import('./storage/sqlite/index.js');
  return openSqlite({ path, durability });
}

/** PostgreSQL is loaded on first use, like SQLite. */
async function postgres(url: string): Promise<StorageDriver> {
  const { openPostgres } = await import('./storage/postgres/index.js');
  try {
    return openPostgres({ url });
  } catch (err) {
    throw new BusError('INVALID_ARGUMENT', err instanceof Error ? err.message : String(err));
  }
}

/** Resolves the `storage` option to a driver. */
export async function resolveStorage(
  storage: StorageDriver | string | undefined,
  durability: 'full' | 'normal' = 'full',
): Promise<StorageDriver> {
  if (storage === undefined) return sqlite(DEFAULT_STORAGE, durability);
  if (typeof storage === 'object' && storage !== null && typeof storage.append === 'function') return storage;
  if (typeof storage !== 'string' || storage === '') {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`storage\` to be "memory", a SQLite path, a postgres:// URL or a storage driver, got ${describeValue(storage)}`,
    );
  }
  if (storage === 'memory') return openMemory();
  if (/^postgres(ql)?:\/\//.test(storage)) return postgres(storage);
  const path = storage.startsWith('sqlite:') ? storage.slice('sqlite:'.length) : storage;
  if (path === '') throw new BusError('INVALID_ARGUMENT', 'Expected a file path after "sqlite:", got nothing');
  return sqlite(path, durability);
}

/**
 * The event bus, embedded: publish events, route them by EventBridge patterns to subscriptions, and
 * deliver them at least once with retries, dead letters, an archive and replay.
 *
 * @example
 * ```ts
 * const bus = await Busbar.open({ storage: './.busbar/busbar.db' });
 * await bus.putBus('orders');
 * await bus.putSubscription('notify', { bus: 'orders', pattern: { type: ['order.placed'] } });
 * bus.consume('notify', async (event) => console.log('placed', event.data));
 * await bus.publish('orders', { specversion: '1.0', source: '/shop', type: 'order.placed', data: { id: 1 } });
 * ```
 */
export class Busbar extends Engine {
  /** Opens storage (migrating it), loads buses and subscriptions, and resumes interrupted replays. */
  static async open(options: BusbarOptions = {}): Promise<Busbar> {
    const driver = await resolveStorage(options.storage, options.durability);
    const bus = new Busbar(driver, options);
    try {
      await bus.init();
    } catch (err) {
      await driver.close().catch(() => undefined);
      throw err;
    }
    return bus;
  }
}
