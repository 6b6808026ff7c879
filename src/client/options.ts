/**
 * The SDK's options, their defaults and their checks. Bad options are programming errors, so they throw
 * `TypeError` at once (before any request), naming the option, what was expected and what came.
 */
import { describeValue } from '../core/errors.js';
import type { CloudEvent } from '../core/events.js';

/** Options of `createClient`. */
export interface ClientOptions {
  /** The server's base URL, e.g. `'http://127.0.0.1:4080'`; a trailing slash and a path prefix are fine. */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>` (the server's `BUSBAR_API_KEYS`). */
  apiKey?: string;
  /**
   * The fetch implementation: a test double, or one with a custom agent.
   * @default globalThis.fetch
   */
  fetch?: typeof globalThis.fetch;
  /**
   * Retries of transient failures (no connection, a reset before the response, 502, 503, 504):
   * `attempts` counts the first try; the n-th retry waits random(0, min(maxMs, initialMs·2^(n-1))) ms
   * (full jitter), or what a 503's `Retry-After` asks, up to `maxMs`.
   * @default { attempts: 5, initialMs: 100, maxMs: 5000 }
   */
  retry?: { attempts?: number; initialMs?: number; maxMs?: number };
  /**
   * Milliseconds a request may take, response body included. A pull's long-poll gets its `waitMs` on
   * top; a `tail` stream is bounded only until its response headers arrive.
   * @default 30000
   */
  timeoutMs?: number;
}

/** {@link ClientOptions} with every default applied. */
export interface ResolvedClientOptions {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly fetch: typeof globalThis.fetch;
  readonly retry: { readonly attempts: number; readonly initialMs: number; readonly maxMs: number };
  readonly timeoutMs: number;
}

/** What a consumer's handler learns about the message it is given. */
export interface ClientHandlerContext {
  readonly subscription: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The message's receipt (its lease). The consumer acks, nacks and extends it; handlers need not. */
  readonly receipt: string;
  /** Set when the delivery comes from a replay (the event also carries it as `replayid`). */
  readonly replayId: string | null;
  /** Aborted when the lease is lost (another consumer may now have the event): stop work and return. */
  readonly signal: AbortSignal;
  /**
   * The W3C `traceparent` to continue the trace with (the server's span of this attempt when it traces,
   * else the event's own `traceparent`); null when there is none.
   */
  readonly traceparent: string | null;
}

/**
 * Handles one event, exactly like an in-process handler: return (or resolve) to acknowledge; throw to
 * retry on the subscription's backoff; throw `NonRetriableError` to dead-letter at once,
 * `RetryAfterError(ms)` to retry after that delay.
 */
export type ClientHandler = (event: CloudEvent, context: ClientHandlerContext) => unknown;

/** Options of `client.consume`. */
export interface ConsumeOptions {
  /** Handlers running at once (also the most messages one pull asks for). @default 10 (1 to 1000) */
  concurrency?: number;
  /** The lease of each message, extended about every third of it while the handler runs. @default 30000 (1000 to 43200000) */
  leaseMs?: number;
  /** How long one pull waits on the server for a message (long-poll). @default 20000 (0 to 60000) */
  waitMs?: number;
  /** Aborting it stops the consumer as `stop()` does. */
  signal?: AbortSignal;
  /**
   * Told about failures the consumer survives: transient HTTP failures (it retries), lost leases
   * (`STALE_RECEIPT`), and the error that stopped it, if any.
   * @default console.error
   */
  onError?: (err: unknown) => void;
}

/** The defaults of {@link ConsumeOptions} and {@link ClientOptions}. */
export const DEFAULTS = {
  retry: { attempts: 5, initialMs: 100, maxMs: 5_000 },
  timeoutMs: 30_000,
  concurrency: 10,
  leaseMs: 30_000,
  waitMs: 20_000,
} as const;

function expected(name: string, what: string, got: unknown): never {
  throw new TypeError(`Expected \`${name}\` to be ${what}, got ${describeValue(got)}`);
}

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    expected(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** An AbortSignal, also one from another realm or polyfill (so not by `instanceof`). */
export function isSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function'
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks {@link ClientOptions} and applies the defaults. */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (!isObject(options)) expected('options', 'an object with `url`', options);
  const { url, apiKey, retry = {}, fetch: fetchImpl = globalThis.fetch } = options;
  if (typeof url !== 'string') expected('url', 'an http: or https: URL', url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    expected('url', 'an http: or https: URL', url);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') expected('url', 'an http: or https: URL', url);
  if (parsed.search !== '' || parsed.hash !== '') expected('url', 'a URL without a query or fragment', url);
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '' || /\s/.test(apiKey))) {
    expected('apiKey', 'a non-empty string without white space', apiKey);
  }
  if (typeof fetchImpl !== 'function') expected('fetch', 'a function (no global fetch was found)', fetchImpl);
  if (!isObject(retry)) expected('retry', 'an object', retry);
  const attempts = integer('retry.attempts', retry.attempts, 1, 100, DEFAULTS.retry.attempts);
  const initialMs = integer('retry.initialMs', retry.initialMs, 0, 3_600_000, DEFAULTS.retry.initialMs);
  const maxMs = integer('retry.maxMs', retry.maxMs, initialMs, 3_600_000, Math.max(initialMs, DEFAULTS.retry.maxMs));
  return Object.freeze({
    baseUrl: parsed.href.replace(/\/+$/, ''),
    apiKey,
    // Bound to globalThis: some runtimes' fetch throws "Illegal invocation" when called as a method.
    fetch: fetchImpl === globalThis.fetch ? fetchImpl.bind(globalThis) : fetchImpl,
    retry: Object.freeze({ attempts, initialMs, maxMs }),
    timeoutMs: integer('timeoutMs', options.timeoutMs, 1, 2_147_483_647, DEFAULTS.timeoutMs),
  });
}

/** {@link ConsumeOptions} with every default applied. */
export interface ResolvedConsumeOptions {
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly waitMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onError: (err: unknown) => void;
}

/** Wraps an error callback so that one that throws cannot break the consumer's loop. */
function safe(report: (err: unknown) => void): (err: unknown) => void {
  return (err) => {
    try {
      report(err);
    } catch {
      // Nothing sensible is left to tell.
    }
  };
}

/** Checks the arguments of `consume` and applies the defaults (the limits are the server's). */
export function resolveConsumeOptions(
  subscription: unknown,
  handler: unknown,
  options: ConsumeOptions,
): ResolvedConsumeOptions {
  if (typeof subscription !== 'string' || subscription === '') {
    expected('subscription', 'a non-empty string', subscription);
  }
  if (typeof handler !== 'function') expected('handler', 'a function', handler);
  if (!isObject(options)) expected('options', 'an object', options);
  const { signal, onError } = options as ConsumeOptions;
  if (signal !== undefined && !isSignal(signal)) expected('signal', 'an AbortSignal', signal);
  if (onError !== undefined && typeof onError !== 'function') expected('onError', 'a function', onError);
  return {
    concurrency: integer('concurrency', options.concurrency, 1, 1000, DEFAULTS.concurrency),
    leaseMs: integer('leaseMs', options.leaseMs, 1_000, 12 * 60 * 60 * 1000, DEFAULTS.leaseMs),
    waitMs: integer('waitMs', options.waitMs, 0, 60_000, DEFAULTS.waitMs),
    signal,
    onError: safe(onError ?? ((err: unknown) => console.error('busbar client:', err))),
  };
}
