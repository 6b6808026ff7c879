/**
 * API keys with scopes (`Authorization: Bearer <key>`): `publish:<bus>`, `consume:<subscription>`
 * and `admin`, with `*` wildcards in names. Without keys the API is open, which `busbar start` allows
 * only on a loopback address.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { BusError } from '../core/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The scopes of the request's API key; null when the server has no keys or the route needs none. */
    apiKeyScopes: readonly string[] | null;
  }
}

/** One API key and what it may do. */
export interface ApiKey {
  readonly key: string;
  /** `admin`, `publish:<bus>`, `consume:<subscription>`; names may contain `*` (any run of characters). */
  readonly scopes: readonly string[];
}

const SCOPE = /^(admin|(publish|consume):[A-Za-z0-9._*-]{1,128})$/;

/** Whether `key` may be an API key: at least 16 characters, no white space. */
export function isValidApiKey(key: string): boolean {
  return key.length >= 16 && !/\s/.test(key);
}

/** Whether `scope` is `admin`, `publish:<bus>` or `consume:<subscription>` (names may contain `*`). */
export function isValidScope(scope: string): boolean {
  return SCOPE.test(scope);
}

/**
 * Parses `BUSBAR_API_KEYS`: `key=scope,scope;key=scope`, for example
 * `"k3y-for-shop-0001=publish:orders;k3y-for-ops-00001=admin"`. Keys are at least 16 characters.
 */
export function parseApiKeys(text: string): ApiKey[] {
  const keys: ApiKey[] = [];
  for (const entry of text
    .split(';')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const at = entry.indexOf('=');
    const key = at < 0 ? entry : entry.slice(0, at);
    const scopes =
      at < 0
        ? []
        : entry
            .slice(at + 1)
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
    if (!isValidApiKey(key)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected every API key in BUSBAR_API_KEYS to be at least 16 characters without spaces, got one of ${key.length}`,
      );
    }
    if (scopes.length === 0) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected scopes after "=" for an API key in BUSBAR_API_KEYS (admin, publish:<bus>, consume:<subscription>), got none`,
      );
    }
    for (const scope of scopes) {
      if (!isValidScope(scope)) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Expected an API key scope to be admin, publish:<bus> or consume:<subscription>, got "${scope}"`,
        );
      }
    }
    keys.push({ key, scopes });
  }
  return keys;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(name);
}

/** Whether `scopes` grant `needed` (`admin` grants everything). */
export function allows(scopes: readonly string[], needed: string): boolean {
  if (scopes.includes('admin')) return true;
  if (needed === 'any') return true;
  const [kind, name = ''] = needed.split(/:(.*)/s);
  return scopes.some((scope) => {
    const [k, glob = ''] = scope.split(/:(.*)/s);
    return k === kind && globMatches(glob, name);
  });
}

/**
 * The scope a request needs: publishing needs `publish:<bus>`, pulling and settling messages
 * `consume:<subscription>`, testing a pattern and asking for one's own scopes (`GET /v1/auth`) any
 * valid key, everything else `admin` (the dashboard's flow, stream and history included).
 */
export function requiredScope(request: FastifyRequest): string | null {
  const url = request.routeOptions.url ?? '';
  const params = request.params as Record<string, string | undefined>;
  if (url === '/healthz' || url === '/readyz') return null;
  if (url === '/v1/test-pattern' || url === '/v1/auth') return 'any';
  if (request.method === 'POST' && url === '/v1/buses/:bus/events') return `publish:${params['bus'] ?? ''}`;
  if (/^\/v1\/subscriptions\/:name\/(pull|ack|nack|extend)$/.test(url)) return `consume:${params['name'] ?? ''}`;
  return 'admin';
}

/**
 * A Fastify `onRequest`-style check: 401 without a valid key, 403 outside its scopes. Returns the key's
 * scopes, or null when the route needs no key.
 */
export function authenticator(keys: readonly ApiKey[]): (request: FastifyRequest) => readonly string[] | null {
  const table = keys.map((k) => ({ hash: digest(k.key), scopes: k.scopes }));
  return (request) => {
    const needed = requiredScope(request);
    if (needed === null) return null;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (match === null) {
      throw new BusError('UNAUTHORIZED', 'Expected an API key as `Authorization: Bearer <key>`, got none');
    }
    const hash = digest(match[1]!);
    // Compare every key in constant time, so timing does not tell how much of a key was right.
    const found = table.filter((k) => timingSafeEqual(k.hash, hash))[0];
    if (found === undefined) throw new BusError('UNAUTHORIZED', 'The API key is not valid');
    if (!allows(found.scopes, needed)) {
      throw new BusError(
        'FORBIDDEN',
        `The API key lacks the scope ${needed === 'any' ? 'to call this' : `"${needed}"`}`,
      );
    }
    return found.scopes;
  };
}

/** Loopback addresses: the only ones `busbar start` binds to without API keys. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}
