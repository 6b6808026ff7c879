/**
 * The SDK's error type and the one function that turns a non-2xx response into it, so every method
 * reports the server's `{"error":{"code","message"}}` body the same way.
 */

/** Options of {@link BusbarError}. */
export interface BusbarErrorOptions {
  /** The HTTP status, or null when no response came. @default null */
  status?: number | null;
  /** The rest of the error body (for example `results` of a rejected batch). */
  details?: Record<string, unknown>;
  /** The underlying error (a network failure, a JSON syntax error). */
  cause?: unknown;
}

/**
 * What every SDK call throws for a failed request. `code` is the server's error code (docs/errors.md:
 * `INVALID_EVENT`, `NOT_FOUND`, `UNAUTHORIZED`, `STALE_RECEIPT`...) or one of the SDK's own:
 * - `UNAVAILABLE`: no connection, or a 502/503/504 without a Busbar error body, after every retry;
 * - `TIMEOUT`: no complete response within `timeoutMs`;
 * - `INVALID_RESPONSE`: the response is not what a Busbar server sends (not JSON, wrong shape).
 *
 * @example
 * ```ts
 * try {
 *   await client.publish('orders', [good, bad]);
 * } catch (err) {
 *   if (err instanceof BusbarError && err.code === 'INVALID_EVENT') console.error(err.details?.['results']);
 * }
 * ```
 */
export class BusbarError extends Error {
  /** The server's `error.code`, or `UNAVAILABLE`, `TIMEOUT`, `INVALID_RESPONSE`. */
  readonly code: string;
  /** The HTTP status; null when no response came. */
  readonly status: number | null;
  /**
   * The rest of the error body: top-level members beside `error` (such as `results`) merged over
   * `error.details` (such as `field`); undefined when there are none.
   */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: BusbarErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BusbarError';
    this.code = code;
    this.status = options.status ?? null;
    this.details = options.details;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The first 200 characters of a body that is not a Busbar error, for the message. */
function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/**
 * The error for a non-2xx response whose body was read as `text`. A body in Busbar's shape gives its
 * code and message; anything else (a proxy's HTML page) gives `UNAVAILABLE` for 502/503/504, which are
 * what proxies answer while the server is down, and `INVALID_RESPONSE` otherwise.
 */
export function errorFromResponse(status: number, text: string, what: string): BusbarError {
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (isRecord(body) && isRecord(body['error']) && typeof body['error']['code'] === 'string') {
    const { error, ...rest } = body;
    const inner = isRecord(error['details']) ? error['details'] : {};
    const details = { ...inner, ...rest };
    const message = typeof error['message'] === 'string' ? error['message'] : `${what} failed with HTTP ${status}`;
    return new BusbarError(error['code'] as string, message, {
      status,
      details: Object.keys(details).length === 0 ? undefined : details,
    });
  }
  const unavailable = status === 502 || status === 503 || status === 504;
  const shown = text === '' ? 'an empty body' : `"${excerpt(text)}"`;
  return new BusbarError(
    unavailable ? 'UNAVAILABLE' : 'INVALID_RESPONSE',
    `${what} failed with HTTP ${status} and ${shown}, not a Busbar error body`,
    { status },
  );
}
