/**
 * The SDK's one way to the server: `fetch` with the API key, a timeout, and retries of transient
 * failures with full-jitter backoff. Only web APIs (fetch, AbortController, URL, setTimeout), so the
 * SDK runs in browsers, Deno and Bun as well as Node.js.
 */
import { BusbarError, errorFromResponse } from './errors.js';
import type { ResolvedClientOptions } from './options.js';

/**
 * Which failures a request may retry:
 * - `idempotent`: every transient failure (no connection, a reset, 502, 503, 504). Sending it twice
 *   does no harm: reads, PUT/DELETE, publish (events carry ids, so the server drops a repeat as a
 *   duplicate), pull and settling receipts.
 * - `unsent`: only failures where the server surely did nothing: the connection was refused, or a 503
 *   with Busbar's own `STORAGE_UNAVAILABLE` / `CLOSED` ("nothing was acknowledged"). For requests that
 *   must not run twice (starting a replay).
 */
export type RetryMode = 'idempotent' | 'unsent';

/** One request of the SDK. */
export interface RequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path under the base URL, already percent-encoded (see {@link path}). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Serialised as JSON. */
  readonly body?: unknown;
  /** @default 'application/json' when there is a body */
  readonly contentType?: string;
  readonly accept?: string;
  /** @default 'idempotent' */
  readonly retry?: RetryMode;
  /** Overrides the client's `timeoutMs`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Called before each retry with the failure it retries (consumers report these). */
  readonly onRetry?: (err: BusbarError) => void;
}

/** Builds a path from literal parts and values, percent-encoding each value as one path segment. */
export function path(strings: TemplateStringsArray, ...values: ReadonlyArray<string | number>): string {
  return strings.reduce((out, part, i) => out + part + (i < values.length ? encodeURIComponent(values[i]!) : ''), '');
}

/** Resolves after `ms`, or at once when `signal` aborts (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true || ms <= 0) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Full jitter (the n-th retry, n from 1): random(0, min(maxMs, initialMs·2^(n-1))). */
export function backoffMs(retry: ResolvedClientOptions['retry'], n: number): number {
  return Math.floor(Math.random() * Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(n - 1, 52)));
}

/** RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date. Milliseconds, or undefined. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Whether a fetch rejection says the connection was refused or the host not found: nothing was sent. */
function refused(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    // Node.js (undici) and Bun name the cause by code; Deno only says so in the message.
    if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ConnectionRefused)$/.test(code)) return true;
    if (typeof message === 'string' && /connection refused/i.test(message)) return true;
    // An AggregateError (every address of a host refused): its first error tells.
    const inner = (e as { errors?: unknown }).errors;
    e = Array.isArray(inner) && inner.length > 0 ? (inner[0] as unknown) : (e as { cause?: unknown }).cause;
  }
  return false;
}

const TRANSIENT_STATUS = new Set([502, 503, 504]);
/** Busbar's 503 codes that mean the request changed nothing. */
const NOTHING_DONE = new Set(['STORAGE_UNAVAILABLE', 'CLOSED']);

/** Sends the SDK's requests to one server, with the client's key, timeout and retries. */
export class Transport {
  constructor(readonly options: ResolvedClientOptions) {}

  /** Sends a request and resolves to its parsed JSON body (undefined for an empty one) on a 2xx. */
  async request<T>(spec: RequestSpec): Promise<T> {
    return this.send(spec, (response, text) => {
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new BusbarError('INVALID_RESPONSE', `${this.what(spec)} answered ${response.status} with invalid JSON`, {
          status: response.status,
          cause: err,
        });
      }
    });
  }

  /**
   * Sends a request and resolves to the response, with its body unread, once a 2xx arrived; the
   * timeout covers only the wait for the response headers. For streams (`tail`).
   */
  open(spec: RequestSpec): Promise<Response> {
    return this.send(spec, (response) => response, true);
  }

  private what(spec: RequestSpec): string {
    return `${spec.method} ${spec.path}`;
  }

  private url(spec: RequestSpec): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(spec.query ?? {}))
      if (value !== undefined) params.set(key, String(value));
    const query = params.toString();
    return `${this.options.baseUrl}${spec.path}${query === '' ? '' : `?${query}`}`;
  }

  private headers(spec: RequestSpec): Record<string, string> {
    const headers: Record<string, string> = { accept: spec.accept ?? 'application/json' };
    if (spec.body !== undefined) headers['content-type'] = spec.contentType ?? 'application/json';
    if (this.options.apiKey !== undefined) headers['authorization'] = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  /**
   * The retry loop. `read` turns a 2xx into the result; with `stream`, the body is left unread and the
   * timeout ends when the headers arrive.
   */
  private async send<T>(spec: RequestSpec, read: (response: Response, text: string) => T, stream = false): Promise<T> {
    const { retry } = this.options;
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    for (let attempt = 1; ; attempt++) {
      let failure: BusbarError;
      let delay: number | undefined;
      const outcome = await this.once(spec, body, stream);
      if (outcome.kind === 'response') {
        const { response, text } = outcome;
        if (response.ok) return read(response, text);
        failure = errorFromResponse(response.status, text, this.what(spec));
        const retriable =
          TRANSIENT_STATUS.has(response.status) &&
          (spec.retry !== 'unsent' || (response.status === 503 && NOTHING_DONE.has(failure.code)));
        if (!retriable || attempt >= retry.attempts) throw failure;
        if (response.status === 503) delay = retryAfterMs(response.headers.get('retry-after'));
      } else {
        failure = outcome.error;
        const retriable = failure.code === 'UNAVAILABLE' && (spec.retry !== 'unsent' || refused(failure.cause));
        if (!retriable || attempt >= retry.attempts) throw failure;
      }
      spec.onRetry?.(failure);
      await sleep(Math.min(delay ?? backoffMs(retry, attempt), retry.maxMs), spec.signal);
      if (aborted(spec.signal)) throw abortReason(spec.signal);
    }
  }

  /** One try: a response (body read as text unless streaming), or the error that prevented one. */
  private async once(
    spec: RequestSpec,
    body: string | undefined,
    stream: boolean,
  ): Promise<{ kind: 'response'; response: Response; text: string } | { kind: 'error'; error: BusbarError }> {
    if (aborted(spec.signal)) throw abortReason(spec.signal);
    const controller = new AbortController();
    const timeoutMs = spec.timeoutMs ?? this.options.timeoutMs;
    const state = { timedOut: false, streaming: false };
    const timer = setTimeout(() => {
      state.timedOut = true;
      controller.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const forward = (): void => controller.abort(spec.signal?.reason);
    spec.signal?.addEventListener('abort', forward, { once: true });
    try {
      const response = await this.options.fetch(this.url(spec), {
        method: spec.method,
        headers: this.headers(spec),
        body,
        signal: controller.signal,
      });
      // A stream keeps listening: aborting the caller's signal still closes it once it is being read.
      state.streaming = stream && response.ok;
      if (state.streaming) return { kind: 'response', response, text: '' };
      return { kind: 'response', response, text: await response.text() };
    } catch (err) {
      if (aborted(spec.signal)) throw abortReason(spec.signal);
      if (state.timedOut) {
        return {
          kind: 'error',
          error: new BusbarError('TIMEOUT', `${this.what(spec)} got no response within ${timeoutMs} ms`, {
            cause: err,
          }),
        };
      }
      const reason =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      return {
        kind: 'error',
        error: new BusbarError(
          'UNAVAILABLE',
          `${this.what(spec)} failed: no response from ${this.options.baseUrl} (${reason})`,
          {
            cause: err,
          },
        ),
      };
    } finally {
      clearTimeout(timer);
      if (!state.streaming) spec.signal?.removeEventListener('abort', forward);
    }
  }
}

/** Whether `signal` is aborted; a function, so that TypeScript does not narrow `aborted` across awaits. */
export function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** The error an aborted call rejects with: the signal's reason, as fetch does. */
export function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new DOMException('This operation was aborted', 'AbortError');
}
