/**
 * The dashboard's one way to the server: the SDK's `createClient` for every route it has, and the
 * SDK's own transport (same key, timeout, retries and `BusbarError`s) for the three dashboard routes
 * it has no method for: `/v1/auth`, `/v1/flow/stream` and `/v1/subscriptions/{name}/history`.
 */
import { createClient, type BusbarClient } from '../../src/client/index.js';
import { BusbarError } from '../../src/client/errors.js';
import { path, Transport } from '../../src/client/http.js';
import { resolveClientOptions } from '../../src/client/options.js';
import { parseSse } from '../../src/client/tail.js';

/** `GET /v1/auth`: whether the server checks keys, and what this one may do. */
export type AuthInfo = { readonly auth: false } | { readonly auth: true; readonly scopes: readonly string[] };

export type {
  FailedAttempt as HistoryFailure,
  FlowBus,
  FlowSnapshot,
  FlowSubscription,
  FlowTarget,
  HistoryMinute,
  SubscriptionHistory,
} from '../../src/server/flow-types.js';
import type { FlowSnapshot, SubscriptionHistory } from '../../src/server/flow-types.js';

/** The SDK client plus the dashboard's own routes, for one API key. */
export interface Api {
  readonly client: BusbarClient;
  auth(): Promise<AuthInfo>;
  history(subscription: string): Promise<SubscriptionHistory>;
  /** Snapshots from `GET /v1/flow/stream` until `signal` aborts; rejects when the stream breaks. */
  flowStream(signal: AbortSignal, onSnapshot: (snapshot: FlowSnapshot) => void): Promise<void>;
}

/** The server that served the page: the dashboard and the API share an origin. */
function baseUrl(): string {
  return window.location.origin;
}

/**
 * Creates the {@link Api} for `apiKey` (none when the server has no keys). Requests retry once:
 * a person is waiting, and the page shows the error.
 */
export function createApi(apiKey: string | undefined): Api {
  const options = { url: baseUrl(), apiKey, retry: { attempts: 2 }, timeoutMs: 15_000 };
  const transport = new Transport(resolveClientOptions(options));
  return {
    client: createClient(options),
    auth: () => transport.request<AuthInfo>({ method: 'GET', path: '/v1/auth' }),
    history: (name) => transport.request({ method: 'GET', path: path`/v1/subscriptions/${name}/history` }),
    async flowStream(signal, onSnapshot) {
      const response = await transport.open({
        method: 'GET',
        path: '/v1/flow/stream',
        query: { intervalMs: 1000 },
        accept: 'text/event-stream',
        signal,
      });
      if (response.body === null) throw new BusbarError('INVALID_RESPONSE', 'The flow stream has no body');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const stop = (): void => void reader.cancel().catch(() => undefined);
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const message of parseSse(reader)) {
          if (message.event === 'flow') onSnapshot(JSON.parse(message.data) as FlowSnapshot);
        }
      } finally {
        signal.removeEventListener('abort', stop);
      }
      if (!signal.aborted) throw new BusbarError('UNAVAILABLE', 'The flow stream ended');
    },
  };
}

/** A person-readable message for any error, with the server's code when there is one. */
export function errorText(err: unknown): string {
  if (err instanceof BusbarError) return err.status === null ? err.message : `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Whether the server refused the key (401): the dashboard asks for one again. */
export function isUnauthorized(err: unknown): boolean {
  return err instanceof BusbarError && err.status === 401;
}
