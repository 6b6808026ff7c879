export { PostgresDriver, openPostgres, type PostgresOptions } from './driver.js';
export { SCHEMA_VERSION } from './schema.js';
