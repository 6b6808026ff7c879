/**
 * How the client commands report a failed request: one line on stderr that says what happened and what
 * to do, and the exit code (1: the server or the connection failed; 2 is for invalid input, decided in
 * main.ts). The SDK's error stays the `cause`, printed with its stack under `--debug`.
 */
import { BusbarError } from '../client/index.js';

/** A failure already put in words for the terminal, with the exit code it ends the command with. */
export class CliFailure extends Error {
  /** The process exit code. @default 1 */
  readonly exitCode: number;

  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliFailure';
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Node's and undici's connection error codes, in words. */
const CONNECTION_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
};

/** The first connection error code along `err`'s cause chain (fetch wraps them in a TypeError). */
function connectionReason(err: unknown): string | null {
  let at: unknown = err;
  for (let depth = 0; depth < 6 && typeof at === 'object' && at !== null; depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string' && code in CONNECTION_ERRORS) return CONNECTION_ERRORS[code]!;
    // AggregateError (every address of a host refused): the first inner error tells.
    const inner = (at as { errors?: unknown }).errors;
    at = Array.isArray(inner) && inner.length > 0 ? inner[0] : (at as { cause?: unknown }).cause;
  }
  return null;
}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ').trim();

/**
 * The one line (without the `busbar: ` prefix) that describes an SDK error for a server at `url`.
 *
 * @example
 * ```ts
 * describeClientError(new BusbarError(...404 NOT_FOUND...), url); // '404 NOT_FOUND: No subscription named "x"'
 * ```
 */
export function describeClientError(err: BusbarError, url: string): string {
  switch (err.code) {
    case 'UNAVAILABLE': {
      // A 502/503/504 without Busbar's error body: a proxy answered for a server that is not there.
      if (err.status !== null) break;
      const reason = connectionReason(err) ?? 'no connection';
      const hint =
        reason === 'connection refused' ? 'is `busbar start` running?' : 'check --url or BUSBAR_URL, and the network';
      return `cannot reach ${url} (${reason}) — ${hint}`;
    }
    case 'TIMEOUT':
      return `${url} did not answer in time (TIMEOUT): ${oneLine(err.message)}`;
    case 'INVALID_RESPONSE':
      return `${url} answered with something that is not the Busbar API (INVALID_RESPONSE): ${oneLine(err.message)} — check --url`;
    default:
      break;
  }
  const line = `${err.status === null ? '' : `${err.status} `}${err.code}: ${oneLine(err.message)}`;
  if (err.status === 401) return `${line} (set --api-key or BUSBAR_API_KEY)`;
  if (err.status === 403) return `${line} (use an API key with that scope)`;
  return line;
}

/**
 * Turns what a client command threw into what main.ts prints: SDK errors become a {@link CliFailure}
 * (exit 1); anything else (invalid input, bugs) passes through unchanged.
 */
export function toCliFailure(err: unknown, url: string): unknown {
  if (err instanceof BusbarError) return new CliFailure(`busbar: ${describeClientError(err, url)}`, { cause: err });
  return err;
}
