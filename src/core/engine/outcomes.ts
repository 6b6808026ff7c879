/**
 * What a handler can tell the engine besides success (returning) and a retriable failure (throwing
 * anything else). The same classes serve in-process handlers and SDK consumers.
 */

/**
 * Throw to dead-letter the delivery at once, without further attempts (the event can never succeed:
 * bad data, a deleted customer...).
 *
 * @example
 * ```ts
 * if (!order.customerId) throw new NonRetriableError('order has no customer');
 * ```
 */
export class NonRetriableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetriableError';
  }
}

/**
 * Throw to retry after a delay of your choosing instead of the backoff schedule (a rate limit said
 * "come back in 30 s"). It still counts as an attempt.
 *
 * @example
 * ```ts
 * throw new RetryAfterError(30_000, 'payment provider rate limit');
 * ```
 */
export class RetryAfterError extends Error {
  /** Milliseconds to wait before the next attempt. */
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number, message = `retry after ${retryAfterMs} ms`, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryAfterError';
    if (!Number.isFinite(retryAfterMs) || retryAfterMs < 0) {
      throw new TypeError(`Expected \`retryAfterMs\` to be a non-negative number, got ${String(retryAfterMs)}`);
    }
    this.retryAfterMs = retryAfterMs;
  }
}
