/**
 * Delivery policies: defaults, validation of user input, and the backoff schedule.
 */
import { BusError, describeValue } from '../errors.js';
import type { DeliveryPolicy, RetentionPolicy } from '../../storage/driver.js';

/**
 * The delivery policy a subscription gets for everything it does not set.
 * Eight attempts over about four minutes, then the dead-letter queue; no attempt may take longer than 30 s.
 */
export const DEFAULT_DELIVERY: DeliveryPolicy = Object.freeze({
  maxAttempts: 8,
  maxAgeMs: 24 * 60 * 60 * 1000,
  backoff: Object.freeze({ initialMs: 1_000, maxMs: 5 * 60 * 1000, multiplier: 2 }),
  timeoutMs: 30_000,
  concurrency: 10,
  ordered: false,
});

/** The retention a bus gets unless told otherwise: seven days of archive, no size limit. */
export const DEFAULT_RETENTION: RetentionPolicy = Object.freeze({ maxAgeMs: 7 * 24 * 60 * 60 * 1000, maxBytes: null });

/** A delivery policy as users write it: every field optional. */
export interface DeliveryPolicyInput {
  /** @default 8 */
  maxAttempts?: number;
  /** @default 86400000 (24 h); `null` for no limit */
  maxAgeMs?: number | null;
  /** @default { initialMs: 1000, maxMs: 300000, multiplier: 2 } */
  backoff?: { initialMs?: number; maxMs?: number; multiplier?: number };
  /** @default 30000 */
  timeoutMs?: number;
  /** @default 10 */
  concurrency?: number;
  /** @default false */
  ordered?: boolean;
}

function fail(field: string, what: string, got: unknown): never {
  throw new BusError('INVALID_ARGUMENT', `Expected \`${field}\` to be ${what}, got ${describeValue(got)}`, {
    details: { field },
  });
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(field, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

const DAY = 24 * 60 * 60 * 1000;

/** Validates a policy input against the current policy (or the defaults) and returns the merged policy. */
export function resolveDeliveryPolicy(
  input: unknown,
  base: DeliveryPolicy = DEFAULT_DELIVERY,
  prefix = 'delivery',
): DeliveryPolicy {
  if (input === undefined || input === null) return base;
  if (typeof input !== 'object' || Array.isArray(input)) fail(prefix, 'an object', input);
  const given = input as Record<string, unknown>;
  const known = new Set(['maxAttempts', 'maxAgeMs', 'backoff', 'timeoutMs', 'concurrency', 'ordered']);
  for (const key of Object.keys(given)) {
    if (!known.has(key)) fail(`${prefix}.${key}`, `one of ${[...known].join(', ')} (unknown option)`, key);
  }
  const pick = <T>(key: string, check: (v: unknown) => T, fallback: T): T =>
    given[key] === undefined ? fallback : check(given[key]);
  const backoffIn = given['backoff'];
  let backoff = base.backoff;
  if (backoffIn !== undefined) {
    if (typeof backoffIn !== 'object' || backoffIn === null || Array.isArray(backoffIn)) {
      fail(`${prefix}.backoff`, 'an object', backoffIn);
    }
    const b = backoffIn as Record<string, unknown>;
    for (const key of Object.keys(b)) {
      if (!['initialMs', 'maxMs', 'multiplier'].includes(key)) {
        fail(`${prefix}.backoff.${key}`, 'one of initialMs, maxMs, multiplier (unknown option)', key);
      }
    }
    const initialMs =
      b['initialMs'] === undefined ? backoff.initialMs : integer(`${prefix}.backoff.initialMs`, b['initialMs'], 0, DAY);
    const maxMs = b['maxMs'] === undefined ? backoff.maxMs : integer(`${prefix}.backoff.maxMs`, b['maxMs'], 0, 7 * DAY);
    const multiplier = b['multiplier'] === undefined ? backoff.multiplier : b['multiplier'];
    if (typeof multiplier !== 'number' || !Number.isFinite(multiplier) || multiplier < 1 || multiplier > 100) {
      fail(`${prefix}.backoff.multiplier`, 'a number from 1 to 100', multiplier);
    }
    if (maxMs < initialMs) fail(`${prefix}.backoff.maxMs`, `at least backoff.initialMs (${initialMs})`, maxMs);
    backoff = { initialMs, maxMs, multiplier };
  }
  const maxAgeMs =
    given['maxAgeMs'] === undefined
      ? base.maxAgeMs
      : given['maxAgeMs'] === null
        ? null
        : integer(`${prefix}.maxAgeMs`, given['maxAgeMs'], 1, 365 * DAY);
  return Object.freeze({
    maxAttempts: pick('maxAttempts', (v) => integer(`${prefix}.maxAttempts`, v, 1, 1000), base.maxAttempts),
    maxAgeMs,
    backoff: Object.freeze(backoff),
    timeoutMs: pick('timeoutMs', (v) => integer(`${prefix}.timeoutMs`, v, 1, 15 * 60 * 1000), base.timeoutMs),
    concurrency: pick('concurrency', (v) => integer(`${prefix}.concurrency`, v, 1, 1000), base.concurrency),
    ordered: pick(
      'ordered',
      (v) => {
        if (typeof v !== 'boolean') fail(`${prefix}.ordered`, 'a boolean', v);
        return v;
      },
      base.ordered,
    ),
  });
}

/** Validates a retention input (`{ maxAgeMs?, maxBytes? }`, `null` meaning no limit). */
export function resolveRetention(input: unknown, base: RetentionPolicy = DEFAULT_RETENTION): RetentionPolicy {
  if (input === undefined || input === null) return base;
  if (typeof input !== 'object' || Array.isArray(input)) fail('retention', 'an object', input);
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (key !== 'maxAgeMs' && key !== 'maxBytes')
      fail(`retention.${key}`, 'one of maxAgeMs, maxBytes (unknown option)', key);
  }
  const limit = (key: 'maxAgeMs' | 'maxBytes'): number | null => {
    const v = given[key];
    if (v === undefined) return base[key];
    if (v === null) return null;
    return integer(`retention.${key}`, v, 1, Number.MAX_SAFE_INTEGER);
  };
  return Object.freeze({ maxAgeMs: limit('maxAgeMs'), maxBytes: limit('maxBytes') });
}

/**
 * The wait before retry number `retry` (1 for the retry after the first failed attempt): exponential
 * with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"), so that many failing
 * deliveries do not retry in lockstep.
 */
export function backoffDelay(policy: DeliveryPolicy, retry: number, random: () => number = Math.random): number {
  const { initialMs, maxMs, multiplier } = policy.backoff;
  const cap = Math.min(maxMs, initialMs * Math.pow(multiplier, Math.max(0, retry - 1)));
  return Math.floor(random() * cap);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Checks a bus or subscription name: 1–128 characters, letters, digits, `.`, `_`, `-`, not starting with a symbol. */
export function checkName(kind: 'bus' | 'subscription', name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    fail(kind, '1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit', name);
  }
  return name;
}
