/**
 * One in-process consumer of one subscription: claims due deliveries under a lease, runs the handler
 * with the policy's timeout, and turns the outcome into ack, retry (backoff) or dead letter.
 */
import { attemptSpan, endAttemptSpan, traceparentFor } from './tracing.js';
import type {
  AttemptRecord,
  ClaimedDelivery,
  Completion,
  CompletionItem,
  StorageDriver,
  SubscriptionRecord,
} from '../../storage/driver.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { CloudEvent } from '../events.js';
import { NonRetriableError, RetryAfterError } from './outcomes.js';
import { backoffDelay } from './policy.js';

/** What a handler learns about the delivery it is given. */
export interface DeliveryContext {
  readonly subscription: string;
  readonly deliveryId: number;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Set when the delivery comes from a replay (the event also carries it as `replayid`). */
  readonly replayId: string | null;
  /** Aborted when the attempt times out or the consumer stops: stop work and return. */
  readonly signal: AbortSignal;
  /**
   * The W3C `traceparent` to send on (webhooks put it in their request): the attempt's span when
   * tracing is on, else the event's own `traceparent`; null when there is neither.
   */
  readonly traceparent: string | null;
}

/**
 * Handles one event. Return (or resolve) to acknowledge; throw to retry on the backoff schedule;
 * throw {@link NonRetriableError} to dead-letter at once, {@link RetryAfterError} to retry after a delay.
 * A handler that speaks HTTP (webhooks) reports the response status by resolving to, or throwing an
 * error with, a numeric `httpStatus` property, and may attach the start of a failed response as a string
 * `responseBody` property to its error; both are kept on the attempt record.
 */
export type Handler = (event: CloudEvent, context: DeliveryContext) => unknown;

/** Reported after every attempt, for logs and metrics. */
export interface AttemptReport {
  readonly subscription: string;
  readonly delivery: ClaimedDelivery;
  readonly record: AttemptRecord | null;
  readonly completion: Completion;
  /** False when the lease was lost before completion (another worker now owns the delivery). */
  readonly applied: boolean;
}

export interface DispatcherOptions {
  /** Attempts in flight at once. @default the subscription's `delivery.concurrency` */
  readonly concurrency?: number;
  /** Lease per claim. @default the policy's `timeoutMs` + 5 s */
  readonly leaseMs?: number;
}

export interface DispatcherDeps {
  readonly driver: StorageDriver;
  /** Applies one completion (batched with others by the engine); false when the lease was stale. */
  readonly complete: (item: CompletionItem) => Promise<boolean>;
  readonly clock: Clock;
  readonly random: () => number;
  /** Re-checks for due deliveries at least this often, in case a wake-up was missed (another process). */
  readonly pollIntervalMs: number;
  readonly onAttempt: (report: AttemptReport) => void;
  readonly onError: (err: unknown) => void;
}

/**
 * The {@link DeliveryContext} of one attempt. Its abort signal is made when the handler first reads
 * it: most in-process handlers never do, and an AbortController costs more than the rest of an
 * attempt's bookkeeping. Aborting before that keeps the reason, and the signal is then born aborted.
 */
class AttemptContext implements DeliveryContext {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(
    readonly subscription: string,
    readonly deliveryId: number,
    readonly attempt: number,
    readonly replayId: string | null,
    readonly traceparent: string | null,
  ) {}

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') &&
  value !== null &&
  typeof (value as { then?: unknown }).then === 'function';

class AttemptTimeout extends Error {
  constructor(ms: number) {
    super(`attempt timed out after ${ms} ms`);
    this.name = 'AttemptTimeout';
  }
}

function errorInfo(err: unknown): NonNullable<AttemptRecord['error']> {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { message: err.message, code: typeof code === 'string' ? code : null, name: err.name };
  }
  return { message: String(err), code: null, name: null };
}

/** The `httpStatus` a handler reported through its result or its error, if any. */
export function httpStatusOf(value: unknown): number | null {
  if (typeof value !== 'object' || value === null) return null;
  const status = (value as { httpStatus?: unknown }).httpStatus;
  return typeof status === 'number' && Number.isInteger(status) ? status : null;
}

/** The response body excerpt a failed HTTP handler attached to its error (`responseBody`), if any. */
export function responseBodyOf(err: unknown): string | null {
  if (typeof err !== 'object' || err === null) return null;
  const body = (err as { responseBody?: unknown }).responseBody;
  return typeof body === 'string' ? body : null;
}

/**
 * What became of a first attempt made before its delivery was stored (see {@link Dispatcher.attemptNow}),
 * or null when none was made (the consumer stopped, or the subscription was paused or removed).
 */
export type EarlyAttempt = { readonly attempt: AttemptRecord; readonly completion: Completion } | null;

/**
 * A delivery handed to {@link Dispatcher.attemptNow}. `parsed`, when given, is its event's body parsed
 * already (a replay parses it to match it), and becomes this attempt's event: no other use may hold it.
 */
export interface EarlyDelivery extends ClaimedDelivery {
  readonly parsed?: CloudEvent;
}

interface EarlyItem {
  readonly delivery: EarlyDelivery;
  readonly resolve: (outcome: EarlyAttempt) => void;
}

export class Dispatcher {
  private inFlight = 0;
  /** Deliveries handed over by {@link attemptNow}, waiting for a free slot; they go before claims. */
  private early: EarlyItem[] = [];
  private pumping = false;
  private again = false;
  private stopped = false;
  private timer: TimerHandle | undefined;
  private poller: TimerHandle | undefined;
  private readonly running = new Set<Promise<void>>();
  private readonly aborts = new Set<AttemptContext>();
  /** Outcome callbacks of early attempts in flight: given up (null) if their handler outlives stop(). */
  private readonly earlyRunning = new Set<(outcome: EarlyAttempt) => void>();

  constructor(
    private readonly deps: DispatcherDeps,
    private readonly subscription: () => SubscriptionRecord | undefined,
    private readonly handler: Handler,
    private readonly options: DispatcherOptions,
  ) {}

  /** Starts claiming; also re-checks every `pollIntervalMs`. */
  start(): void {
    this.wake();
    const poll = (): void => {
      if (this.stopped) return;
      this.wake();
      this.poller = this.deps.clock.setTimer(poll, this.deps.pollIntervalMs);
    };
    this.poller = this.deps.clock.setTimer(poll, this.deps.pollIntervalMs);
  }

  /**
   * Something may be due: claim soon. Wake-ups in one turn of the event loop (a burst of completions)
   * are coalesced into one claim for all the room they made, rather than one claim each.
   */
  wake(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.pumping) this.again = true;
      else this.pumpDone = this.pump();
    });
  }

  private scheduled = false;
  /** The time the last claim asked storage for due deliveries at. */
  private claimedAt = Number.MAX_SAFE_INTEGER;
  private pumpDone: Promise<void> = Promise.resolve();

  /**
   * Makes the first attempt of deliveries that are not stored yet (a replay hands over its page), within
   * the subscription's concurrency and before anything claimed; the caller stores each with its outcome.
   * Resolves when every one was attempted or given up (null: see {@link EarlyAttempt}).
   */
  attemptNow(deliveries: readonly EarlyDelivery[]): Promise<EarlyAttempt[]> {
    if (deliveries.length === 0) return Promise.resolve([]);
    const outcomes = new Array<EarlyAttempt>(deliveries.length).fill(null);
    return new Promise((resolve) => {
      let left = deliveries.length;
      deliveries.forEach((delivery, i) => {
        let settled = false;
        const item: EarlyItem = {
          delivery,
          resolve: (outcome) => {
            if (settled) return;
            settled = true;
            outcomes[i] = outcome;
            if (--left === 0) resolve(outcomes);
          },
        };
        if (this.stopped) item.resolve(null);
        else this.early.push(item);
      });
      this.wake();
    });
  }

  /** Early attempts (see {@link attemptNow}) waiting for a slot, and running: not in storage yet. */
  get earlyCounts(): { readonly waiting: number; readonly running: number } {
    return { waiting: this.early.length, running: this.earlyRunning.size };
  }

  /** Gives up the deliveries still waiting for a slot. */
  private dropEarly(): void {
    for (const item of this.early.splice(0)) item.resolve(null);
  }

  /** Stops claiming and waits for attempts in flight (aborting their signals after `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    this.dropEarly();
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
    if (this.poller !== undefined) this.deps.clock.clearTimer(this.poller);
    // A claim in progress launches what it leased before the attempts in flight are collected.
    await this.pumpDone;
    if (this.running.size === 0) return;
    const grace = new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        for (const a of this.aborts) a.abort(new Error('consumer stopped'));
        resolve();
      }, graceMs);
      (t as { unref?: () => void }).unref?.();
    });
    // Past the grace period, handlers that ignore their aborted signal are left behind rather than
    // hanging shutdown; their deliveries come back when the leases expire.
    await Promise.race([Promise.allSettled([...this.running]), grace]);
    // Their replay stores them owed, as if never attempted, rather than waiting for them.
    for (const early of this.earlyRunning) early(null);
  }

  private limits(sub: SubscriptionRecord): { concurrency: number; leaseMs: number } {
    return {
      concurrency: this.options.concurrency ?? sub.delivery.concurrency,
      leaseMs: this.options.leaseMs ?? sub.delivery.timeoutMs + 5_000,
    };
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        for (;;) {
          const sub = this.subscription();
          if (this.stopped || sub === undefined || sub.paused) {
            this.dropEarly();
            break;
          }
          const { concurrency, leaseMs } = this.limits(sub);
          const room = concurrency - this.inFlight;
          if (room <= 0) break;
          if (this.early.length > 0) {
            for (const item of this.early.splice(0, room)) this.launch(item.delivery, item.resolve);
            continue;
          }
          this.claimedAt = this.deps.clock.now();
          const claimed = await this.deps.driver.claim(
            sub.name,
            { max: room, leaseMs, ordered: sub.delivery.ordered },
            this.claimedAt,
          );
          // Even when stop() came during the claim: the leases are ours, and stop() waits for them.
          for (const d of claimed) this.launch(d);
          if (claimed.length < room) break;
        }
      } while (this.again && !this.stopped);
      await this.scheduleNext();
    } catch (err) {
      this.deps.onError(err);
    } finally {
      this.pumping = false;
      // A wake-up that came while the next timer was being set still needs its claim.
      if (this.again && !this.stopped) this.wake();
    }
  }

  /** Sets a timer for the next retry or lease end, so backoff needs no polling. */
  private async scheduleNext(): Promise<void> {
    const sub = this.subscription();
    if (this.stopped || sub === undefined || sub.paused) return;
    if (this.inFlight >= this.limits(sub).concurrency) return;
    // Asked as of the last claim: a delivery that fell due while that claim was on its way to storage
    // was not claimed, and must still get its timer (which then fires at once).
    const next = await this.deps.driver.nextDueAt(sub.name, Math.min(this.claimedAt, this.deps.clock.now()));
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
    if (next === null || this.stopped) return;
    this.timer = this.deps.clock.setTimer(() => {
      this.timer = undefined;
      this.wake();
    }, next - this.deps.clock.now());
  }

  /** Runs an attempt in a slot; `early` takes the outcome of a delivery not stored yet (see attemptNow). */
  private launch(d: EarlyDelivery, early?: (outcome: EarlyAttempt) => void): void {
    this.inFlight++;
    if (early !== undefined) this.earlyRunning.add(early);
    const run = this.attempt(d, early)
      .catch((err: unknown) => {
        early?.(null);
        this.deps.onError(err);
      })
      .finally(() => {
        if (early !== undefined) this.earlyRunning.delete(early);
        this.inFlight--;
        this.running.delete(run);
        this.wake();
      });
    this.running.add(run);
  }

  private async attempt(d: EarlyDelivery, early?: (outcome: EarlyAttempt) => void): Promise<void> {
    const sub = this.subscription();
    if (sub === undefined) return early?.(null);
    const policy = sub.delivery;
    const { clock } = this.deps;
    const startedAt = clock.now();
    // A lease that expired on the last allowed attempt leaves nothing to try.
    if (d.attempt > policy.maxAttempts || (policy.maxAgeMs !== null && startedAt - d.enqueuedAt >= policy.maxAgeMs)) {
      // Not stored yet: stored as owed, the normal path dead-letters it.
      if (early !== undefined) return early(null);
      const reason = d.attempt > policy.maxAttempts ? 'max_attempts' : 'max_age';
      return this.finish(sub, d, { kind: 'dead', reason }, null);
    }
    const event = d.parsed ?? (JSON.parse(d.event.body) as CloudEvent);
    if (d.replayId !== null) event['replayid'] = d.replayId;
    const span = attemptSpan(sub.name, d, event);
    const context = new AttemptContext(
      sub.name,
      d.deliveryId,
      d.attempt,
      d.replayId,
      traceparentFor(span, typeof event['traceparent'] === 'string' ? event['traceparent'] : null),
    );
    this.aborts.add(context);
    let work: Promise<unknown> | undefined;
    let failure: unknown;
    let result: unknown;
    let ok = false;
    try {
      // Handlers run after the launches of this claim, not in the middle of them.
      await Promise.resolve();
      const returned = this.handler(event, context);
      // A handler that returns at once has finished: only a pending one needs the timeout.
      if (isThenable(returned)) {
        work = Promise.resolve(returned);
        result = await this.timed(work, context, policy.timeoutMs);
      } else result = returned;
      ok = true;
    } catch (err) {
      failure = err;
    }
    const now = clock.now();
    const record: AttemptRecord = {
      attempt: d.attempt,
      startedAt,
      durationMs: now - startedAt,
      outcome: ok
        ? 'success'
        : failure instanceof AttemptTimeout
          ? 'timeout'
          : failure instanceof NonRetriableError
            ? 'non_retriable'
            : 'error',
      error: ok ? null : errorInfo(failure),
      httpStatus: httpStatusOf(ok ? result : failure),
      responseBody: ok ? null : responseBodyOf(failure),
    };
    const completion = this.decide(sub, d, ok, failure, now);
    endAttemptSpan(span, record, completion);
    if (early === undefined) {
      await this.finish(sub, d, completion, record);
    } else {
      early({ attempt: record, completion });
      this.deps.onAttempt({ subscription: sub.name, delivery: d, record, completion, applied: true });
    }
    // JavaScript cannot stop a handler that ignores its signal: a timed-out one keeps its concurrency
    // slot (and stop() keeps waiting for it) until it really returns, so it never runs beside more
    // attempts than `concurrency` allows.
    if (failure instanceof AttemptTimeout) await work?.catch(() => undefined);
    this.aborts.delete(context);
  }

  /** `work`, or an {@link AttemptTimeout} (aborting the attempt's signal) when it outlasts `ms`. */
  private timed(work: Promise<unknown>, context: AttemptContext, ms: number): Promise<unknown> {
    const { clock } = this.deps;
    return new Promise((resolve, reject) => {
      const timer = clock.setTimer(() => {
        const err = new AttemptTimeout(ms);
        context.abort(err);
        reject(err);
      }, ms);
      work.then(
        (value) => {
          clock.clearTimer(timer);
          resolve(value);
        },
        (err: unknown) => {
          clock.clearTimer(timer);
          // The handler's own reason, whatever it threw (the outcome records non-errors too).
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(err);
        },
      );
    });
  }

  private decide(sub: SubscriptionRecord, d: ClaimedDelivery, ok: boolean, failure: unknown, now: number): Completion {
    const policy = sub.delivery;
    if (ok) return { kind: 'ack' };
    if (failure instanceof NonRetriableError) return { kind: 'dead', reason: 'non_retriable' };
    if (d.attempt >= policy.maxAttempts) return { kind: 'dead', reason: 'max_attempts' };
    const delay =
      failure instanceof RetryAfterError ? failure.retryAfterMs : backoffDelay(policy, d.attempt, this.deps.random);
    const availableAt = now + delay;
    if (policy.maxAgeMs !== null && availableAt - d.enqueuedAt >= policy.maxAgeMs)
      return { kind: 'dead', reason: 'max_age' };
    return { kind: 'retry', availableAt };
  }

  private async finish(
    sub: SubscriptionRecord,
    d: ClaimedDelivery,
    completion: Completion,
    record: AttemptRecord | null,
  ): Promise<void> {
    const applied = await this.deps.complete({
      subscription: d.subscription,
      deliveryId: d.deliveryId,
      leaseToken: d.leaseToken,
      completion,
      attempt: record,
    });
    this.deps.onAttempt({ subscription: sub.name, delivery: d, record, completion, applied });
  }
}
