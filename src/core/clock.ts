/**
 * Time, injectable. The engine reads the time and sets timers only through a {@link Clock}, so retries,
 * backoff, timeouts and leases are tested by advancing a {@link ManualClock} instead of sleeping.
 */

/** An opaque timer handle. */
export type TimerHandle = { readonly __timer: true } | object;

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds (at the earliest). */
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** setTimeout's largest delay; longer ones fire at once in Node.js, so they are re-armed in steps. */
const MAX_TIMEOUT = 2 ** 31 - 1;

interface SystemTimer {
  current: ReturnType<typeof setTimeout> | undefined;
}

/** The real clock. Timers do not keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer: SystemTimer = { current: undefined };
    const due = Date.now() + Math.max(0, ms);
    const arm = (): void => {
      const left = due - Date.now();
      timer.current = setTimeout(left > MAX_TIMEOUT ? arm : fn, Math.min(Math.max(0, left), MAX_TIMEOUT));
      (timer.current as { unref?: () => void }).unref?.();
    };
    arm();
    return timer;
  },
  clearTimer(handle) {
    clearTimeout((handle as SystemTimer).current);
  },
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to. `advance(ms)` fires due timers in time order, letting promise
 * callbacks run between them, so code awaiting storage calls progresses as it would in real time.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
 * const bus = await Busbar.open({ storage: 'memory', clock });
 * await clock.advance(30_000); // retries due in the next 30 s run now
 * ```
 */
export class ManualClock implements Clock {
  private current: number;
  private timers: ManualTimer[] = [];
  private seq = 0;
  private readonly settle: () => Promise<void>;

  /**
   * @param options.ioWaitMs real milliseconds `advance` also waits at each step, for storage that does
   *   real I/O (PostgreSQL): its replies arrive in real time, not between two turns of the event loop.
   *   @default 0
   */
  constructor(start = 0, options: { readonly ioWaitMs?: number } = {}) {
    this.current = start;
    const wait = options.ioWaitMs ?? 0;
    this.settle =
      wait > 0
        ? async () => {
            await settle();
            await new Promise<void>((resolve) => setTimeout(resolve, wait));
            await settle();
          }
        : settle;
  }

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    for (;;) {
      await this.settle();
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.current = end;
    await this.settle();
  }
}

/** Lets pending promise callbacks (and the I/O they started, for in-process drivers) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
