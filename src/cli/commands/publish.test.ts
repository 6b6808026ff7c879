import { describe, expect, it } from 'vitest';
import { BusError } from '../../core/errors.js';
import { BATCH_BYTES, BATCH_EVENTS, eventFromLine, takeBatch, type InputLine } from './publish.js';

const lines = (count: number, size = 10): InputLine[] =>
  Array.from({ length: count }, (_, i) => ({ line: i + 1, text: 'x'.repeat(size) }));

describe('takeBatch', () => {
  it('takes up to 100 lines off the front', () => {
    const pending = lines(250);
    expect(takeBatch(pending)).toHaveLength(BATCH_EVENTS);
    expect(pending[0]!.line).toBe(101);
    expect(takeBatch(pending)).toHaveLength(100);
    expect(takeBatch(pending).map((l) => l.line)).toEqual(Array.from({ length: 50 }, (_, i) => 201 + i));
    expect(pending).toEqual([]);
  });

  it('stops before the byte limit, but always takes one line', () => {
    const pending = lines(5, 200 * 1024);
    expect(takeBatch(pending)).toHaveLength(Math.floor(BATCH_BYTES / (200 * 1024 + 1)));
    const huge = lines(2, BATCH_BYTES * 2);
    expect(takeBatch(huge)).toHaveLength(1);
    expect(huge).toHaveLength(1);
  });
});

describe('eventFromLine', () => {
  it('fills in specversion and the default source, keeping what the line gives', () => {
    expect(eventFromLine({ line: 1, text: '{"type":"t","data":{"a":1}}' }, '/cli')).toEqual({
      specversion: '1.0',
      source: '/cli',
      type: 't',
      data: { a: 1 },
    });
    expect(eventFromLine({ line: 1, text: '{"type":"t","source":"/shop"}' }, '/cli')['source']).toBe('/shop');
  });

  it('names the line that is not a JSON object', () => {
    expect(() => eventFromLine({ line: 7, text: '{' }, '/cli')).toThrow(
      /^Expected line 7 of stdin to be JSON, got invalid JSON: /,
    );
    expect(() => eventFromLine({ line: 8, text: '[1]' }, '/cli')).toThrow(
      new BusError(
        'INVALID_EVENT',
        'Expected line 8 of stdin to be a JSON object (a CloudEvent, or type, source and data), got an array',
      ),
    );
  });
});
