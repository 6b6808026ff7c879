/**
 * `WebhookRunner`: runs one in-process consumer with a {@link webhookHandler} for every subscription
 * whose target is a webhook, and keeps that set in step with subscription changes (through
 * `Engine.onSubscriptionChange`).
 */
import type { Busbar } from '../../busbar.js';
import type { Consumer } from '../../core/engine/engine.js';
import { webhookTargetOf } from '../../core/engine/targets.js';
import { isBusError } from '../../core/errors.js';
import type { SubscriptionRecord } from '../../storage/driver.js';
import { webhookHandler, type WebhookHandlerOptions } from './handler.js';

/** Options of {@link WebhookRunner}. */
export interface WebhookRunnerOptions {
  /** Passed to every handler (after the subscription's timeout). */
  readonly handler?: Omit<WebhookHandlerOptions, 'timeoutMs'>;
  /** Errors starting or stopping a consumer. @default console.error */
  readonly onError?: (err: unknown) => void;
}

interface Running {
  readonly consumer: Consumer;
  /** The target and policy the consumer was built from; a change restarts it. */
  readonly key: string;
}

/** What a consumer depends on: a change of target or policy restarts it (pause does not). */
function keyOf(sub: SubscriptionRecord): string {
  return JSON.stringify([sub.target, sub.delivery]);
}

/**
 * Delivers webhook subscriptions in this process.
 *
 * @example
 * ```ts
 * const runner = new WebhookRunner(bus);
 * runner.start();
 * // ... on shutdown, before bus.close():
 * await runner.stop();
 * ```
 */
export class WebhookRunner {
  private readonly running = new Map<string, Running>();
  private queue: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly bus: Busbar,
    private readonly options: WebhookRunnerOptions = {},
  ) {}

  /** Starts consumers for the current webhook subscriptions and follows later changes. */
  start(): void {
    if (this.unsubscribe !== undefined || this.stopped) return;
    this.unsubscribe = this.bus.onSubscriptionChange(({ subscription }) => this.schedule(subscription.name));
    for (const sub of this.bus.listSubscriptions()) this.schedule(sub.name);
  }

  /** Resolves once every change seen so far has been applied (for tests and orderly shutdown). */
  idle(): Promise<void> {
    return this.queue;
  }

  /** The subscriptions with a running webhook consumer. */
  names(): string[] {
    return [...this.running.keys()].sort();
  }

  /** Stops following changes and stops every consumer (waiting for requests in flight). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await this.queue;
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.consumer.stop()));
  }

  /** Changes are applied one at a time, in order, each on the subscription as it is then. */
  private schedule(name: string): void {
    this.queue = this.queue.then(() => this.sync(name)).catch((err: unknown) => this.report(err));
  }

  private async sync(name: string): Promise<void> {
    if (this.stopped) return;
    const sub = this.bus.listSubscriptions().find((s) => s.name === name);
    const target = sub === undefined ? null : webhookTargetOf(sub.target);
    const want = sub !== undefined && target !== null ? keyOf(sub) : undefined;
    const current = this.running.get(name);
    if (current !== undefined && current.key === want) return;
    if (current !== undefined) {
      this.running.delete(name);
      await current.consumer.stop();
    }
    if (sub === undefined || target === null || want === undefined) return;
    try {
      const handler = webhookHandler(target, { ...this.options.handler, timeoutMs: sub.delivery.timeoutMs });
      const consumer = this.bus.consume(
        name,
        handler,
        target.concurrency === undefined ? {} : { concurrency: target.concurrency },
      );
      this.running.set(name, { consumer, key: want });
    } catch (err) {
      // Closed underneath us, or deleted between the change and now: nothing to run.
      if (isBusError(err, 'CLOSED') || isBusError(err, 'NOT_FOUND')) return;
      throw err;
    }
  }

  private report(err: unknown): void {
    (this.options.onError ?? ((e: unknown) => console.error('busbar: webhook runner:', e)))(err);
  }
}
