/**
 * Busbar's one error type and its stable codes.
 *
 * Every failure that crosses a public boundary (library API, HTTP, CLI) is a {@link BusError}
 * with a `code` from {@link ErrorCodes}. Codes never change meaning once released; docs/errors.md
 * has one row per code and `errors.test.ts` fails when the two drift.
 */

/**
 * The stable error codes, each with the HTTP status it maps to and a one-line description.
 * The description is the docs/errors.md text for that code.
 */
export const ErrorCodes = {
  INVALID_PATTERN: { status: 400, description: 'An event pattern is not valid EventBridge pattern syntax.' },
  INVALID_EVENT: { status: 400, description: 'An event is not a valid CloudEvents 1.0 envelope.' },
  INVALID_JSON: { status: 400, description: 'Text that must be JSON could not be parsed.' },
  EVENT_TOO_LARGE: { status: 413, description: 'An event is larger than the configured size limit.' },
  PAYLOAD_TOO_LARGE: { status: 413, description: "A request body is larger than the server's body size limit." },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    description: 'A request body has a content type the route does not accept.',
  },
  INVALID_ARGUMENT: { status: 400, description: 'An option or argument has the wrong type or is out of range.' },
  UNAUTHORIZED: { status: 401, description: 'The request has no valid API key (`Authorization: Bearer <key>`).' },
  FORBIDDEN: { status: 403, description: 'The API key is valid but lacks the scope the request needs.' },
  NOT_FOUND: { status: 404, description: 'The named bus, subscription, dead letter, event or replay does not exist.' },
  CONFLICT: {
    status: 409,
    description:
      'The request conflicts with the current state (for example a second consumer on one subscription in one process).',
  },
  STALE_RECEIPT: {
    status: 409,
    description:
      'A pull receipt is stale (its lease expired or it was settled already) or not a receipt of the subscription.',
  },
  STORAGE_UNAVAILABLE: {
    status: 503,
    description: 'The storage did not complete the operation; nothing was acknowledged, retry later.',
  },
  CLOSED: { status: 503, description: 'The bus instance is closing or closed.' },
  INTERNAL: { status: 500, description: 'An unexpected server error; the server log has the details.' },
} as const;

/** One of the stable error codes. */
export type ErrorCode = keyof typeof ErrorCodes;

/** Options for {@link BusError}. */
export interface BusErrorOptions {
  /** The underlying error, kept for logs and `--debug` output. */
  cause?: unknown;
  /**
   * HTTP status to answer with.
   * @default the status listed for the code in {@link ErrorCodes}
   */
  status?: number;
  /** Structured details for API consumers (for example the path of an invalid field). */
  details?: Record<string, unknown>;
}

/**
 * The error type every Busbar API throws.
 *
 * @example
 * ```ts
 * try { validatePattern({ source: 'x' }); }
 * catch (err) { if (err instanceof BusError && err.code === 'INVALID_PATTERN') console.error(err.message); }
 * ```
 */
export class BusError extends Error {
  /** Stable, machine-readable code. */
  readonly code: ErrorCode;
  /** HTTP status this error maps to. */
  readonly status: number;
  /** Structured details, if any. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: BusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BusError';
    this.code = code;
    this.status = options.status ?? ErrorCodes[code].status;
    this.details = options.details;
  }

  /** The JSON shape used in HTTP error bodies: `{ code, message }` plus details when present. */
  toJSON(): { code: ErrorCode; message: string; details?: Readonly<Record<string, unknown>> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `err` is a {@link BusError}, optionally with the given code. */
export function isBusError(err: unknown, code?: ErrorCode): err is BusError {
  return err instanceof BusError && (code === undefined || err.code === code);
}

/**
 * Describes a value for an error message the way p-queue does: `42 (number)`, `"x" (string)`,
 * `null`, `[…] (array)`.
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': {
      const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return `${JSON.stringify(shown)} (string)`;
    }
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${String(value)} (${typeof value})`;
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}
