/**
 * Property tests: PatternIndex and matchesPattern against the reference matcher, on random patterns
 * built from every operator and random events with nesting, arrays of objects and duplicate spellings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PatternIndex, matchesPattern, validatePattern } from './index.js';
import { referenceMatches } from './reference.js';

const strings = ['x', 'y', 'xy', 'X', 'Xy', '', 'a.png', 'A.PNG', '10.0.0.1', '10.0.1.9', '2001:db8::1', 'ß', 'SS'];
const numbers = [0, 1, 1.5, -2, 300, 5e9];

const str = fc.constantFrom(...strings);
const num = fc.constantFrom(...numbers);
const scalar = fc.oneof(str, num, fc.constantFrom(true, false, null));

const matcher = fc.oneof(
  { weight: 4, arbitrary: scalar },
  fc.record({ prefix: fc.constantFrom('x', 'X', 'a', '1', '') }),
  fc.record({ suffix: fc.constantFrom('y', '.png', '1', '') }),
  fc.record({ 'equals-ignore-case': fc.constantFrom('x', 'xy', 'a.png', 'ss', 'ß') }),
  fc.record({ prefix: fc.record({ 'equals-ignore-case': fc.constantFrom('x', 'a.') }) }),
  fc.record({ suffix: fc.record({ 'equals-ignore-case': fc.constantFrom('Y', '.PNG') }) }),
  fc.record({ wildcard: fc.constantFrom('*', 'x*', '*y', 'x*y', '*.*', 'a*g', '*0*') }),
  fc.record({ exactly: str }),
  fc.record({
    'anything-but': fc.oneof(
      str,
      num,
      fc.array(str, { minLength: 1, maxLength: 3 }),
      fc.array(num, { minLength: 1, maxLength: 3 }),
      fc.record({ prefix: fc.constantFrom('x', 'a') }),
      fc.record({ suffix: fc.constantFrom('y', 'g') }),
      fc.record({ 'equals-ignore-case': fc.constantFrom('X', 'XY') }),
      fc.record({ wildcard: fc.constantFrom('x*', '*y') }),
    ),
  }),
  fc.record({
    numeric: fc.oneof(
      fc.tuple(fc.constantFrom('=', '<', '<=', '>', '>='), num),
      fc.constantFrom(['>', 0, '<=', 5], ['>=', -2, '<', 1.5], ['>', 1, '<', 1e10]),
    ),
  }),
  fc.record({ exists: fc.boolean() }),
  fc.record({ cidr: fc.constantFrom('10.0.0.0/24', '10.0.0.0/8', '2001:db8::/32', '0.0.0.0/0') }),
);

const keys = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'd.e');
const leafCondition = fc.array(matcher, { minLength: 1, maxLength: 4 });

type Pattern = { [key: string]: unknown };
const pattern: fc.Arbitrary<Pattern> = fc.letrec<{ obj: Pattern }>((tie) => ({
  obj: fc
    .array(
      fc.tuple(
        fc.oneof({ weight: 4, arbitrary: keys }, { weight: 1, arbitrary: fc.constant('$or') }),
        fc.oneof({ depthSize: 'small', withCrossShrink: true }, { weight: 3, arbitrary: leafCondition }, tie('obj')),
      ),
      { minLength: 1, maxLength: 2 },
    )
    .map((entries) => {
      const out: Pattern = {};
      for (const [key, value] of entries) {
        out[key] = key === '$or' ? [{ a: value }, { b: Array.isArray(value) ? ['x'] : value }] : value;
      }
      return out;
    }),
})).obj;

const eventValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: scalar },
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', 'e', 'd.e'), tie('v'), { maxKeys: 3 }),
  ),
})).v;
// Events mostly have the paths patterns test, so that a good share of pairs match (about a third).
const event = fc.record(
  {
    a: eventValue,
    b: eventValue,
    c: eventValue,
    d: fc.oneof(fc.record({ e: eventValue }), fc.array(fc.record({ e: eventValue, a: eventValue }), { maxLength: 3 })),
    'd.e': scalar,
    x: eventValue,
  },
  { requiredKeys: [] },
);

const isValid = (p: Pattern): boolean => {
  try {
    validatePattern(p);
    return true;
  } catch {
    return false;
  }
};

describe('differential: fast paths against the reference matcher', () => {
  it('matchesPattern agrees with the reference on every valid pattern', () => {
    fc.assert(
      fc.property(pattern.filter(isValid), event, (p, e) => {
        const text = JSON.stringify(e);
        expect(matchesPattern(p, text)).toBe(referenceMatches(p, text));
        expect(matchesPattern(p, e)).toBe(referenceMatches(p, text));
      }),
      { numRuns: 3000 },
    );
  });

  it('PatternIndex.match returns exactly the patterns the reference matches', () => {
    fc.assert(
      fc.property(
        fc.array(pattern.filter(isValid), { minLength: 1, maxLength: 40 }),
        fc.array(event, { minLength: 1, maxLength: 10 }),
        (patterns, events) => {
          const index = new PatternIndex();
          patterns.forEach((p, i) => index.add(`r${i}`, p));
          for (const e of events) {
            const text = JSON.stringify(e);
            const expected = patterns.flatMap((p, i) => (referenceMatches(p, text) ? [`r${i}`] : []));
            expect(index.match(text).sort()).toEqual(expected.sort());
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('removing and replacing patterns keeps the index exact', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('add', 'remove'), fc.integer({ min: 0, max: 9 }), pattern.filter(isValid)), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.array(event, { minLength: 1, maxLength: 5 }),
        (ops, events) => {
          const index = new PatternIndex();
          const live = new Map<string, Pattern>();
          for (const [op, n, p] of ops) {
            const id = `r${n}`;
            if (op === 'add') {
              index.add(id, p);
              live.set(id, p);
            } else {
              expect(index.remove(id)).toBe(live.delete(id));
            }
          }
          expect(index.size).toBe(live.size);
          for (const e of events) {
            const text = JSON.stringify(e);
            const expected = [...live].flatMap(([id, p]) => (referenceMatches(p, text) ? [id] : []));
            expect(index.match(text).sort()).toEqual(expected.sort());
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('array consistency: rules over arrays of objects, tiny value domain', () => {
    const tiny = fc.constantFrom('x', 'y', 1);
    const tinyMatcher = fc.oneof(
      tiny,
      fc.record({ exists: fc.boolean() }),
      fc.record({ 'anything-but': fc.constantFrom('x', 'y') }),
    );
    const inner = fc.dictionary(fc.constantFrom('e', 'a', 'f'), fc.array(tinyMatcher, { minLength: 1, maxLength: 2 }), {
      minKeys: 1,
      maxKeys: 3,
    });
    const tinyPattern = fc.oneof(
      inner.map((d) => ({ d })),
      fc.tuple(inner, fc.array(tinyMatcher, { minLength: 1, maxLength: 2 })).map(([d, x]) => ({ d, x })),
    );
    const element = fc.dictionary(fc.constantFrom('e', 'a', 'f'), fc.oneof(tiny, fc.array(tiny, { maxLength: 2 })), {
      maxKeys: 3,
    });
    const tinyEvent = fc.record({
      d: fc.oneof(fc.array(element, { maxLength: 3 }), fc.array(fc.array(element, { maxLength: 2 }), { maxLength: 2 })),
      x: fc.oneof(tiny, fc.array(tiny, { maxLength: 2 })),
    });
    fc.assert(
      fc.property(fc.array(tinyPattern, { minLength: 1, maxLength: 8 }), tinyEvent, (patterns, e) => {
        const text = JSON.stringify(e);
        const index = new PatternIndex();
        patterns.forEach((p, i) => index.add(`r${i}`, p));
        const expected = patterns.flatMap((p, i) => (referenceMatches(p, text) ? [`r${i}`] : []));
        expect(index.match(text).sort()).toEqual(expected.sort());
        patterns.forEach((p) => expect(matchesPattern(p, e)).toBe(referenceMatches(p, text)));
      }),
      { numRuns: 1500 },
    );
  });

  it('the event scanner accepts exactly the JSON that JSON.parse accepts (objects), with or without tested fields', () => {
    const texts = fc.oneof(
      fc.json().map((j) => `{"a":${j},"b":${j}}`),
      fc
        .tuple(fc.json(), fc.nat(), fc.constantFrom('', '"', '\\', ',', '}', ']', '{', ':', ' ', 'x', '\u0001', '1'))
        .map(([j, at, c]) => {
          const text = `{"a":${j},"b":[${j}]}`;
          const i = at % text.length;
          return text.slice(0, i) + c + text.slice(i + 1);
        }),
    );
    const valid = (text: string): boolean => {
      try {
        const v: unknown = JSON.parse(text);
        return typeof v === 'object' && v !== null && !Array.isArray(v);
      } catch {
        return false;
      }
    };
    fc.assert(
      fc.property(
        texts,
        fc.constantFrom('{"a":[{"exists":true}]}', '{"zz":["x"]}', '{"b":{"c":[{"exists":false}]}}'),
        (text, p) => {
          let ok = true;
          try {
            matchesPattern(p, text);
          } catch {
            ok = false;
          }
          expect(ok).toBe(valid(text));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
