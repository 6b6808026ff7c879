/**
 * The JSON the HTTP API sends and takes, as the SDK types it. Each response type is the body of its
 * route in src/server/routes/ exactly as sent (the engine's records serialised); test/client.test.ts
 * checks at compile time that these stay equal to the engine's types.
 */
import type { CloudEvent } from '../core/events.js';

// ---- events ------------------------------------------------------------------------------------

/**
 * Maps event types to the type of their `data`, for typed publishing. Declare it with `type`, not
 * `interface` (an interface has no index signature, so it is not a `Record<string, unknown>`).
 *
 * @example
 * ```ts
 * type ShopEvents = { 'order.placed': { orderId: string; total: number }; 'order.cancelled': { orderId: string } };
 * const client = createClient<ShopEvents>({ url: 'http://127.0.0.1:4080' });
 * ```
 */
export type EventMap = Record<string, unknown>;

/** The attributes of an event to publish besides `type` and `data`. */
export interface EventInputAttributes {
  /** Identifies the event per `source`. Assigned by the SDK (UUIDv7) when missing, before the first try. */
  id?: string;
  /** URI-reference of the context in which the event happened, e.g. `/shop`. */
  source: string;
  /** @default '1.0' */
  specversion?: '1.0';
  subject?: string;
  /** RFC 3339; the server assigns the time of publishing when missing. */
  time?: string;
  datacontenttype?: string;
  dataschema?: string;
  /** Extension attributes (names `a-z0-9`, 1–20 characters; string, integer or boolean values). */
  [extension: string]: unknown;
}

/** `data` is required unless its type admits `undefined`. */
type DataOf<D> = undefined extends D ? { data?: D } : { data: D };

/**
 * An event to publish: a CloudEvent whose `specversion` and `id` may be left out, and whose `type`
 * and `data` are typed by the client's event map (one union member per event type).
 *
 * @example
 * ```ts
 * const event: EventInput<ShopEvents> = { source: '/shop', type: 'order.placed', data: { orderId: 'o-1', total: 30 } };
 * ```
 */
export type EventInput<E extends EventMap = EventMap> = {
  [K in keyof E & string]: EventInputAttributes & { type: K } & DataOf<E[K]>;
}[keyof E & string];

/** `POST /v1/buses/{bus}/events`: one result per event, in order. */
export interface PublishResult {
  /** `duplicate`: `source` + `id` was stored already (also by an earlier try of this same call). */
  readonly results: ReadonlyArray<{ readonly id: string; readonly status: 'accepted' | 'duplicate' }>;
}

// ---- buses -------------------------------------------------------------------------------------

/** A bus (`PUT`/`GET /v1/buses/{bus}`). Times are ms since the epoch. */
export interface Bus {
  readonly name: string;
  /** How long the archive keeps events; `null` means no limit of that kind. */
  readonly retention: { readonly maxAgeMs: number | null; readonly maxBytes: number | null };
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** The body of `PUT /v1/buses/{bus}`: fields left out keep their values (the defaults for a new bus). */
export interface BusInput {
  retention?: { maxAgeMs?: number | null; maxBytes?: number | null };
}

// ---- subscriptions -----------------------------------------------------------------------------

/** How a subscription's deliveries are attempted. */
export interface DeliveryPolicy {
  readonly maxAttempts: number;
  readonly maxAgeMs: number | null;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number; readonly multiplier: number };
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly ordered: boolean;
}

/** A subscription (`PUT /v1/subscriptions/{name}`, pause, resume). */
export interface Subscription {
  readonly name: string;
  readonly bus: string;
  /** The event pattern as JSON text. */
  readonly pattern: string;
  /** `{ type: 'pull' }`, `{ type: 'webhook', url, ... }` or `{ type: 'handler' }`. */
  readonly target: Readonly<Record<string, unknown>>;
  readonly delivery: DeliveryPolicy;
  readonly paused: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Delivery counts of a subscription. */
export interface SubscriptionStats {
  /** Pending deliveries (due or waiting for a retry). */
  readonly backlog: number;
  /** Leased deliveries. */
  readonly inFlight: number;
  /** Dead letters. */
  readonly dead: number;
  /** `enqueuedAt` of the oldest pending delivery. */
  readonly oldestPendingAt: number | null;
}

/** `GET /v1/subscriptions/{name}`: the subscription with its counts. */
export interface SubscriptionWithStats extends Subscription {
  readonly stats: SubscriptionStats;
}

/** The body of `PUT /v1/subscriptions/{name}`; without `target` the subscription is pulled. */
export interface SubscriptionInput {
  bus: string;
  /** An EventBridge event pattern, as an object or JSON text. */
  pattern: string | object;
  target?: Record<string, unknown>;
  delivery?: {
    maxAttempts?: number;
    maxAgeMs?: number | null;
    backoff?: { initialMs?: number; maxMs?: number; multiplier?: number };
    timeoutMs?: number;
    concurrency?: number;
    ordered?: boolean;
  };
}

// ---- deliveries, dead letters, lineage ---------------------------------------------------------

/** One attempt of a delivery, as recorded. */
export interface AttemptRecord {
  readonly attempt: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly outcome: 'success' | 'error' | 'timeout' | 'non_retriable' | 'lease_expired';
  readonly error: { readonly message: string; readonly code: string | null; readonly name: string | null } | null;
  readonly httpStatus: number | null;
  readonly responseBody: string | null;
}

/** Why a delivery was dead-lettered. */
export type DeadReason = 'max_attempts' | 'max_age' | 'non_retriable';

/** A dead letter (`GET /v1/subscriptions/{name}/dead-letters/{id}`). */
export interface DeadLetter {
  /** What `get`, `delete` and `redrive({ ids })` take. */
  readonly id: number;
  readonly subscription: string;
  readonly event: CloudEvent;
  readonly attempts: readonly AttemptRecord[];
  readonly reason: DeadReason;
  readonly deadAt: number;
  readonly enqueuedAt: number;
  readonly replayId: string | null;
}

/** `GET /v1/subscriptions/{name}/dead-letters`: one page, oldest first. */
export interface DeadLetterPage {
  readonly deadLetters: DeadLetter[];
  /** Pass back as `cursor` for the next page; null at the end. */
  readonly cursor: string | null;
}

/** The body of a redrive; nothing given selects every dead letter. */
export interface RedriveSelection {
  ids?: number[];
  pattern?: string | object;
  /** Died at or after (ms). */
  from?: number;
  /** Died at or before (ms). */
  to?: number;
  /** Count, change nothing. */
  dryRun?: boolean;
}

/** One delivery in an event's lineage. */
export interface DeliveryTrace {
  readonly deliveryId: number;
  readonly subscription: string;
  readonly state: 'pending' | 'leased' | 'delivered' | 'dead' | 'redriven';
  readonly enqueuedAt: number;
  readonly availableAt: number;
  readonly replayId: string | null;
  readonly redriveOf: number | null;
  readonly deadReason: DeadReason | null;
  readonly attempts: readonly AttemptRecord[];
}

/** `GET /v1/buses/{bus}/events/{id}` answers one of these per stored event with that id. */
export interface EventLineage {
  readonly event: CloudEvent;
  readonly publishedAt: number;
  readonly deliveries: DeliveryTrace[];
  /** Subscriptions whose pattern matches the event today. */
  readonly matchesNow: string[];
}

/** The query of `GET /v1/buses/{bus}/events`. */
export interface ArchiveQuery {
  /** Published at or after (ms). */
  from?: number;
  /** Published at or before (ms). */
  to?: number;
  type?: string;
  source?: string;
  /** An EventBridge pattern, as an object or JSON text. */
  pattern?: string | object;
  /** @default 100 (at most 1000) */
  limit?: number;
  cursor?: string;
}

/** One page of the archive, oldest first. */
export interface ArchivePage {
  readonly events: CloudEvent[];
  readonly cursor: string | null;
}

// ---- replays -----------------------------------------------------------------------------------

/** The body of `POST /v1/replays`. */
export interface ReplayInput {
  bus: string;
  /** Publish times from (ms, inclusive). */
  from: number;
  /** @default now */
  to?: number;
  pattern?: string | object;
  /** @default every subscription of the bus whose pattern matches */
  subscriptions?: string[];
  skipDelivered?: boolean;
  ratePerSec?: number;
}

/** A replay's record. */
export interface Replay {
  readonly id: string;
  readonly bus: string;
  readonly from: number;
  readonly to: number;
  readonly pattern: string | null;
  readonly subscriptions: readonly string[] | null;
  readonly skipDelivered: boolean;
  readonly ratePerSec: number | null;
  readonly state: 'running' | 'completed' | 'cancelled' | 'failed';
  readonly cursor: number;
  readonly scanned: number;
  readonly enqueued: number;
  readonly error: string | null;
  /** The server instance running it, which holds it until `leaseUntil` (several nodes on one store). */
  readonly owner: string | null;
  readonly leaseUntil: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

// ---- pull --------------------------------------------------------------------------------------

/** One leased message of `POST /v1/subscriptions/{name}/pull`. */
export interface PulledMessage {
  readonly receipt: string;
  readonly attempt: number;
  readonly event: CloudEvent;
  /** The trace context for the consumer's work (see `ClientHandlerContext.traceparent`). */
  readonly traceparent: string | null;
}

/** Per receipt, the result of ack, nack and extend. */
export interface ReceiptResult {
  readonly receipt: string;
  readonly status: 'ok' | 'stale' | 'invalid';
}
