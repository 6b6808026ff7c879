import { describe, expect, it } from 'vitest';
import { BusError } from '../core/errors.js';
import {
  parseDuration,
  parseIds,
  parseInteger,
  parseJson,
  parseJsonObject,
  parseList,
  parsePositive,
  parseTime,
} from './input.js';

const NOW = Date.parse('2026-11-27T10:00:00Z');

function failure(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (err) {
    if (err instanceof BusError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a BusError');
}

describe('parseJson', () => {
  it('parses JSON and names the option when it is not JSON', () => {
    expect(parseJson('--data', '{"total": 30}')).toEqual({ total: 30 });
    expect(parseJson('--data', '3')).toBe(3);
    const bad = failure(() => parseJson('--data', '{"total":'));
    expect(bad.code).toBe('INVALID_JSON');
    expect(bad.message).toMatch(/^Expected --data to be JSON, got invalid JSON: /);
  });

  it('requires an object where one is needed', () => {
    expect(parseJsonObject('--pattern', '{"a":[1]}')).toEqual({ a: [1] });
    expect(failure(() => parseJsonObject('--pattern', '[1]'))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'Expected --pattern to be a JSON object, got an array',
    });
  });
});

describe('parseDuration', () => {
  it('reads a number with a unit, or plain ms', () => {
    expect(parseDuration('--max-age', '500ms')).toBe(500);
    expect(parseDuration('--max-age', '30s')).toBe(30_000);
    expect(parseDuration('--max-age', '1.5h')).toBe(5_400_000);
    expect(parseDuration('--max-age', '7d')).toBe(604_800_000);
    expect(parseDuration('--max-age', '1w')).toBe(604_800_000);
    expect(parseDuration('--max-age', '250')).toBe(250);
  });

  it('rejects anything else, naming the option', () => {
    expect(failure(() => parseDuration('--timeout', '5 minutes')).message).toBe(
      'Expected --timeout to be a duration such as 30s, 5m, 1h or 7d (or ms), got "5 minutes" (string)',
    );
    expect(() => parseDuration('--timeout', '-5s')).toThrow(BusError);
  });
});

describe('parseTime', () => {
  it('reads ISO 8601, now, and times ago', () => {
    expect(parseTime('--from', '2026-11-27T09:00:00Z', NOW)).toBe(Date.parse('2026-11-27T09:00:00Z'));
    expect(parseTime('--from', '2026-11-27', NOW)).toBe(Date.parse('2026-11-27T00:00:00Z'));
    expect(parseTime('--from', '2026-11-27T11:00:00+02:00', NOW)).toBe(Date.parse('2026-11-27T09:00:00Z'));
    expect(parseTime('--from', 'now', NOW)).toBe(NOW);
    expect(parseTime('--from', '5m', NOW)).toBe(NOW - 300_000);
    expect(parseTime('--from', '2d', NOW)).toBe(NOW - 2 * 86_400_000);
  });

  it('rejects what is neither', () => {
    for (const text of ['yesterday', '2026-13-45', '1700000000000', '']) {
      expect(failure(() => parseTime('--from', text, NOW)).message).toMatch(/^Expected --from to be an ISO 8601 time/);
    }
  });
});

describe('numbers and lists', () => {
  it('checks integers against their range', () => {
    expect(parseInteger('--limit', '50', 1, 1000)).toBe(50);
    expect(failure(() => parseInteger('--limit', '0', 1, 1000)).message).toBe(
      'Expected --limit to be an integer from 1 to 1000, got "0" (string)',
    );
    expect(() => parseInteger('--limit', '1.5', 1, 1000)).toThrow(BusError);
    expect(() => parseInteger('--limit', 'ten', 1, 1000)).toThrow(BusError);
  });

  it('reads positive numbers', () => {
    expect(parsePositive('--rate', '2.5')).toBe(2.5);
    expect(() => parsePositive('--rate', '0')).toThrow(BusError);
    expect(() => parsePositive('--rate', '-1')).toThrow(BusError);
  });

  it('splits lists, dropping blanks and repeats', () => {
    expect(parseList('--subscriptions', 'a, b,,a')).toEqual(['a', 'b']);
    expect(() => parseList('--subscriptions', ' , ')).toThrow(BusError);
    expect(parseIds('--ids', '3,1, 3')).toEqual([3, 1]);
    expect(failure(() => parseIds('--ids', '1,x')).message).toBe(
      'Expected --ids to be a comma-separated list of ids such as 1,2,3, got "1,x" (string)',
    );
    expect(() => parseIds('--ids', '0')).toThrow(BusError);
  });
});
