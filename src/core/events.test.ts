import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BusError } from './errors.js';
import { EVENT_LIMITS, validateEvent, type ValidateEventOptions } from './events.js';
import { isBase64, isRfc3339, isUri, isUriReference } from './formats.js';
import { utf8ByteLength } from './json-value.js';
import { UUIDV7_PATTERN, createUuidV7Generator } from './uuid.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0, 250); // 2024-05-01T12:00:00.250Z
const clock = (): number => NOW;
const base = { specversion: '1.0', id: 'e-1', source: '/orders', type: 'order.placed' } as const;

function validate(input: unknown, options: ValidateEventOptions = {}) {
  return validateEvent(input, { now: clock, ...options });
}

/** Runs `fn`, expects a BusError, and returns it for assertions on code and message. */
function errorOf(fn: () => unknown): BusError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BusError) return err;
    throw err;
  }
  throw new Error('expected a BusError, nothing was thrown');
}

function messageOf(input: unknown, options?: ValidateEventOptions): string {
  const err = errorOf(() => validate(input, options));
  expect(err.code).toBe('INVALID_EVENT');
  return err.message;
}

describe('validateEvent: valid events', () => {
  it('returns a copy with every attribute, in a fixed order', () => {
    const input = {
      data: { total: 30 },
      tenant: 'acme',
      ...base,
      subject: 'order-7',
      time: '2024-05-01T10:00:00+02:00',
      datacontenttype: 'application/json',
      dataschema: 'https://example.com/schemas/order.json',
    };
    const event = validate(input);
    expect(event).toEqual(input);
    expect(Object.keys(event)).toEqual([
      'specversion',
      'id',
      'source',
      'type',
      'subject',
      'time',
      'datacontenttype',
      'dataschema',
      'tenant',
      'data',
    ]);
    expect(event).not.toBe(input);
    expect(event.data).not.toBe(input.data);
    input.data.total = 99;
    expect(event.data).toEqual({ total: 30 });
  });

  it('assigns time (RFC 3339 UTC, from the clock) when missing or null', () => {
    expect(validate(base).time).toBe('2024-05-01T12:00:00.250Z');
    expect(validate({ ...base, time: null }).time).toBe('2024-05-01T12:00:00.250Z');
    expect(validate({ ...base, time: '1999-12-31T23:59:60Z' }).time).toBe('1999-12-31T23:59:60Z');
  });

  it('assigns a UUIDv7 id carrying the clock time when id is missing or null', () => {
    const { id } = validate({ specversion: '1.0', source: '/orders', type: 'order.placed' });
    expect(id).toMatch(UUIDV7_PATTERN);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(NOW);
    expect(validate({ ...base, id: null }).id).toMatch(UUIDV7_PATTERN);
  });

  it('gives ids that sort in creation order for one clock, also within one millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => validate({ ...base, id: undefined }).id);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps the wall clock generator when no clock is given', () => {
    const before = Date.now();
    const { id } = validateEvent({ specversion: '1.0', source: 'x', type: 't' });
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now());
  });

  it('drops optional attributes and extensions that are null or undefined', () => {
    const event = validate({ ...base, subject: null, datacontenttype: undefined, tenant: null, dataschema: null });
    expect(Object.keys(event)).toEqual(['specversion', 'id', 'source', 'type', 'time']);
  });

  it('accepts extension values that are strings, 32-bit integers or booleans', () => {
    const event = validate({
      ...base,
      a1: 'x',
      count: -2147483648,
      max: 2147483647,
      flag: false,
      abcdefghij0123456789: '',
    });
    expect(event).toMatchObject({
      a1: 'x',
      count: -2147483648,
      max: 2147483647,
      flag: false,
      abcdefghij0123456789: '',
    });
  });

  it('keeps JSON data of every kind, including null', () => {
    for (const data of [null, 0, -1.5, 'text', true, [], {}, [1, 'a', null, { b: [false] }]]) {
      expect(validate({ ...base, data }).data).toEqual(data);
    }
    expect('data' in validate(base)).toBe(false);
  });

  it('copies data as JSON would: undefined members dropped, undefined array items become null', () => {
    expect(validate({ ...base, data: { a: undefined, b: [undefined, 1] } }).data).toEqual({ b: [null, 1] });
  });

  it('accepts data_base64 alone', () => {
    expect(validate({ ...base, data_base64: 'aGVsbG8=' }).data_base64).toBe('aGVsbG8=');
    expect(validate({ ...base, data_base64: '' }).data_base64).toBe('');
  });

  it('accepts source URI-references of every shape', () => {
    for (const source of ['/orders', 'aws.ec2', 'urn:uuid:6e8bc430', 'https://example.com/a?b=c#d', 'a%20b', '1']) {
      expect(validate({ ...base, source }).source).toBe(source);
    }
  });
});

describe('validateEvent: invalid events', () => {
  it.each([
    [42, 'Expected the event to be an object, got 42 (number)'],
    [null, 'Expected the event to be an object, got null'],
    [[base], 'Expected the event to be an object, got an array'],
    [new Date(0), 'Expected the event to be an object, got a Date'],
  ])('rejects a non-object event: %o', (input, message) => {
    expect(messageOf(input)).toBe(message);
  });

  it('requires specversion to be exactly "1.0"', () => {
    const { specversion: _omit, ...rest } = base;
    expect(messageOf(rest)).toBe('Expected `specversion` to be "1.0", got undefined');
    expect(messageOf({ ...base, specversion: '0.3' })).toBe('Expected `specversion` to be "1.0", got "0.3" (string)');
    expect(messageOf({ ...base, specversion: 1 })).toBe('Expected `specversion` to be "1.0", got 1 (number)');
  });

  it('requires type, source and a given id to be non-empty strings', () => {
    expect(messageOf({ ...base, type: 42 })).toBe('Expected `type` to be a non-empty string, got 42 (number)');
    expect(messageOf({ ...base, type: '' })).toBe('Expected `type` to be a non-empty string, got "" (string)');
    expect(messageOf({ ...base, type: undefined })).toBe('Expected `type` to be a non-empty string, got undefined');
    expect(messageOf({ ...base, source: null })).toBe('Expected `source` to be a non-empty string, got null');
    expect(messageOf({ ...base, id: '' })).toBe('Expected `id` to be a non-empty string, got "" (string)');
    expect(messageOf({ ...base, id: 7 })).toBe('Expected `id` to be a non-empty string, got 7 (number)');
  });

  it('rejects what a CloudEvents String must not hold: control characters, lone surrogates, noncharacters', () => {
    expect(messageOf({ ...base, id: 'a\u0000b' })).toBe(
      'Expected `id` to be a CloudEvents String, without control characters, unpaired surrogates or ' +
        'noncharacters; got U+0000 at index 1 of "a\\u0000b" (string)',
    );
    expect(messageOf({ ...base, type: 'order\nplaced' })).toContain('got U+000A at index 5');
    expect(messageOf({ ...base, subject: 'x\u0085' })).toContain('got U+0085 at index 1');
    expect(messageOf({ ...base, id: 'half \ud83d' })).toContain('got U+D83D at index 5');
    expect(messageOf({ ...base, id: '\ude00 tail' })).toContain('got U+DE00 at index 0');
    expect(messageOf({ ...base, datacontenttype: 'text/plain\ufffe' })).toContain('got U+FFFE at index 10');
    expect(messageOf({ ...base, traceparent: 'a\u007f' })).toBe(
      'Expected extension attribute `traceparent` to be a CloudEvents String, without control characters, ' +
        'unpaired surrogates or noncharacters; got U+007F at index 1 of "a\u007f" (string)',
    );
    // Pairs, and every other character, are fine.
    expect(validateEvent({ ...base, id: 'emoji 😀 ünïcödé \u00a0 \ufeff', type: 'tab-free' }).id).toBe(
      'emoji 😀 ünïcödé \u00a0 \ufeff',
    );
  });

  it('requires source to be a URI-reference', () => {
    expect(messageOf({ ...base, source: 'order service' })).toBe(
      'Expected `source` to be a URI-reference (RFC 3986 §4.1), got "order service" (string)',
    );
    for (const source of ['1a:b', ':x', 'a%zz', 'x#y#z', 'café'])
      expect(() => validate({ ...base, source })).toThrow(BusError);
  });

  it('requires subject and datacontenttype, when present, to be non-empty strings', () => {
    expect(messageOf({ ...base, subject: '' })).toBe('Expected `subject` to be a non-empty string, got "" (string)');
    expect(messageOf({ ...base, datacontenttype: {} })).toBe(
      'Expected `datacontenttype` to be a non-empty string, got an object',
    );
  });

  it('requires time, when present, to be an RFC 3339 timestamp', () => {
    expect(messageOf({ ...base, time: 'yesterday' })).toBe(
      'Expected `time` to be an RFC 3339 timestamp such as "2024-05-01T12:00:00Z", got "yesterday" (string)',
    );
    for (const time of [
      '2024-05-01',
      '2024-05-01T12:00:00',
      '2023-02-29T00:00:00Z',
      '2024-13-01T00:00:00Z',
      1714564800000,
    ]) {
      expect(() => validate({ ...base, time })).toThrow(/^Expected `time` to be an RFC 3339 timestamp/);
    }
  });

  it('requires dataschema, when present, to be an absolute URI', () => {
    expect(messageOf({ ...base, dataschema: '/schemas/order.json' })).toBe(
      'Expected `dataschema` to be an absolute URI (RFC 3986 §3), got "/schemas/order.json" (string)',
    );
    expect(messageOf({ ...base, dataschema: 3 })).toBe(
      'Expected `dataschema` to be an absolute URI (RFC 3986 §3), got 3 (number)',
    );
  });

  it('names extension attributes after the CloudEvents rules', () => {
    const rule = 'Expected extension attribute names to be 1 to 20 lower-case letters (a-z) or digits (0-9), got';
    expect(messageOf({ ...base, Tenant: 'x' })).toBe(`${rule} "Tenant"`);
    expect(messageOf({ ...base, tenant_id: 'x' })).toBe(`${rule} "tenant_id"`);
    expect(messageOf({ ...base, abcdefghij0123456789x: 'x' })).toBe(`${rule} "abcdefghij0123456789x"`);
    expect(messageOf({ ...base, '': 'x' })).toBe(`${rule} ""`);
  });

  it('rejects extension values that are not strings, 32-bit integers or booleans', () => {
    const rule = 'to be a string, an integer from -2147483648 to 2147483647, or a boolean, got';
    expect(messageOf({ ...base, tenant: 1.5 })).toBe(`Expected extension attribute \`tenant\` ${rule} 1.5 (number)`);
    expect(messageOf({ ...base, tenant: 2147483648 })).toBe(
      `Expected extension attribute \`tenant\` ${rule} 2147483648 (number)`,
    );
    expect(messageOf({ ...base, tenant: { id: 1 } })).toBe(`Expected extension attribute \`tenant\` ${rule} an object`);
    expect(messageOf({ ...base, tenant: [] })).toBe(`Expected extension attribute \`tenant\` ${rule} an array`);
  });

  it('rejects data together with data_base64, and bad base64', () => {
    expect(messageOf({ ...base, data: {}, data_base64: 'aGk=' })).toBe(
      'Expected at most one of `data` and `data_base64`, got both',
    );
    expect(messageOf({ ...base, data_base64: 'aGk' })).toBe(
      'Expected `data_base64` to be padded base64 text (RFC 4648 §4), got "aGk" (string)',
    );
  });

  it('rejects data that JSON cannot hold, naming the path', () => {
    expect(messageOf({ ...base, data: { a: [1, Number.NaN] } })).toBe(
      'Expected `data.a[1]` to be a JSON value, got NaN (number)',
    );
    expect(messageOf({ ...base, data: { 'x y': () => 1 } })).toBe(
      'Expected `data["x y"]` to be a JSON value, got a function',
    );
    expect(messageOf({ ...base, data: { n: 1n } })).toBe('Expected `data.n` to be a JSON value, got 1 (bigint)');
    expect(messageOf({ ...base, data: { when: new Date(0) } })).toBe(
      'Expected `data.when` to be a JSON value, got a Date',
    );
    expect(messageOf({ ...base, data: new Map() })).toBe('Expected `data` to be a JSON value, got a Map');
  });

  it('puts the field in the error details', () => {
    expect(errorOf(() => validate({ ...base, type: 1 })).details).toEqual({ field: 'type' });
    expect(errorOf(() => validate({ ...base, data: { a: [Infinity] } })).details).toEqual({ field: 'data.a[0]' });
  });

  it('rejects bad options with INVALID_ARGUMENT', () => {
    const err = errorOf(() => validate(base, { maxBytes: 0 }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toBe('Expected `maxBytes` to be a positive integer, got 0 (number)');
    expect(errorOf(() => validate(base, { maxDepth: 1.5 })).message).toBe(
      'Expected `maxDepth` to be a positive integer, got 1.5 (number)',
    );
  });
});

describe('validateEvent: limits', () => {
  const nest = (levels: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { a: value };
    return value;
  };

  it(`allows ${EVENT_LIMITS.maxDepth} levels of nesting in data by default and rejects one more`, () => {
    expect(validate({ ...base, data: nest(32) }).data).toEqual(nest(32));
    expect(messageOf({ ...base, data: nest(33) })).toMatch(
      /^Expected `data` to nest at most 32 levels deep, got deeper nesting at `data(\[0\]\.a){16}`$/,
    );
  });

  it('honours maxDepth', () => {
    expect(validate({ ...base, data: { a: {} } }, { maxDepth: 2 }).data).toEqual({ a: {} });
    expect(messageOf({ ...base, data: { a: { b: [] } } }, { maxDepth: 2 })).toBe(
      'Expected `data` to nest at most 2 levels deep, got deeper nesting at `data.a.b`',
    );
  });

  it('stops on cyclic data at the depth limit instead of recursing forever', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(messageOf({ ...base, data: cyclic })).toMatch(/^Expected `data` to nest at most 32 levels deep/);
  });

  it('measures size as UTF-8 JSON of the normalised event and allows exactly maxBytes', () => {
    const event = validate({ ...base, time: '2024-05-01T12:00:00Z', data: 'é' });
    const size = Buffer.byteLength(JSON.stringify(event));
    expect(validate(event, { maxBytes: size })).toEqual(event);
    const err = errorOf(() => validate(event, { maxBytes: size - 1 }));
    expect(err.code).toBe('EVENT_TOO_LARGE');
    expect(err.status).toBe(413);
    expect(err.message).toBe(`Expected the event to be at most ${size - 1} bytes as UTF-8 JSON, got ${size} bytes`);
  });

  it('defaults maxBytes to 256 KiB', () => {
    const overhead = Buffer.byteLength(JSON.stringify(validate({ ...base, data: '' })));
    expect(validate({ ...base, data: 'x'.repeat(262_144 - overhead) }).data).toHaveLength(262_144 - overhead);
    expect(errorOf(() => validate({ ...base, data: 'x'.repeat(262_145 - overhead) })).code).toBe('EVENT_TOO_LARGE');
  });

  it('counts UTF-8 bytes exactly as Buffer.byteLength does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(utf8ByteLength(text)).toBe(Buffer.byteLength(text, 'utf8'));
      }),
    );
    expect(utf8ByteLength('\ud800')).toBe(3);
  });
});

describe('validateEvent: prototype pollution', () => {
  it('rejects __proto__ as an attribute name', () => {
    const input: unknown = JSON.parse(
      '{"specversion":"1.0","id":"1","source":"/s","type":"t","__proto__":{"polluted":1}}',
    );
    expect(messageOf(input)).toBe(
      'Expected extension attribute names to be 1 to 20 lower-case letters (a-z) or digits (0-9), got "__proto__", a name reserved by JavaScript',
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('copies __proto__, constructor and prototype keys inside data as plain data', () => {
    const input: unknown = JSON.parse(
      '{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"list":[{"__proto__":{"x":1}}]}}',
    );
    const event = validate(input);
    const data = event.data as Record<string, unknown>;
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.hasOwn(data, '__proto__')).toBe(true);
    expect(data['polluted']).toBeUndefined();
    expect(JSON.parse(JSON.stringify(event.data))).toEqual(
      JSON.parse(JSON.stringify((input as { data: unknown }).data)),
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('allows constructor and prototype as extension names without touching any prototype', () => {
    const event = validate({ ...base, constructor: 'c', prototype: 'p' });
    expect(Object.hasOwn(event, 'constructor')).toBe(true);
    expect(event['prototype']).toBe('p');
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
    expect(({} as { constructor: unknown }).constructor).toBe(Object);
  });

  it('rejects objects with a custom prototype', () => {
    const inherited = Object.create({ id: 'inherited', data: { x: 1 } }) as Record<string, unknown>;
    Object.assign(inherited, { specversion: '1.0', source: '/s', type: 't' });
    expect(messageOf(inherited)).toBe('Expected the event to be an object, got an object with a custom prototype');
    const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, base);
    expect(validate(nullProto).id).toBe('e-1');
  });

  it('ignores attributes that a polluted Object.prototype would lend', () => {
    const names = ['subject', 'data', 'tenant'];
    for (const name of names) Object.defineProperty(Object.prototype, name, { value: 'x', configurable: true });
    let event: Record<string, unknown>;
    try {
      event = { ...validate({ ...base, tenant: undefined }) };
    } finally {
      for (const name of names) delete (Object.prototype as Record<string, unknown>)[name];
    }
    expect(Object.keys(event)).toEqual(['specversion', 'id', 'source', 'type', 'time']);
  });
});

describe('uuidv7', () => {
  it('lays out version 7, variant 10 and the 48-bit millisecond timestamp', () => {
    const next = createUuidV7Generator({ now: () => 0x0123_4567_89ab, randomFill: (bytes) => bytes.fill(0xff) });
    const id = next();
    expect(id).toMatch(UUIDV7_PATTERN);
    expect(id.slice(0, 13)).toBe('01234567-89ab');
    expect(id.slice(-8)).toBe('ffffffff');
  });

  it('counts up within a millisecond and keeps order when the clock steps back', () => {
    let ms = 1_000;
    const next = createUuidV7Generator({ now: () => ms, randomFill: (bytes) => bytes.fill(0) });
    const a = next();
    const b = next();
    ms = 500;
    const c = next();
    ms = 1_001;
    const d = next();
    expect([a, b, c, d]).toEqual([...new Set([a, b, c, d])].sort());
    expect(a).toBe('00000000-03e8-7000-8000-000000000000');
    expect(b).toBe('00000000-03e8-7000-8000-000100000000');
  });

  it('carries the counter from rand_a into rand_b', () => {
    const next = createUuidV7Generator({ now: () => 5, randomFill: (bytes) => bytes.fill(0xff) });
    // All-ones randomness seeds the 42-bit counter at 2^41 - 1: its top bit starts clear to leave room.
    expect(next().slice(14, 23)).toBe('77ff-bfff');
    expect(next().slice(14, 23)).toBe('7800-8000');
  });

  it('sorts in generation order over random clocks', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 48 - 2 }), { minLength: 2, maxLength: 50 }), (times) => {
        let i = 0;
        const next = createUuidV7Generator({ now: () => times[i++ % times.length]! });
        const ids = times.map(() => next());
        expect([...ids].sort()).toEqual(ids);
        for (const id of ids) expect(id).toMatch(UUIDV7_PATTERN);
      }),
    );
  });

  it('rejects a clock outside the 48-bit range', () => {
    expect(() => createUuidV7Generator({ now: () => -1 })()).toThrow(RangeError);
    expect(() => createUuidV7Generator({ now: () => Number.NaN })()).toThrow(RangeError);
  });
});

describe('formats', () => {
  it('checks RFC 3339 timestamps with real calendar values', () => {
    for (const ok of [
      '2024-02-29T00:00:00Z',
      '2000-02-29T23:59:60.123456+14:00',
      '2024-05-01t12:00:00z',
      '2024-05-01T12:00:00-00:30',
    ]) {
      expect(isRfc3339(ok)).toBe(true);
    }
    for (const bad of [
      '1900-02-29T00:00:00Z',
      '2024-04-31T00:00:00Z',
      '2024-05-01T24:00:00Z',
      '2024-05-01T12:60:00Z',
      '2024-05-01T12:00:00+24:00',
      '2024-05-01 12:00:00Z',
      '2024-05-01T12:00:00.Z',
    ]) {
      expect(isRfc3339(bad)).toBe(false);
    }
  });

  it('checks URIs, URI-references and base64', () => {
    expect(isUriReference('')).toBe(true);
    expect(isUriReference('a/b:c')).toBe(true);
    expect(isUriReference('a:b')).toBe(true);
    expect(isUriReference('a b')).toBe(false);
    expect(isUri('mailto:x@example.com')).toBe(true);
    expect(isUri('//example.com/x')).toBe(false);
    expect(isUri('example.com')).toBe(false);
    expect(isBase64('')).toBe(true);
    expect(isBase64('aGVsbG8gd29ybGQ=')).toBe(true);
    expect(isBase64('aGVsbG8gd29ybGQ')).toBe(false);
    expect(isBase64('aGV*')).toBe(false);
  });
});
