/**
 * Pull consumers: services in other processes (or languages) take deliveries over an API. `receive`
 * leases deliveries and returns them with receipts (long-polling while none are due); `ack`, `nack`
 * and `extend` act on receipts. A receipt is valid while its lease is: a stale or unknown receipt is
 * reported as such, never silently accepted.
 */
import { BusError, describeValue } from '../errors.js';
import type { CloudEvent } from '../events.js';
import type { AttemptRecord, ClaimedDelivery, Completion, CompletionItem } from '../../storage/driver.js';
import type { TimerHandle } from '../clock.js';
import type { EngineHooks } from './hooks.js';
import { attemptObservation } from './observer.js';
import { LEASE_EXPIRED_MESSAGE } from '../../storage/lease-expired.js';
import type { Span } from '@opentelemetry/api';
import { attemptSpan, endAttemptSpan, endSpan, traceparentFor } from './tracing.js';
import { backoffDelay } from './policy.js';

/** A leased delivery handed to a pull consumer. */
export interface PulledMessage {
  /** Pass to ack / nack / extend. */
  readonly receipt: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly event: CloudEvent;
  /**
   * The W3C `traceparent` for the consumer's work: the attempt's span when tracing is on, else the
   * event's own `traceparent`; null when there is neither.
   */
  readonly traceparent: string | null;
}

/** The outcome of a receipt operation, per receipt. */
export interface ReceiptResult {
  readonly receipt: string;
  /**
   * `stale`: not a current lease of this subscription (it expired, the delivery was settled already, or
   * the receipt is another subscription's); `invalid`: not a receipt at all.
   */
  readonly status: 'ok' | 'stale' | 'invalid';
}

export interface ReceiveOptions {
  /** Most messages returned. @default 10 (1 to 1000) */
  max?: number;
  /** Wait this long for a message when none is due. @default 0 (at most 60000) */
  waitMs?: number;
  /** The lease each message gets; ack before it ends or the message is delivered again. @default 30000 */
  leaseMs?: number;
  /** Stops waiting (and claiming) once aborted, e.g. when the HTTP client went away. */
  signal?: AbortSignal;
}

export interface NackOptions {
  /** Retry after this delay instead of the subscription's backoff. */
  delayMs?: number;
  /** Recorded with the attempt. */
  error?: string;
  /** Dead-letter now instead of retrying. */
  deadLetter?: boolean;
}

interface Lease {
  readonly startedAt: number;
  readonly attempt: number;
  readonly enqueuedAt: number;
  readonly leaseUntil: number;
  /** When the event was archived, for end-to-end latency. */
  readonly publishedAt: number;
  /** The event's `id`, for observers (unknown for another process's receipts). */
  readonly eventId: string | undefined;
  readonly replayId: string | null;
  /** The attempt's span, ended at ack or nack. */
  readonly span: Span | null;
}

/** Past this many remembered leases, those that ended a minute ago or more are forgotten. */
const LEASE_MEMORY = 10_000;

function int(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`${name}\` to be an integer from ${min} to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

function parseReceipt(receipt: unknown): { deliveryId: number; token: string } | undefined {
  if (typeof receipt !== 'string') return undefined;
  const m = /^(\d{1,15})\.([0-9a-zA-Z-]{8,64})$/.exec(receipt);
  return m === null ? undefined : { deliveryId: Number(m[1]), token: m[2]! };
}

export class PullConsumers {
  /** Leases handed out by this process, for the attempt records (another node's receipts work too). */
  private readonly leases = new Map<string, Lease>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /**
   * Notifications per subscription so far: a long-poll whose claim found nothing waits only when none
   * came while that claim was on its way to storage (else the wake-up would be lost until the poll).
   */
  private readonly notified = new Map<string, number>();

  constructor(
    private readonly hooks: EngineHooks & {
      readonly complete: (item: CompletionItem) => Promise<boolean>;
      readonly random: () => number;
    },
  ) {}

  /**
   * Deliveries of `subscription` may be due: wakes its longest-waiting long-poll. One at a time, so
   * that a publish does not send every waiting consumer to storage for the same few deliveries: a
   * long-poll that leases a full batch passes the wake-up on to the next one.
   */
  notify(subscription: string): void {
    this.notified.set(subscription, (this.notified.get(subscription) ?? 0) + 1);
    this.wakeOne(subscription);
  }

  private wakeOne(subscription: string): void {
    const first = this.waiters.get(subscription)?.values().next();
    if (first !== undefined && first.done !== true) first.value();
  }

  /** Leases up to `max` due messages, waiting up to `waitMs` for the first. */
  async receive(subscription: string, options: ReceiveOptions = {}): Promise<PulledMessage[]> {
    const sub = this.hooks.subscription(subscription);
    const max = int('max', options.max, 1, 1000, 10);
    const waitMs = int('waitMs', options.waitMs, 0, 60_000, 0);
    const leaseMs = int('leaseMs', options.leaseMs, 1_000, 12 * 60 * 60 * 1000, 30_000);
    const { clock } = this.hooks;
    const deadline = clock.now() + waitMs;
    for (;;) {
      if (options.signal?.aborted === true) {
        // Its client left, perhaps just after a wake-up meant for it: pass that on.
        this.wakeOne(subscription);
        return [];
      }
      const current = this.hooks.subscription(subscription);
      const before = this.notified.get(subscription);
      const claimed = current.paused
        ? []
        : await this.hooks.storage(() =>
            this.hooks.driver.claim(subscription, { max, leaseMs, ordered: sub.delivery.ordered }, clock.now()),
          );
      // A full batch: more may be due, for the next waiting long-poll.
      if (claimed.length === max) this.wakeOne(subscription);
      const messages = await this.admit(claimed, leaseMs);
      const left = deadline - clock.now();
      if (messages.length > 0 || left <= 0) return messages;
      if (this.notified.get(subscription) !== before) continue;
      await this.wait(subscription, left, options.signal);
    }
  }

  /** Acknowledges messages: they are delivered. */
  ack(subscription: string, receipts: unknown): Promise<ReceiptResult[]> {
    return this.settle(subscription, receipts, () => ({ kind: 'ack' }), 'success', null);
  }

  /** Reports failed attempts: retried on the backoff schedule (or after `delayMs`), or dead-lettered. */
  nack(subscription: string, receipts: unknown, options: NackOptions = {}): Promise<ReceiptResult[]> {
    const sub = this.hooks.subscription(subscription);
    const delayMs =
      options.delayMs === undefined ? undefined : int('delayMs', options.delayMs, 0, 7 * 24 * 60 * 60 * 1000, 0);
    if (options.error !== undefined && typeof options.error !== 'string') {
      throw new BusError('INVALID_ARGUMENT', `Expected \`error\` to be a string, got ${describeValue(options.error)}`);
    }
    if (options.deadLetter !== undefined && typeof options.deadLetter !== 'boolean') {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected \`deadLetter\` to be a boolean, got ${describeValue(options.deadLetter)}`,
      );
    }
    const policy = sub.delivery;
    const decide = (lease: Lease): Completion => {
      if (options.deadLetter === true) return { kind: 'dead', reason: 'non_retriable' };
      if (lease.attempt >= policy.maxAttempts) return { kind: 'dead', reason: 'max_attempts' };
      const now = this.hooks.clock.now();
      const availableAt = now + (delayMs ?? backoffDelay(policy, lease.attempt, this.hooks.random));
      if (policy.maxAgeMs !== null && availableAt - lease.enqueuedAt >= policy.maxAgeMs)
        return { kind: 'dead', reason: 'max_age' };
      return { kind: 'retry', availableAt };
    };
    const outcome = options.deadLetter === true ? 'non_retriable' : 'error';
    return this.settle(subscription, receipts, decide, outcome, options.error ?? 'nacked by the consumer');
  }

  /** Extends the leases of messages still being worked on. */
  async extend(subscription: string, receipts: unknown, leaseMs: unknown): Promise<ReceiptResult[]> {
    this.hooks.subscription(subscription);
    const ms = int('leaseMs', leaseMs, 1_000, 12 * 60 * 60 * 1000, 30_000);
    const list = this.receiptList(receipts);
    const until = this.hooks.clock.now() + ms;
    const out: ReceiptResult[] = [];
    for (const receipt of list) {
      const parsed = parseReceipt(receipt);
      if (parsed === undefined) {
        out.push({ receipt: String(receipt), status: 'invalid' });
        continue;
      }
      const ok = await this.hooks.storage(() =>
        this.hooks.driver.extend(subscription, parsed.deliveryId, parsed.token, until),
      );
      out.push({ receipt: receipt as string, status: ok ? 'ok' : 'stale' });
    }
    return out;
  }

  private receiptList(receipts: unknown): unknown[] {
    if (!Array.isArray(receipts) || receipts.length === 0 || receipts.length > 1000) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected \`receipts\` to be an array of 1 to 1000 receipts, got ${describeValue(receipts)}`,
      );
    }
    return receipts;
  }

  private async settle(
    subscription: string,
    receipts: unknown,
    decide: (lease: Lease) => Completion,
    outcome: AttemptRecord['outcome'],
    error: string | null,
  ): Promise<ReceiptResult[]> {
    this.hooks.subscription(subscription);
    const list = this.receiptList(receipts);
    const now = this.hooks.clock.now();
    const results = await Promise.all(
      list.map(async (receipt): Promise<ReceiptResult> => {
        const parsed = parseReceipt(receipt);
        if (parsed === undefined) return { receipt: String(receipt), status: 'invalid' };
        const key = receipt as string;
        // Receipts from another process: attempt numbers, times and the event are not known here.
        const lease = this.leases.get(key) ?? {
          startedAt: now,
          attempt: 0,
          enqueuedAt: now,
          leaseUntil: now,
          publishedAt: now,
          eventId: undefined,
          replayId: null,
          span: null,
        };
        const record: AttemptRecord | null =
          lease.attempt === 0
            ? null
            : {
                attempt: lease.attempt,
                startedAt: lease.startedAt,
                durationMs: now - lease.startedAt,
                outcome,
                error: error === null ? null : { message: error, code: null, name: null },
                httpStatus: null,
                responseBody: null,
              };
        const completion = decide(lease);
        if (lease.span !== null) endAttemptSpan(lease.span, record, completion);
        const ok = await this.hooks.storage(() =>
          this.hooks.complete({
            subscription,
            deliveryId: parsed.deliveryId,
            leaseToken: parsed.token,
            completion,
            attempt: record,
          }),
        );
        if (ok && this.hooks.observers.active) {
          const delivery = {
            attempt: lease.attempt,
            replayId: lease.replayId,
            event: { id: lease.eventId, publishedAt: lease.publishedAt },
          };
          const observation = attemptObservation(subscription, delivery, record, completion, this.hooks.clock.now());
          // Another process's receipt: the outcome counts, its attempt number and timing are not known here.
          const known = lease.attempt > 0 ? observation : { ...observation, endToEndMs: null, attemptsUsed: null };
          this.hooks.observers.emit('attempt', known);
        }
        // A refused receipt keeps its entry: it may still be settled on its own subscription.
        if (ok) this.leases.delete(key);
        return { receipt: key, status: ok ? 'ok' : 'stale' };
      }),
    );
    this.hooks.wake(subscription);
    return results;
  }

  /** Dead-letters claimed deliveries whose attempts or age ran out; returns the rest as messages. */
  private async admit(claimed: readonly ClaimedDelivery[], leaseMs: number): Promise<PulledMessage[]> {
    const out: PulledMessage[] = [];
    const now = this.hooks.clock.now();
    if (this.leases.size > LEASE_MEMORY) {
      for (const [key, lease] of this.leases) {
        if (lease.leaseUntil >= now - 60_000) continue;
        // Never settled here: the lease ran out (the delivery went back to the queue).
        if (lease.span !== null) endSpan(lease.span, new Error(LEASE_EXPIRED_MESSAGE));
        this.leases.delete(key);
      }
    }
    for (const d of claimed) {
      const policy = this.hooks.subscription(d.subscription).delivery;
      const expired =
        d.attempt > policy.maxAttempts
          ? 'max_attempts'
          : policy.maxAgeMs !== null && now - d.enqueuedAt >= policy.maxAgeMs
            ? 'max_age'
            : null;
      if (expired !== null) {
        const completion = { kind: 'dead', reason: expired } as const;
        const ok = await this.hooks.complete({
          subscription: d.subscription,
          deliveryId: d.deliveryId,
          leaseToken: d.leaseToken,
          completion,
          attempt: null,
        });
        if (ok) this.hooks.observers.emit('attempt', attemptObservation(d.subscription, d, null, completion, now));
        continue;
      }
      const receipt = `${d.deliveryId}.${d.leaseToken}`;
      const event = JSON.parse(d.event.body) as CloudEvent;
      if (d.replayId !== null) event['replayid'] = d.replayId;
      const span = attemptSpan(d.subscription, d, event);
      this.leases.set(receipt, {
        startedAt: now,
        attempt: d.attempt,
        enqueuedAt: d.enqueuedAt,
        leaseUntil: now + leaseMs,
        publishedAt: d.event.publishedAt,
        eventId: d.event.id,
        replayId: d.replayId,
        span: span.isRecording() ? span : null,
      });
      const own = typeof event['traceparent'] === 'string' ? event['traceparent'] : null;
      out.push({ receipt, attempt: d.attempt, event, traceparent: traceparentFor(span, own) });
    }
    return out;
  }

  private wait(subscription: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(subscription) ?? new Set<() => void>();
      const holder: { timer?: TimerHandle } = {};
      const done = (): void => {
        if (holder.timer !== undefined) this.hooks.clock.clearTimer(holder.timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        resolve();
      };
      signal?.addEventListener('abort', done);
      set.add(done);
      this.waiters.set(subscription, set);
      // Also wake at least every second: a retry may fall due without any notification.
      holder.timer = this.hooks.clock.setTimer(done, Math.min(ms, 1_000));
    });
  }
}
