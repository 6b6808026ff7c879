/**
 * The shapes of `GET /v1/flow`, `GET /v1/flow/stream` and `GET /v1/subscriptions/{name}/history`, apart
 * from the code that makes them (flow.ts), so that the dashboard compiles against the same types
 * without Node.js: this module imports nothing but types that import nothing.
 */
import type { AttemptOutcome } from '../storage/driver.js';

/** One source of a bus and its rate. */
export interface FlowSource {
  readonly source: string;
  readonly perSec: number;
}

/** A bus: events stored and rejected per second, and its busiest sources (top 20, then `"(other)"`). */
export interface FlowBus {
  readonly name: string;
  readonly publishedPerSec: number;
  readonly rejectedPerSec: number;
  readonly sources: readonly FlowSource[];
}

/** Where a subscription's deliveries go, without secrets: a webhook's URL has no credentials or query. */
export type FlowTarget =
  { readonly type: 'pull' } | { readonly type: 'handler' } | { readonly type: 'webhook'; readonly url: string };

/**
 * `failing`: at least 10 % of the attempts in the rate window failed (and at least 3 did), or deliveries
 * were dead-lettered in it; `paused`; `backlogged`: the oldest waiting delivery is older than a minute.
 */
export type FlowStatus = 'ok' | 'failing' | 'paused' | 'backlogged';

/** A subscription's flow, from its bus to its target. */
export interface FlowSubscription {
  readonly name: string;
  readonly bus: string;
  readonly paused: boolean;
  readonly target: FlowTarget;
  readonly deliveredPerSec: number;
  /** Failed attempts per second (each retry that fails counts). */
  readonly failedPerSec: number;
  /** failed / (delivered + failed) in the rate window; 0 when there was neither. */
  readonly errorRate: number;
  /** End-to-end (publish to acknowledgement) over the last 60 s; null without a delivery in it. */
  readonly latencyMs: { readonly p50: number; readonly p99: number } | null;
  readonly backlog: number;
  readonly inFlight: number;
  readonly dead: number;
  /** 0 when nothing waits. */
  readonly oldestPendingAgeMs: number;
  readonly status: FlowStatus;
}

/** The whole graph at `at` (ms): sources → buses → subscriptions → targets. */
export interface FlowSnapshot {
  readonly at: number;
  readonly buses: readonly FlowBus[];
  readonly subscriptions: readonly FlowSubscription[];
}

/** One minute of a subscription's history; `at` is the minute's start (ms). */
export interface HistoryMinute {
  readonly at: number;
  readonly delivered: number;
  readonly failed: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/** A failed attempt; `eventId` is null when another process leased the delivery. */
export interface FailedAttempt {
  readonly at: number;
  readonly eventId: string | null;
  readonly attempt: number;
  readonly outcome: Exclude<AttemptOutcome, 'success' | 'lease_expired'>;
  readonly error: string | null;
  readonly httpStatus: number | null;
  readonly completion: 'retry' | 'dead';
}

/** A subscription's last hour, as this server saw it. */
export interface SubscriptionHistory {
  /** The last 60 minutes, oldest first, the current one last; minutes without traffic are zeros. */
  readonly minutes: readonly HistoryMinute[];
  /** Deliveries ended (acknowledged or dead-lettered) by the number of attempts they took, since start. */
  readonly attempts: Readonly<Record<string, number>>;
  /** The last 50 failed attempts (`MAX_FAILURES` in flow.ts), newest first. */
  readonly failures: readonly FailedAttempt[];
}
