import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from './clock.js';

describe('systemClock', () => {
  it('does not fire delays beyond setTimeout’s 2^31-1 ms limit at once', async () => {
    let fired = false;
    const handle = systemClock.setTimer(() => (fired = true), 2 ** 31 + 5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fired).toBe(false);
    systemClock.clearTimer(handle);
  });

  it('fires ordinary timers and clears them', async () => {
    const fired: string[] = [];
    systemClock.setTimer(() => fired.push('a'), 5);
    const b = systemClock.setTimer(() => fired.push('b'), 5);
    systemClock.clearTimer(b);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(fired).toEqual(['a']);
  });
});

describe('ManualClock', () => {
  it('fires due timers in time order as it advances, and only those', async () => {
    const clock = new ManualClock(1_000);
    const fired: Array<[string, number]> = [];
    clock.setTimer(() => fired.push(['late', clock.now()]), 300);
    clock.setTimer(() => fired.push(['early', clock.now()]), 100);
    const cancelled = clock.setTimer(() => fired.push(['never', clock.now()]), 200);
    clock.clearTimer(cancelled);
    await clock.advance(250);
    expect(fired).toEqual([['early', 1_100]]);
    expect(clock.now()).toBe(1_250);
    await clock.advance(100);
    expect(fired).toEqual([
      ['early', 1_100],
      ['late', 1_300],
    ]);
    expect(clock.pending).toBe(0);
  });
});
