/**
 * A token bucket for a webhook target's `ratePerSec`: a burst of up to one second's worth of requests
 * (at least one), then one request every 1000 / ratePerSec ms. Callers reserve a token and wait for it,
 * so concurrent attempts queue in order instead of all retrying at once.
 */

/** A token bucket over an injectable clock. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;

  /**
   * @param ratePerSec tokens added per second (a positive number)
   * @param now the clock, in ms. @default Date.now
   */
  constructor(
    private readonly ratePerSec: number,
    private readonly now: () => number = Date.now,
  ) {
    this.capacity = Math.max(1, ratePerSec);
    this.tokens = this.capacity;
    this.last = now();
  }

  /**
   * Reserves one token; returns how long to wait (ms) before using it, 0 when one is available now.
   * @example `const wait = bucket.reserve(); if (wait > 0) await sleep(wait);`
   */
  reserve(): number {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.ratePerSec) / 1000);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerSec);
  }

  /** Gives back a reserved token that was not used (the attempt was aborted while waiting). */
  refund(): void {
    this.tokens = Math.min(this.capacity, this.tokens + 1);
  }
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
