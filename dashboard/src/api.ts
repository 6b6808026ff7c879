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

/** A subscription's target as the flow snapshot reports it. */
export type FlowTarget = { type: 'pull' } | { type: 'webhook'; url: string } | { type: 'handler' };

/** One subscription in a flow snapshot. */
export interface FlowSubscription {
  readonly name: string;
  readonly bus: string;
  readonly paused: boolean;
  readonly target: FlowTarget;
  readonly deliveredPerSec: number;
  readonly failedPerSec: number;
  /** Failed attempts over all attempts, 0 to 1. */
  readonly errorRate: number;
  /** Publish to acknowledgement; null before the first delivery. */
  readonly latencyMs: { readonly p50: number; readonly p99: number } | null;
  readonly backlog: number;
  readonly inFlight: number;
  readonly dead: number;
  /** 0 when nothing waits. */
  readonly oldestPendingAgeMs: number;
  readonly status: 'ok' | 'failing' | 'paused' | 'backlogged';
}

/** One bus in a flow snapshot, with the sources publishing to it. */
export interface FlowBus {
  readonly name: string;
  readonly publishedPerSec: number;
  readonly rejectedPerSec: number;
  readonly sources: ReadonlyArray<{ readonly source: string; readonly perSec: number }>;
}

/** `GET /v1/flow`: the whole topology with its current rates. */
export interface FlowSnapshot {
  readonly at: number;
  readonly buses: readonly FlowBus[];
  readonly subscriptions: readonly FlowSubscription[];
}

/** One minute of a subscription's history. */
export interface HistoryMinute {
  readonly at: number;
  readonly delivered: number;
  readonly failed: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/** One failed attempt in a subscription's history. */
export interface HistoryFailure {
  readonly at: number;
  /** Null when another server process leased the delivery. */
  readonly eventId: string | null;
  readonly attempt: number;
  readonly outcome: 'error' | 'timeout' | 'non_retriable';
  readonly error: string | null;
  readonly httpStatus: number | null;
  /** What came of the delivery: another attempt, or a dead letter. */
  readonly completion: 'retry' | 'dead';
}

/** `GET /v1/subscriptions/{name}/history`: the last hour, minute by minute. */
export interface SubscriptionHistory {
  /** The last 60 minutes, oldest first. */
  readonly minutes: readonly HistoryMinute[];
  /** How many deliveries ended after 1, 2, … attempts. */
  readonly attempts: Readonly<Record<string, number>>;
  /** The last 50 failed attempts, newest first. */
  readonly failures: readonly HistoryFailure[];
}

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
