/**
 * The attempt every driver records when a lease ran out before its worker completed the attempt (the
 * worker crashed or stalled); the delivery is then claimable again.
 */
import type { AttemptRecord } from './driver.js';

/** The error message of a `lease_expired` attempt. */
export const LEASE_EXPIRED_MESSAGE = 'lease expired before the attempt completed';

/** The record of attempt number `attempt`, leased at `leasedAt` and found expired at `now`. */
export function leaseExpiredAttempt(attempt: number, leasedAt: number, now: number): AttemptRecord {
  return {
    attempt,
    startedAt: leasedAt,
    durationMs: now - leasedAt,
    outcome: 'lease_expired',
    error: { message: LEASE_EXPIRED_MESSAGE, code: null, name: null },
    httpStatus: null,
    responseBody: null,
  };
}
