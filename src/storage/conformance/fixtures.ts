/**
 * Records and small steps the conformance suite builds its scenarios from; exported for driver
 * tests of their own. No clock: every time is an explicit offset from {@link T0}.
 */
import type {
  AttemptRecord,
  BusRecord,
  ClaimedDelivery,
  Completion,
  CompletionItem,
  DeliveryPolicy,
  DeliveryTrace,
  NewDelivery,
  NewEvent,
  ReplayRecord,
  ReplayStep,
  StorageDriver,
  SubscriptionRecord,
} from '../driver.js';

/** The suite's epoch: 2024-01-01T00:00:00.000Z. Times in tests are `T0 + offset`. */
export const T0 = Date.UTC(2024, 0, 1);

/** The bus most tests use. */
export const BUS = 'orders';

/** The dedupe window {@link publish} appends with unless told: one minute. */
export const DEDUPE_WINDOW_MS = 60_000;

/** The lease {@link claimOne} and {@link claimAll} take unless told: thirty seconds. */
export const LEASE_MS = 30_000;

/** The error a driver records for an attempt whose lease ran out. */
export const LEASE_EXPIRED_ERROR = Object.freeze({
  message: 'lease expired before the attempt completed',
  code: null,
  name: null,
});

/** A typical delivery policy; drivers store it, they never interpret it. */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = Object.freeze({
  maxAttempts: 5,
  maxAgeMs: null,
  backoff: Object.freeze({ initialMs: 1_000, maxMs: 60_000, multiplier: 2 }),
  timeoutMs: 30_000,
  concurrency: 1,
  ordered: false,
});

/**
 * A bus with no retention limits, created at {@link T0}.
 * @example makeBus('audit', { retention: { maxAgeMs: 86_400_000, maxBytes: null } })
 */
export function makeBus(name: string = BUS, overrides: Partial<BusRecord> = {}): BusRecord {
  return { name, retention: { maxAgeMs: null, maxBytes: null }, createdAt: T0, updatedAt: T0, ...overrides };
}

/**
 * A subscription on {@link BUS} (unless `overrides.bus`) with a webhook target and the default policy.
 * @example makeSubscription('billing', { paused: true })
 */
export function makeSubscription(name: string, overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    name,
    bus: BUS,
    pattern: '{"source":[{"prefix":""}]}',
    target: { kind: 'webhook', url: `https://example.test/${name}`, headers: { 'x-team': 'core' } },
    delivery: DEFAULT_DELIVERY_POLICY,
    paused: false,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** What {@link makeEvent} accepts: any field of the event, plus `data` for its body. */
export interface MakeEventOptions extends Partial<NewEvent> {
  /** The CloudEvent's `data`; pads the body for byte-budget tests. */
  readonly data?: unknown;
}

/**
 * A CloudEvent to append, with a real JSON body and its UTF-8 size; listed for no subscription
 * unless `subscriptions` is given.
 * @example makeEvent('e-1', { type: 'order.placed', subscriptions: ['billing'] })
 */
export function makeEvent(id: string, options: MakeEventOptions = {}): NewEvent {
  const { data = { id }, ...fields } = options;
  const source = fields.source ?? '/shop';
  const type = fields.type ?? 'order.placed';
  const time = fields.time ?? new Date(T0).toISOString();
  const body = fields.body ?? JSON.stringify({ specversion: '1.0', id, source, type, time, data });
  return {
    id,
    source,
    type,
    time,
    partitionKey: fields.partitionKey ?? null,
    body,
    size: fields.size ?? new TextEncoder().encode(body).length,
    subscriptions: fields.subscriptions ?? [],
  };
}

/**
 * An attempt record; the outcome follows the completion it goes with unless overridden.
 * @example makeAttempt(1, { outcome: 'error', error: { message: 'boom', code: 'E_BOOM', name: 'Error' } })
 */
export function makeAttempt(attempt: number, overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    attempt,
    startedAt: T0,
    durationMs: 12,
    outcome: 'success',
    error: null,
    httpStatus: 200,
    responseBody: null,
    ...overrides,
  };
}

/** A running replay of {@link BUS} over the first hour after {@link T0}. */
export function makeReplay(id: string, overrides: Partial<ReplayRecord> = {}): ReplayRecord {
  return {
    id,
    bus: BUS,
    from: T0,
    to: T0 + 3_600_000,
    pattern: null,
    subscriptions: ['a'],
    skipDelivered: true,
    ratePerSec: null,
    state: 'running',
    cursor: 0,
    scanned: 0,
    enqueued: 0,
    error: null,
    owner: 'runner-1',
    leaseUntil: T0 + 30_000,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/**
 * Creates deliveries the way replays do: one step of a running fixture replay (created on first use);
 * returns how many were made.
 */
export async function enqueue(d: StorageDriver, deliveries: readonly NewDelivery[], now: number): Promise<number> {
  if ((await d.getReplay('fixture-replay')) === null) {
    await d.putReplay(makeReplay('fixture-replay', { owner: 'fixture', leaseUntil: Number.MAX_SAFE_INTEGER }));
  }
  const before = (await d.getReplay('fixture-replay'))!.enqueued;
  const step: ReplayStep = {
    deliveries,
    cursor: 0,
    scanned: 0,
    state: 'running',
    error: null,
    leaseUntil: Number.MAX_SAFE_INTEGER,
  };
  const after = await d.advanceReplay('fixture-replay', 'fixture', step, now);
  return after!.enqueued - before;
}

/** Stores a bus and subscriptions on it (by name). */
export async function setup(driver: StorageDriver, subscriptions: readonly string[] = ['a'], bus = BUS): Promise<void> {
  await driver.putBus(makeBus(bus));
  for (const name of subscriptions) await driver.putSubscription(makeSubscription(name, { bus }));
}

/** Appends one request and returns the seqs; throws unless every event was accepted. */
export async function publish(
  driver: StorageDriver,
  events: readonly NewEvent[],
  now: number,
  options: { readonly bus?: string; readonly dedupeWindowMs?: number } = {},
): Promise<number[]> {
  const request = { bus: options.bus ?? BUS, events, dedupeWindowMs: options.dedupeWindowMs ?? DEDUPE_WINDOW_MS };
  const [outcomes = []] = await driver.append([request], now);
  return outcomes.map((outcome, i) => {
    if (outcome.status !== 'accepted') throw new Error(`event ${i} was not accepted: ${JSON.stringify(outcome)}`);
    return outcome.seq;
  });
}

/** Options of {@link claimAll} and {@link claimOne}. */
export interface ClaimStepOptions {
  readonly max?: number;
  readonly leaseMs?: number;
  readonly ordered?: boolean;
}

/** Claims (up to 100 by default) of a subscription at `now`. */
export function claimAll(
  driver: StorageDriver,
  subscription: string,
  now: number,
  options: ClaimStepOptions = {},
): Promise<ClaimedDelivery[]> {
  const { max = 100, leaseMs = LEASE_MS, ordered = false } = options;
  return driver.claim(subscription, { max, leaseMs, ordered }, now);
}

/** Claims exactly one delivery (the oldest due); throws when there is none. */
export async function claimOne(
  driver: StorageDriver,
  subscription: string,
  now: number,
  options: ClaimStepOptions = {},
): Promise<ClaimedDelivery> {
  const [claimed] = await claimAll(driver, subscription, now, { ...options, max: 1 });
  if (claimed === undefined) throw new Error(`nothing of ${subscription} was claimable at T0+${now - T0}`);
  return claimed;
}

const OUTCOMES = { ack: 'success', retry: 'error', dead: 'non_retriable' } as const;

/** The attempt {@link settle} records for a claimed delivery completed at `now`. */
export function attemptFor(claimed: ClaimedDelivery, completion: Completion, now: number): AttemptRecord {
  const failed = completion.kind !== 'ack';
  return makeAttempt(claimed.attempt, {
    startedAt: now,
    outcome: OUTCOMES[completion.kind],
    error: failed ? { message: `attempt ${claimed.attempt} failed`, code: 'E_TEST', name: 'Error' } : null,
    httpStatus: failed ? 500 : 200,
    responseBody: failed ? `{"error":"attempt ${claimed.attempt} failed"}` : null,
  });
}

/** The completion item for a claimed delivery, with {@link attemptFor}'s attempt unless given. */
export function itemFor(
  claimed: ClaimedDelivery,
  completion: Completion,
  now: number,
  attempt: AttemptRecord | null = attemptFor(claimed, completion, now),
): CompletionItem {
  return {
    subscription: claimed.subscription,
    deliveryId: claimed.deliveryId,
    leaseToken: claimed.leaseToken,
    completion,
    attempt,
  };
}

/** Completes one claimed delivery with {@link attemptFor}'s attempt; returns the driver's answer. */
export async function settle(
  driver: StorageDriver,
  claimed: ClaimedDelivery,
  completion: Completion,
  now: number,
): Promise<boolean> {
  const results = await driver.complete([itemFor(claimed, completion, now)], now);
  return only(results);
}

/** Claims the oldest due delivery of a subscription and dead-letters it; returns its id. */
export async function killOldest(driver: StorageDriver, subscription: string, now: number): Promise<number> {
  const claimed = await claimOne(driver, subscription, now);
  if (!(await settle(driver, claimed, { kind: 'dead', reason: 'max_attempts' }, now))) {
    throw new Error(`delivery ${claimed.deliveryId} could not be dead-lettered`);
  }
  return claimed.deliveryId;
}

/** One delivery of an event's lineage; throws when it is not there. */
export async function traceOf(driver: StorageDriver, eventSeq: number, deliveryId: number): Promise<DeliveryTrace> {
  const trace = (await driver.deliveriesOf(eventSeq)).find((t) => t.deliveryId === deliveryId);
  if (trace === undefined) throw new Error(`delivery ${deliveryId} of event ${eventSeq} not found`);
  return trace;
}

/** The element at `index`; throws when the list is shorter. */
export function pick<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new Error(`expected an item at ${index}, got a list of ${items.length}`);
  return item;
}

/** The only element of a list; throws otherwise. */
export function only<T>(items: readonly T[]): T {
  const [item] = items;
  if (items.length !== 1 || item === undefined) throw new Error(`expected exactly one item, got ${items.length}`);
  return item;
}
