/**
 * A pull consumer over HTTP with the semantics of the in-process `consume`: long-polls for leased
 * messages, runs up to `concurrency` handlers, extends each lease while its handler runs, and turns
 * the outcome into ack, nack (the subscription's backoff, or `RetryAfterError`'s delay) or dead letter
 * (`NonRetriableError`). Stopping stops pulling, lets handlers in flight finish and settles them.
 */
import type { CloudEvent } from '../core/events.js';
import { NonRetriableError, RetryAfterError } from '../core/engine/outcomes.js';
import { BusbarError } from './errors.js';
import { backoffMs, path, sleep, type Transport } from './http.js';
import type { ClientHandler, ResolvedConsumeOptions } from './options.js';
import { isPermanent, Settler, type Settlement } from './settler.js';
import type { PulledMessage, ReceiptResult } from './types.js';

/** A running consumer. */
export interface Consumer {
  /**
   * Stops pulling, waits for the handlers in flight and the sending of their outcomes, then resolves.
   * Never rejects; calling it again returns the same wait.
   */
  stop(): Promise<void>;
  /**
   * Resolves when the consumer has stopped (through `stop()` or the signal). Rejects when an error
   * no retry can mend stopped it (a 401, 403, or 404 of the subscription), after handlers in flight
   * finished; that error also goes to `onError`.
   */
  readonly done: Promise<void>;
}

/** The outcome a handler's result or error asks for (the same rules as the in-process dispatcher). */
export function settlementOf(ok: boolean, failure: unknown): Settlement {
  if (ok) return { kind: 'ack' };
  const error = failure instanceof Error ? failure.message : String(failure);
  // By name too: an app that bundles two copies of Busbar has two classes of each name.
  const name = failure instanceof Error ? failure.name : '';
  if (failure instanceof NonRetriableError || name === 'NonRetriableError') {
    return { kind: 'nack', error, deadLetter: true };
  }
  const retryAfter = (failure as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  if ((failure instanceof RetryAfterError || name === 'RetryAfterError') && typeof retryAfter === 'number') {
    // The server takes whole milliseconds up to 7 days.
    return { kind: 'nack', error, delayMs: Math.min(Math.ceil(retryAfter), 7 * 24 * 60 * 60 * 1000) };
  }
  return { kind: 'nack', error };
}

/** The {@link Consumer} that `client.consume` returns; it starts pulling at once. */
export class PullConsumer implements Consumer {
  readonly done: Promise<void>;
  private readonly stopping = new AbortController();
  private readonly settler: Settler;
  private readonly settling = new Set<Promise<void>>();
  private running = 0;
  private roomWaiter: (() => void) | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly subscription: string,
    private readonly handler: ClientHandler,
    private readonly options: ResolvedConsumeOptions,
  ) {
    this.settler = new Settler(transport, subscription, options.onError);
    const { signal } = options;
    if (signal?.aborted === true) this.stopping.abort();
    else signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.done = this.run();
    // `done` is for those who want it; an unobserved rejection must not crash the process.
    this.done.catch(() => undefined);
  }

  stop(): Promise<void> {
    this.stopping.abort();
    this.roomWaiter?.();
    return this.done.then(
      () => undefined,
      () => undefined,
    );
  }

  private async run(): Promise<void> {
    const stop = this.stopping.signal;
    const { concurrency, leaseMs, waitMs } = this.options;
    let failures = 0;
    let fatal: BusbarError | undefined;
    while (!stop.aborted) {
      if (this.running >= concurrency) {
        await new Promise<void>((resolve) => (this.roomWaiter = resolve));
        this.roomWaiter = undefined;
        continue;
      }
      let messages: PulledMessage[];
      try {
        const body = await this.transport.request<{ messages: PulledMessage[] }>({
          method: 'POST',
          path: path`/v1/subscriptions/${this.subscription}/pull`,
          body: { max: concurrency - this.running, waitMs, leaseMs },
          // The long-poll answers after up to `waitMs`: the client's timeout starts after that.
          timeoutMs: this.transport.options.timeoutMs + waitMs,
          // Stopping closes the long-poll; the server then stops waiting and leases nothing for it.
          signal: stop,
          onRetry: this.options.onError,
        });
        if (!Array.isArray(body?.messages)) {
          throw new BusbarError('INVALID_RESPONSE', 'The pull response has no `messages` array', { status: 200 });
        }
        messages = body.messages;
        failures = 0;
      } catch (err) {
        if (stop.aborted) break;
        this.options.onError(err);
        if (isPermanent(err)) {
          fatal = err;
          break;
        }
        await sleep(backoffMs(this.transport.options.retry, ++failures), stop);
        continue;
      }
      // Launched even when stop() came during the pull: the leases are ours, and stop() waits for them.
      for (const message of messages) this.launch(message);
    }
    while (this.running > 0 || this.settling.size > 0) {
      await Promise.allSettled([...this.settling]);
      if (this.running > 0) await new Promise<void>((resolve) => (this.roomWaiter = resolve));
    }
    if (fatal !== undefined) throw fatal;
  }

  private launch(message: PulledMessage): void {
    this.running++;
    void this.attempt(message)
      .then((settlement) => {
        if (settlement === undefined) return;
        this.settling.add(settlement);
        void settlement.finally(() => this.settling.delete(settlement));
      })
      .catch((err: unknown) => this.options.onError(err))
      .finally(() => {
        // The slot frees when the handler returns; its settlement is in `settling` for stop() to wait on.
        this.running--;
        const wake = this.roomWaiter;
        this.roomWaiter = undefined;
        wake?.();
      });
  }

  /** Runs the handler under a lease that is extended while it runs, then hands the outcome over. */
  private async attempt(message: PulledMessage): Promise<Promise<void> | undefined> {
    const { leaseMs } = this.options;
    const { receipt, attempt } = message;
    const event: CloudEvent = message.event;
    const abort = new AbortController();
    let leaseEnd = Date.now() + leaseMs;
    let finished = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const extend = async (): Promise<void> => {
      try {
        const body = await this.transport.request<{ results: ReceiptResult[] }>({
          method: 'POST',
          path: path`/v1/subscriptions/${this.subscription}/extend`,
          body: { receipts: [receipt], leaseMs },
          onRetry: this.options.onError,
        });
        if (body?.results?.[0]?.status === 'ok') leaseEnd = Date.now() + leaseMs;
      } catch (err) {
        if (finished) return; // the outcome was sent meanwhile: a stale answer is expected
        this.options.onError(err);
        if (err instanceof BusbarError && err.code === 'STALE_RECEIPT') {
          // The lease is gone: another consumer may have the event. Tell the handler to stop.
          abort.abort(err);
          return;
        }
      }
      if (!finished) timer = setTimeout(() => void extend(), Math.floor(leaseMs / 3));
    };
    timer = setTimeout(() => void extend(), Math.floor(leaseMs / 3));

    const replayId = typeof event['replayid'] === 'string' ? event['replayid'] : null;
    let ok = false;
    let failure: unknown;
    try {
      const traceparent = typeof message.traceparent === 'string' ? message.traceparent : null;
      const context = {
        subscription: this.subscription,
        attempt,
        receipt,
        replayId,
        signal: abort.signal,
        traceparent,
      };
      await this.handler(event, context);
      ok = true;
    } catch (err) {
      failure = err;
    } finally {
      finished = true;
      clearTimeout(timer);
    }
    if (abort.signal.aborted) return undefined; // lease lost (reported): the outcome would be refused as stale
    return this.settler.settle(receipt, settlementOf(ok, failure), () => leaseEnd);
  }
}
