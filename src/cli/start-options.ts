/**
 * `busbar start` settings: command-line option > environment variable > default, resolved and
 * validated in this one place (DESIGN "Defaults").
 */
import { BusError, describeValue } from '../core/errors.js';
import { DEFAULT_STORAGE } from '../busbar.js';
import { isLoopback, parseApiKeys, type ApiKey } from '../server/auth.js';
import { loadTopology, type Topology } from './topology.js';

/** Resolved `busbar start` settings. */
export interface StartSettings {
  /** @default 4080 (`BUSBAR_PORT`) */
  readonly port: number;
  /** @default '127.0.0.1' (`BUSBAR_HOST`) */
  readonly host: string;
  /** @default './.busbar/busbar.db' (`BUSBAR_STORAGE`) */
  readonly storage: string;
  /** @default 'full' (`BUSBAR_DURABILITY`) */
  readonly durability: 'full' | 'normal';
  /**
   * From `BUSBAR_API_KEYS`, then the topology file's `apiKeys` (never the command line, where other
   * users could read them). @default []
   */
  readonly apiKeys: readonly ApiKey[];
  /** The topology file (`--config`, `BUSBAR_CONFIG`), loaded and validated; applied at start. @default null */
  readonly topology: Topology | null;
  /**
   * Whether webhooks may reach loopback, private and link-local addresses.
   * @default true when listening on loopback, else false (`BUSBAR_ALLOW_PRIVATE_TARGETS`)
   */
  readonly allowPrivateTargets: boolean;
}

/** What the command line gave (strings as typed). */
export interface StartFlags {
  port?: string;
  host?: string;
  storage?: string;
  data?: string;
  durability?: string;
  config?: string;
}

function fail(name: string, what: string, got: unknown): never {
  throw new BusError('INVALID_ARGUMENT', `Expected ${name} to be ${what}, got ${describeValue(got)}`);
}

/** Resolves and validates the settings; `env` is usually `process.env`. */
export function resolveStartSettings(
  flags: StartFlags,
  environment: Record<string, string | undefined>,
): StartSettings {
  // An empty variable counts as unset, as shells make it easy to export one by accident.
  const env = (name: string): string | undefined => (environment[name] === '' ? undefined : environment[name]);
  const portText = flags.port ?? env('BUSBAR_PORT') ?? '4080';
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    fail(flags.port !== undefined ? '--port' : 'BUSBAR_PORT', 'a port number from 0 to 65535', portText);
  }
  const host = flags.host ?? env('BUSBAR_HOST') ?? '127.0.0.1';
  if (host === '') fail('--host', 'a host name or address', host);
  if (flags.data !== undefined && flags.storage !== undefined) {
    throw new BusError('INVALID_ARGUMENT', 'Expected at most one of --data and --storage, got both');
  }
  const storage =
    flags.storage ??
    (flags.data !== undefined ? `${flags.data.replace(/\/+$/, '')}/busbar.db` : undefined) ??
    env('BUSBAR_STORAGE') ??
    DEFAULT_STORAGE;
  const durability = flags.durability ?? env('BUSBAR_DURABILITY') ?? 'full';
  if (durability !== 'full' && durability !== 'normal') fail('--durability', '"full" or "normal"', durability);
  const config = flags.config ?? env('BUSBAR_CONFIG');
  // Read now, so that a bad file stops the start before storage is opened, and its keys count below.
  const topology = config === undefined ? null : loadTopology(config, environment);
  const apiKeys = [...parseApiKeys(env('BUSBAR_API_KEYS') ?? ''), ...(topology?.apiKeys ?? [])];
  // The server would authorize a key given twice by its first entry only, silently ignoring the other scopes.
  if (new Set(apiKeys.map((k) => k.key)).size !== apiKeys.length) {
    throw new BusError(
      'INVALID_ARGUMENT',
      'Expected every API key (BUSBAR_API_KEYS and the topology file) to be given once, got one twice',
    );
  }
  // Like Redis's protected mode: an open API is fine on loopback, never on a reachable address.
  if (apiKeys.length === 0 && !isLoopback(host)) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Refusing to listen on ${host} without API keys: set BUSBAR_API_KEYS (for example "<key of 16+ characters>=admin") or \`apiKeys\` in the --config file, or listen on 127.0.0.1`,
    );
  }
  const allowText = env('BUSBAR_ALLOW_PRIVATE_TARGETS');
  if (allowText !== undefined && allowText !== 'true' && allowText !== 'false') {
    fail('BUSBAR_ALLOW_PRIVATE_TARGETS', '"true" or "false"', allowText);
  }
  const allowPrivateTargets = allowText === undefined ? isLoopback(host) : allowText === 'true';
  return Object.freeze({ port, host, storage, durability, apiKeys, topology, allowPrivateTargets });
}
