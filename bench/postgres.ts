/**
 * PostgreSQL plumbing for the suites that take `--storage postgres://...`: a fresh schema per run on
 * the server the flag names (not BUSBAR_TEST_POSTGRES), dropped afterwards, and the server's commit
 * settings for the log line, since they decide what an acknowledged write survives.
 */
import pg from 'pg';
import { quoteIdent } from '../src/storage/postgres/schema.js';
import { freshSchema } from '../src/storage/postgres/testing.js';

/** Whether a `--storage` value is a PostgreSQL URL. */
export const isPostgres = (storage: string): boolean => /^postgres(ql)?:\/\//.test(storage);

/** `url` with its `schema` parameter set (or replaced) to a new schema name. */
export function withFreshSchema(url: string, prefix = 'bench'): { url: string; schema: string } {
  const schema = freshSchema(prefix);
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return { url: u.toString(), schema };
}

/** `url` without Busbar's own parameters (`schema`, `pool`), for plain pg clients and pg-boss. */
export function serverUrl(url: string): string {
  const u = new URL(url);
  u.searchParams.delete('schema');
  u.searchParams.delete('pool');
  return u.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl(url) });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Drops a benchmark schema with everything in it. */
export async function dropSchemaAt(url: string, schema: string): Promise<void> {
  await withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`));
}

/** "synchronous_commit on, fsync on": how durable a commit is on this server. */
export async function commitSettings(url: string): Promise<string> {
  return withClient(url, async (client) => {
    const show = async (name: string): Promise<string> =>
      (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
    return `synchronous_commit ${await show('synchronous_commit')}, fsync ${await show('fsync')}`;
  });
}
