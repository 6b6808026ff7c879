/**
 * PostgreSQL for tests: the server to use, whether it is reachable, and a fresh schema per test.
 *
 * The server is `BUSBAR_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`). When it
 * cannot be reached, PostgreSQL tests skip with the reason printed, except under `CI=true`, where
 * they fail instead: CI starts PostgreSQL, so an unreachable server there is a broken run.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from './schema.js';

/** The server PostgreSQL tests run against. */
export const TEST_POSTGRES_URL = process.env['BUSBAR_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Why PostgreSQL tests cannot run here, or null when they can. Under `CI=true` an unreachable server
 * throws instead of skipping.
 */
export async function postgresUnavailable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    const reason = `PostgreSQL at ${TEST_POSTGRES_URL} is not reachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env['CI'] === 'true') throw new Error(`${reason}; CI must run the PostgreSQL tests`);
    console.warn(`skipping PostgreSQL tests: ${reason}; set BUSBAR_TEST_POSTGRES to run them`);
    return reason;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A new schema name no other test uses. */
export function freshSchema(prefix = 'busbar_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Drops a test's schema with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

/** The test server's URL with a schema. */
export function testUrl(schema: string): string {
  const url = new URL(TEST_POSTGRES_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}
