/**
 * What every client command shares: the global options `--url`, `--api-key` and `--json`, their
 * resolution (option > environment variable > default, in this one place, as start-options.ts does for
 * `busbar start`), and the SDK client made from them.
 */
import type { Command } from 'commander';
import { createClient, type BusbarClient } from '../client/index.js';
import { BusError, describeValue } from '../core/errors.js';
import { toCliFailure } from './failure.js';

/** The server `busbar` talks to unless told otherwise: where `busbar start` listens by default. */
export const DEFAULT_URL = 'http://127.0.0.1:4080';

/**
 * Connection attempts before "cannot reach": one retry covers a server that is just starting, while a
 * server that is down still fails within a fraction of a second.
 */
const RETRY = { attempts: 2, initialMs: 100, maxMs: 200 } as const;

/** The global options as Commander parsed them. */
export interface GlobalFlags {
  url?: string;
  apiKey?: string;
  json?: boolean;
}

/** Where and how to connect, resolved and validated. */
export interface Connection {
  /** @default 'http://127.0.0.1:4080' (`BUSBAR_URL`) */
  readonly url: string;
  /** @default undefined (`BUSBAR_API_KEY`): no `Authorization` header */
  readonly apiKey: string | undefined;
}

/** What a client command's action gets. */
export interface Session extends Connection {
  readonly client: BusbarClient;
  /** `--json`: print the SDK's result as JSON instead of the human form. */
  readonly json: boolean;
}

/** Adds `--url`, `--api-key` and `--json` to `program`; Commander accepts them after any subcommand too. */
export function addGlobalOptions(program: Command): void {
  program
    .option('--url <url>', `Busbar server URL (env BUSBAR_URL; default: "${DEFAULT_URL}")`)
    .option(
      '--api-key <key>',
      'API key, sent as `Authorization: Bearer <key>` (env BUSBAR_API_KEY, which ps does not show; default: none)',
    )
    .option('--json', "print the server's JSON answer instead of tables and sentences");
}

/**
 * Resolves the connection settings: option > environment variable > default. An empty variable counts
 * as unset, as in start-options.ts.
 *
 * @throws {BusError} `INVALID_ARGUMENT` for a URL that is not http(s), or an empty API key
 * @example
 * ```ts
 * resolveConnection({}, { BUSBAR_URL: 'http://10.0.0.5:4080' }); // { url: 'http://10.0.0.5:4080', apiKey: undefined }
 * ```
 */
export function resolveConnection(flags: GlobalFlags, environment: Record<string, string | undefined>): Connection {
  const env = (name: string): string | undefined => (environment[name] === '' ? undefined : environment[name]);
  const urlText = flags.url ?? env('BUSBAR_URL') ?? DEFAULT_URL;
  const from = flags.url !== undefined ? '--url' : 'BUSBAR_URL';
  let parsed: URL;
  try {
    parsed = new URL(urlText);
  } catch {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected ${from} to be an http or https URL, got ${describeValue(urlText)}`,
    );
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.search !== '' || parsed.hash !== '') {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected ${from} to be an http or https URL without a query, got ${describeValue(urlText)}`,
    );
  }
  const apiKey = flags.apiKey ?? env('BUSBAR_API_KEY');
  if (apiKey !== undefined && (apiKey === '' || /\s/.test(apiKey))) {
    const name = flags.apiKey !== undefined ? '--api-key' : 'BUSBAR_API_KEY';
    throw new BusError('INVALID_ARGUMENT', `Expected ${name} to be an API key without spaces, got one with spaces`);
  }
  return Object.freeze({ url: urlText.replace(/\/+$/, ''), apiKey });
}

/** The session of `command` (its global options and the environment). */
export function openSession(command: Command, environment: Record<string, string | undefined> = process.env): Session {
  const flags = command.optsWithGlobals<GlobalFlags>();
  const connection = resolveConnection(flags, environment);
  const client = createClient({
    url: connection.url,
    ...(connection.apiKey === undefined ? {} : { apiKey: connection.apiKey }),
    retry: RETRY,
  });
  return { ...connection, client, json: flags.json === true };
}

/**
 * A Commander action for a client command: opens the session, runs `run` with the positional arguments
 * and the command's own options, and turns SDK errors into one-line failures.
 *
 * @example
 * ```ts
 * program.command('rm <name>').action(clientAction(async (s, [name]) => { await s.client.buses.delete(name!); }));
 * ```
 */
export function clientAction<O>(
  run: (session: Session, args: readonly (string | undefined)[], options: O) => Promise<void>,
): (...params: unknown[]) => Promise<void> {
  return async (...params) => {
    const command = params[params.length - 1] as Command;
    const session = openSession(command);
    try {
      await run(session, command.processedArgs as (string | undefined)[], command.opts<O & Record<string, unknown>>());
    } catch (err) {
      throw toCliFailure(err, session.url);
    }
  };
}

/** Writes to stdout. */
export function print(text: string): void {
  process.stdout.write(text);
}
