/**
 * The SQLite storage driver. See docs/storage.md.
 *
 * @example
 * ```ts
 * import { openSqlite } from './storage/sqlite/index.js';
 * const storage = openSqlite({ path: './.busbar/busbar.db', durability: 'full' });
 * await storage.migrate();
 * ```
 */
export { SqliteDriver, openSqlite, type SqliteOptions } from './driver.js';
export { MIGRATIONS, SCHEMA_VERSION, type Durability, type SqliteSettings } from './schema.js';
export { PURGE_BATCH } from './archive.js';
export { LEASE_EXPIRED_MESSAGE } from '../lease-expired.js';
