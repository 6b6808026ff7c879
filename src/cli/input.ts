/**
 * Command-line values turned into what the API takes: JSON options, times (ISO 8601 or relative, like
 * `5m`), durations, counts and lists. Every failure is a `BusError` naming the option, what was expected
 * and what came, so `busbar` prints one line and exits 2 (invalid input).
 */
import { BusError, describeValue } from '../core/errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

function fail(option: string, what: string, got: unknown): never {
  throw new BusError('INVALID_ARGUMENT', `Expected ${option} to be ${what}, got ${describeValue(got)}`);
}

/**
 * Parses `text` as JSON for `option`.
 *
 * @throws {BusError} `INVALID_JSON` naming the option and the parser's complaint
 * @example
 * ```ts
 * parseJson('--data', '{"total": 30}'); // { total: 30 }
 * ```
 */
export function parseJson(option: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BusError('INVALID_JSON', `Expected ${option} to be JSON, got invalid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Like {@link parseJson}, but the value must be a JSON object (a pattern, a request body). */
export function parseJsonObject(option: string, text: string): Record<string, unknown> {
  const value = parseJson(option, text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(option, 'a JSON object', value);
  return value as Record<string, unknown>;
}

/**
 * A duration in ms: a number with a unit (`500ms`, `30s`, `5m`, `1h`, `2d`, `1w`) or plain ms.
 *
 * @example
 * ```ts
 * parseDuration('--max-age', '1h'); // 3600000
 * ```
 */
export function parseDuration(option: string, text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const m = DURATION.exec(text);
  if (m === null) fail(option, 'a duration such as 30s, 5m, 1h or 7d (or ms)', text);
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

/**
 * A point in time in ms since the epoch: an ISO 8601 date or date-time (`2026-11-27`,
 * `2026-11-27T10:00:00Z`), `now`, or a duration before `now` (`5m`, `1h`, `2d`).
 *
 * @example
 * ```ts
 * parseTime('--from', '1h', Date.parse('2026-11-27T10:00:00Z')); // Date.parse('2026-11-27T09:00:00Z')
 * ```
 */
export function parseTime(option: string, text: string, now: number): number {
  if (text === 'now') return now;
  if (DURATION.test(text)) return now - parseDuration(option, text);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) {
    fail(option, 'an ISO 8601 time (2026-11-27T10:00:00Z), "now" or a time ago such as 5m, 1h or 2d', text);
  }
  return ms;
}

/**
 * An integer from `min` to `max`.
 *
 * @example
 * ```ts
 * parseInteger('--max-attempts', '5', 1, 1000); // 5
 * ```
 */
export function parseInteger(option: string, text: string, min: number, max: number): number {
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) fail(option, `an integer from ${min} to ${max}`, text);
  return n;
}

/** A positive number (rates). */
export function parsePositive(option: string, text: string): number {
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n > 0)) fail(option, 'a positive number', text);
  return n;
}

/**
 * A comma-separated list of names, without blanks or repeats.
 *
 * @example
 * ```ts
 * parseList('--subscriptions', 'a, b,a'); // ['a', 'b']
 * ```
 */
export function parseList(option: string, text: string): string[] {
  const items = [...new Set(text.split(',').map((s) => s.trim()))].filter((s) => s !== '');
  if (items.length === 0) fail(option, 'a comma-separated list of names', text);
  return items;
}

/** A comma-separated list of dead-letter ids (positive integers). */
export function parseIds(option: string, text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^[1-9]\d{0,14}$/.test(p))) fail(option, 'a comma-separated list of ids such as 1,2,3', text);
  return [...new Set(parts.map(Number))];
}
