import { describe, expect, it } from 'vitest';
import { BusError } from '../core/errors.js';
import { PatternIndex, matchesPattern, validatePattern } from './index.js';

function reason(pattern: string | object): string {
  try {
    validatePattern(pattern);
  } catch (err) {
    expect(err).toBeInstanceOf(BusError);
    const e = err as BusError;
    expect(e.code).toBe('INVALID_PATTERN');
    expect(e.message.startsWith('Event pattern is not valid. Reason: ')).toBe(true);
    return e.message;
  }
  throw new Error(`expected ${JSON.stringify(pattern)} to be invalid`);
}

/** [pattern JSON, a fragment of the expected reason]. */
const invalid: Array<readonly [string, string]> = [
  ['[]', 'Filter is not an object'],
  ['"x"', 'Filter is not an object'],
  ['5', 'Filter is not an object'],
  ['null', 'Filter is not an object'],
  ['', 'Malformed JSON'],
  ['{"a":', 'Malformed JSON'],
  ['{"a":["x"]} junk', 'Malformed JSON'],
  ['{}', 'Empty objects are not allowed'],
  ['{"a":{}}', 'Empty objects are not allowed'],
  ['{"a":[]}', 'Empty arrays are not allowed'],
  ['{"a":"x"}', '"a" must be an object or an array'],
  ['{"a":5}', '"a" must be an object or an array'],
  ['{"a":null}', '"a" must be an object or an array'],
  ['{"a":true}', '"a" must be an object or an array'],
  ['{"a":[["x"]]}', 'Match value must be String, number, true, false, or null'],
  ['{"a":[{}]}', 'Match expression name not found'],
  ['{"a":[{"contains":"x"}]}', 'Unrecognized match type contains'],
  ['{"a":[{"regex":"x"}]}', 'Unrecognized match type regex'],
  ['{"a":[{"prefix":"x","suffix":"y"}]}', 'Only one key allowed in match expression'],
  ['{"a":[{"prefix":5}]}', 'prefix match pattern must be a string'],
  ['{"a":[{"suffix":null}]}', 'suffix match pattern must be a string'],
  ['{"a":[{"prefix":{"x":"y"}}]}', 'Unsupported prefix pattern: x'],
  ['{"a":[{"prefix":{}}]}', 'Prefix expression name not found'],
  ['{"a":[{"suffix":{}}]}', 'Suffix expression name not found'],
  ['{"a":[{"prefix":{"equals-ignore-case":5}}]}', 'equals-ignore-case match pattern must be a string'],
  ['{"a":[{"prefix":{"equals-ignore-case":"x","y":1}}]}', 'Only one key allowed in match expression'],
  ['{"a":[{"equals-ignore-case":["x"]}]}', 'equals-ignore-case match pattern must be a string'],
  ['{"a":[{"exactly":5}]}', 'exact match pattern must be a string'],
  ['{"a":[{"anything-but":null}]}', 'Value of anything-but must be an array or single string/number value.'],
  ['{"a":[{"anything-but":true}]}', 'Value of anything-but must be an array or single string/number value.'],
  ['{"a":[{"anything-but":{"exists":true}}]}', 'Unsupported anything-but pattern: exists'],
  ['{"a":[{"anything-but":{"numeric":[">",1]}}]}', 'Unsupported anything-but pattern: numeric'],
  ['{"a":[{"anything-but":{}}]}', 'Anything-But expression name not found'],
  ['{"a":[{"anything-but":["a",null]}]}', 'Inside anything but list, start|null|boolean is not supported.'],
  ['{"a":[{"anything-but":[{"prefix":"a"}]}]}', 'Inside anything but list, start|null|boolean is not supported.'],
  ['{"a":[{"anything-but":[]}]}', 'mixed type is not supported'],
  ['{"a":[{"anything-but":["a",1]}]}', 'mixed type is not supported'],
  ['{"a":[{"anything-but":{"prefix":""}}]}', 'Null prefix/suffix not allowed'],
  ['{"a":[{"anything-but":{"suffix":[""]}}]}', 'Null prefix/suffix not allowed'],
  ['{"a":[{"anything-but":{"prefix":5}}]}', 'prefix/suffix match pattern must be a string'],
  ['{"a":[{"anything-but":{"prefix":[]}}]}', 'Empty arrays are not allowed'],
  ['{"a":[{"anything-but":{"wildcard":[]}}]}', 'Empty arrays are not allowed'],
  ['{"a":[{"anything-but":{"equals-ignore-case":5}}]}', 'Inside anything-but/equals-ignore-case list'],
  ['{"a":[{"anything-but":{"equals-ignore-case":[]}}]}', 'Empty arrays are not allowed'],
  ['{"a":[{"anything-but":{"wildcard":"a**"}}]}', 'Consecutive wildcard characters at pos 2'],
  ['{"a":[{"anything-but":{"wildcard":5}}]}', 'wildcard match pattern must be a string'],
  ['{"a":[{"anything-but":{"prefix":"a","suffix":"b"}}]}', 'Only one key allowed in match expression'],
  ['{"a":[{"anything-but":1e400}]}', 'Cannot compare number : 1e400'],
  ['{"a":[{"anything-but":[12345678901234567890]}]}', 'Cannot compare number : 12345678901234567890'],
  ['{"a":[{"numeric":5}]}', 'Value of numeric must be an array.'],
  ['{"a":[{"numeric":[]}]}', 'Invalid member in numeric match: ]'],
  ['{"a":[{"numeric":[5]}]}', 'Invalid member in numeric match: 5'],
  ['{"a":[{"numeric":["==",5]}]}', 'Unrecognized numeric range operator: =='],
  ['{"a":[{"numeric":["!=",5]}]}', 'Unrecognized numeric range operator: !='],
  ['{"a":[{"numeric":[">"]}]}', 'Value of > must be numeric'],
  ['{"a":[{"numeric":["=","5"]}]}', 'Value of equals must be numeric'],
  ['{"a":[{"numeric":["=",5,"<",6]}]}', 'Too many elements in numeric expression'],
  ['{"a":[{"numeric":["<",5,">",1]}]}', 'Too many elements in numeric expression'],
  ['{"a":[{"numeric":[">",1,">",5]}]}', 'Bad numeric range operator: >'],
  ['{"a":[{"numeric":[">",1,"<",5,"<",6]}]}', 'Too many terms in numeric range expression'],
  ['{"a":[{"numeric":[">=",5,"<=",5]}]}', 'Bottom must be less than top'],
  ['{"a":[{"numeric":[">",6,"<",5]}]}', 'Bottom must be less than top'],
  ['{"a":[{"numeric":[">",1e400]}]}', 'Cannot compare number : 1e400'],
  ['{"a":[{"numeric":["<",0.30000000000000001]}]}', 'Cannot compare number : 0.30000000000000001'],
  ['{"a":[{"numeric":[">",12345678901234567890]}]}', 'Cannot compare number'],
  ['{"a":[{"numeric":[">=",1.7976931348623157e308]}]}', 'largest double'],
  ['{"a":[{"numeric":[">",1.7976931348623157e308]}]}', 'largest double'],
  ['{"a":[{"numeric":["<=",-1.7976931348623157e308]}]}', 'largest double'],
  ['{"a":[{"numeric":["<",-1.7976931348623157e308]}]}', 'largest double'],
  ['{"a":[{"exists":"true"}]}', 'exists match pattern must be either true or false.'],
  ['{"a":[{"exists":true,"x":1}]}', 'Only one key allowed in match expression'],
  ['{"a":[{"cidr":"10.0.0.0"}]}', "Malformed CIDR, one '/' required"],
  ['{"a":[{"cidr":"10.0.0.0/8/8"}]}', "Malformed CIDR, one '/' required"],
  ['{"a":[{"cidr":"10.0.0.0/x"}]}', 'Malformed CIDR, mask bits must be an integer'],
  ['{"a":[{"cidr":"10.0.0.0/-1"}]}', 'Malformed CIDR, mask bits must not be negative'],
  ['{"a":[{"cidr":"10.0.0.0/32"}]}', 'IPv4 mask bits must be < 32'],
  ['{"a":[{"cidr":"::/128"}]}', 'IPv6 mask bits must be < 128'],
  ['{"a":[{"cidr":"foo/8"}]}', 'Nonstandard IP address: foo'],
  ['{"a":[{"cidr":"1.2.3.256/8"}]}', 'Invalid IP address: 1.2.3.256'],
  ['{"a":[{"cidr":"1:2:3/8"}]}', 'Invalid IP address: 1:2:3'],
  ['{"a":[{"cidr":5}]}', 'cidr match pattern must be a string'],
  ['{"a":[{"wildcard":"**"}]}', 'Consecutive wildcard characters at pos 1'],
  ['{"a":[{"wildcard":"a**b"}]}', 'Consecutive wildcard characters at pos 2'],
  ['{"a":[{"wildcard":"é**"}]}', 'Consecutive wildcard characters at pos 3'],
  ['{"a":[{"wildcard":"\\\\\\\\***"}]}', 'Consecutive wildcard characters at pos 3'],
  ['{"a":[{"wildcard":"a\\\\b"}]}', 'Invalid escape character at pos 2'],
  ['{"a":[{"wildcard":"a\\\\"}]}', 'Invalid escape character at pos 2'],
  ['{"a":[{"wildcard":5}]}', 'wildcard match pattern must be a string'],
  ['{"$or":[{"a":["1"]}]}', 'There must have at least 2 Objects in $or relationship.'],
  ['{"$or":[]}', 'There must have at least 2 Objects in $or relationship.'],
  ['{"$or":[{}, {"a":["1"]}]}', 'Empty objects are not allowed'],
  ['{"$or":[{"a":["1"]}, "x"]}', 'Only JSON object is allowed in array of $or relationship.'],
  ['{"$or":[{"numeric":["1"]}, {"a":["1"]}]}', 'numeric is Ruler reserved fieldName'],
  ['{"$or":[{"a":{"prefix":["1"]}}, {"a":["1"]}]}', 'prefix is Ruler reserved fieldName'],
  ['{"$or":[{"a":"1"}, {"b":["1"]}]}', '"a" must be an object or an array'],
  ['{"$or":"x"}', 'It must be an Array followed with $or.'],
];

describe('invalid patterns', () => {
  it.each(invalid)('%s → %s', (pattern, fragment) => {
    expect(reason(pattern)).toContain(fragment);
  });

  it('names the path of the offending field', () => {
    expect(reason('{"detail":{"state":[{"prefix":5}]}}')).toBe(
      'Event pattern is not valid. Reason: prefix match pattern must be a string (at "detail.state")',
    );
  });

  it('rejects patterns as objects too, and values JSON cannot hold', () => {
    expect(reason({ source: 'aws.ec2' })).toContain('"source" must be an object or an array');
    expect(reason({ n: [Infinity] })).toContain('not a JSON number');
    expect(reason({ n: [1n] as unknown[] })).toContain('bigint');
  });

  it('allows 256 fields per rule and rejects 257, per expanded $or branch', () => {
    const fields = (n: number, prefix = 'f'): Record<string, string[]> =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, ['x']]));
    expect(() => validatePattern(fields(256))).not.toThrow();
    expect(reason(fields(257))).toContain('more than 256 fields');
    expect(reason({ ...fields(256), $or: [{ a: ['1'] }, { b: ['2'] }] })).toContain('more than 256 fields');
    expect(() => validatePattern({ ...fields(255), $or: [{ a: ['1'] }, { b: ['2'] }] })).not.toThrow();
  });

  it('caps $or expansion', () => {
    const or = (i: number) => ({ $or: [{ [`a${i}`]: ['1'] }, { [`b${i}`]: ['2'] }] });
    const nested: Record<string, unknown> = {};
    for (let i = 0; i < 11; i++) nested[`k${i}`] = or(i);
    expect(reason(nested)).toContain('more than 1024 combinations');
  });

  it('leaves a PatternIndex unchanged when a pattern is rejected', () => {
    const index = new PatternIndex();
    index.add('r', { a: ['1'] });
    expect(() => index.add('r', { a: [] })).toThrow(BusError);
    expect(index.match({ a: '1' })).toEqual(['r']);
    expect(() => index.add(5 as unknown as string, { a: ['1'] })).toThrow(/Expected `id` to be a string/);
  });
});

describe('accepted although one might expect rejection (event-ruler compatible)', () => {
  it.each([
    '{"a":["x"],"a":["y"]}',
    '{"a":[{"prefix":""}]}',
    '{"a":[{"suffix":""}]}',
    '{"a":[{"wildcard":""}]}',
    '{"a":[{"equals-ignore-case":""}]}',
    '{"a":[{"anything-but":""}]}',
    '{"a":["x",1,null,true]}',
    '{"a":[12345678901234567890]}',
    '{"$or":{"a":["1"]}}',
    '{"$or":["a","b"]}',
    '{"$or":[{"prefix":"a"},{"suffix":"z"}]}',
    '{"a":[{"exactly":"x"}]}',
    '{"a":[{"cidr":"10.0.0.0/24/"}]}',
    '{"a":[{"cidr":"10.0.0.0/+24"}]}',
    '{"a":[{"numeric":["<=",1.7976931348623157e308]}]}',
    '{"prefix":["a"]}',
    '{"a":[{"wildcard":"a\\\\**"}]}',
  ])('%s', (pattern) => {
    expect(() => validatePattern(pattern)).not.toThrow();
  });

  it('duplicate pattern keys: the last wins for leaves, objects merge', () => {
    expect(matchesPattern('{"a":["x"],"a":["y"]}', '{"a":"y"}')).toBe(true);
    expect(matchesPattern('{"a":["x"],"a":["y"]}', '{"a":"x"}')).toBe(false);
    expect(matchesPattern('{"a":{"b":[1]},"a":{"c":[2]}}', '{"a":{"b":1}}')).toBe(false);
    expect(matchesPattern('{"a":{"b":[1]},"a":{"c":[2]}}', '{"a":{"b":1,"c":2}}')).toBe(true);
  });

  it('a key after $or overrides the same key inside the branches', () => {
    const pattern = '{"$or":[{"a":["2"]},{"b":["3"]}],"a":["1"]}';
    expect(matchesPattern(pattern, '{"a":"2"}')).toBe(false);
    expect(matchesPattern(pattern, '{"a":"1","b":"3"}')).toBe(true);
  });

  it('an empty key under an empty key collapses the path', () => {
    expect(matchesPattern('{"":{"a":["v"]}}', '{"a":"v"}')).toBe(true);
    expect(matchesPattern('{"":{"a":["v"]}}', '{"":{"a":"v"}}')).toBe(false);
    expect(matchesPattern('{"x":{"":{"a":["v"]}}}', '{"x":{"":{"a":"v"}}}')).toBe(true);
  });
});
