/**
 * The shapes the pattern engine works on.
 *
 * Glossary:
 * - **leaf**: one scalar value of a flattened event, at a dotted **path** (`detail.state`). Arrays add
 *   values, not path steps: `{"a":[1,2]}` has two leaves at `a`.
 * - **membership**: which element of which array a leaf sits in; two leaves picked by one rule must not
 *   come from different elements of the same array (**array consistency**, spec §3).
 * - **matcher**: one element of a pattern's value list (`"x"`, `{"prefix":"a"}`, ...).
 * - **condition**: a path and its matchers; satisfied when some leaf at the path satisfies some matcher.
 * - **sub-rule**: conditions that must all hold; a pattern with `$or` expands into several sub-rules and
 *   matches when any of them does.
 */
import { inIpRange, type IpRange } from './ip.js';
import {
  ignoreCaseEquals,
  ignoreCasePrefix,
  ignoreCaseSuffix,
  prefixMatches,
  suffixMatches,
  wildcardMatches,
  type IgnoreCaseText,
  type Wildcard,
} from './strings.js';
import { ipToHex } from './ip.js';

/** Leaf kinds. Numbers in the spec's sense keep their JSON spelling in `text`. */
export const STRING = 0;
export const NUMBER = 1;
export const TRUE = 2;
export const FALSE = 3;
export const NULL = 4;
export type LeafKind = typeof STRING | typeof NUMBER | typeof TRUE | typeof FALSE | typeof NULL;

/** Position of a leaf inside the event's arrays of objects, innermost first. */
export interface Membership {
  /** Event-wide id of the array. */
  readonly array: number;
  /** Index of the element within that array. */
  readonly index: number;
  readonly parent: Membership | null;
}

/** One scalar value of a flattened event. */
export interface Leaf {
  readonly kind: LeafKind;
  /** Decoded text for strings, the JSON token for numbers, the literal word otherwise. */
  readonly text: string;
  /** The double for comparable numbers; NaN for every other leaf. */
  readonly num: number;
  readonly mem: Membership | null;
  /** Hex address when the string is an IP literal; computed on first use (`null` = not an IP). */
  ip: string | null | undefined;
}

/** One element of a pattern's value list, compiled. */
export type Matcher =
  | { readonly k: 'str'; readonly value: string }
  | { readonly k: 'ip'; readonly range: IpRange }
  | { readonly k: 'numText'; readonly raw: string }
  | { readonly k: 'numEq'; readonly value: number }
  | { readonly k: 'lit'; readonly kind: typeof TRUE | typeof FALSE | typeof NULL }
  | { readonly k: 'prefix'; readonly value: string }
  | { readonly k: 'suffix'; readonly value: string }
  | { readonly k: 'eic'; readonly p: IgnoreCaseText }
  | { readonly k: 'prefixEic'; readonly p: IgnoreCaseText }
  | { readonly k: 'suffixEic'; readonly p: IgnoreCaseText }
  | { readonly k: 'wildcard'; readonly w: Wildcard }
  | {
      readonly k: 'range';
      readonly lo: number;
      readonly loIncl: boolean;
      readonly hi: number;
      readonly hiIncl: boolean;
    }
  | { readonly k: 'exists'; readonly value: boolean }
  | { readonly k: 'abStr'; readonly values: ReadonlySet<string> }
  | { readonly k: 'abNum'; readonly values: ReadonlySet<number> }
  | { readonly k: 'abPrefix'; readonly values: readonly string[] }
  | { readonly k: 'abSuffix'; readonly values: readonly string[] }
  | { readonly k: 'abEic'; readonly values: readonly IgnoreCaseText[] }
  | { readonly k: 'abWildcard'; readonly values: readonly Wildcard[] };

/** A path and the matchers any one of which a leaf there must satisfy. */
export interface Condition {
  /** Dotted path, as event-ruler names fields. */
  readonly path: string;
  /**
   * Steps used to find the path in an event, or `null` when no event can ever have a value there
   * (a nested empty last key, spec §1).
   */
  readonly steps: readonly string[] | null;
  readonly matchers: readonly Matcher[];
  /** The matchers compiled into one test (see predicates.ts). */
  readonly test: (leaf: Leaf) => boolean;
  /** True when one matcher is `{"exists": false}`: the condition also holds when no leaf qualifies. */
  readonly absentOk: boolean;
}

/** Conditions that must all hold, sorted by path (event-ruler's evaluation order). */
export interface SubRule {
  readonly conditions: readonly Condition[];
  /** Whether any condition has `absentOk`; without one, a matching leaf never needs a second look. */
  readonly hasAbsent: boolean;
}

/** Hex address of a string leaf, cached on the leaf. */
export function leafIp(leaf: Leaf): string | null {
  if (leaf.ip === undefined) leaf.ip = ipToHex(leaf.text) ?? null;
  return leaf.ip;
}

/**
 * Whether `leaf` satisfies matcher `m` (`exists: false` never does; conditions handle absence).
 * The reference implementation; the fast path uses the closures of predicates.ts.
 */
export function testMatcher(m: Matcher, leaf: Leaf): boolean {
  const isString = leaf.kind === STRING;
  switch (m.k) {
    case 'str':
      return isString && leaf.text === m.value;
    case 'ip': {
      if (!isString) return false;
      const ip = leafIp(leaf);
      return ip !== null && inIpRange(m.range, ip);
    }
    case 'numText':
      return leaf.kind === NUMBER && leaf.text === m.raw;
    case 'numEq':
      return leaf.num === m.value;
    case 'lit':
      return leaf.kind === m.kind;
    case 'prefix':
      return isString && prefixMatches(m.value, leaf.text);
    case 'suffix':
      return isString && suffixMatches(m.value, leaf.text);
    case 'eic':
      return isString && ignoreCaseEquals(m.p, leaf.text);
    case 'prefixEic':
      return isString && ignoreCasePrefix(m.p, leaf.text);
    case 'suffixEic':
      return isString && ignoreCaseSuffix(m.p, leaf.text);
    case 'wildcard':
      return isString && wildcardMatches(m.w, leaf.text);
    case 'range': {
      const n = leaf.num;
      if (n !== n) return false;
      return (m.loIncl ? n >= m.lo : n > m.lo) && (m.hiIncl ? n <= m.hi : n < m.hi);
    }
    case 'exists':
      return m.value;
    case 'abStr':
      return !(isString && m.values.has(leaf.text));
    case 'abNum':
      return !m.values.has(leaf.num);
    case 'abPrefix':
      return !(isString && m.values.some((p) => prefixMatches(p, leaf.text)));
    case 'abSuffix':
      return !(isString && m.values.some((p) => suffixMatches(p, leaf.text)));
    case 'abEic':
      return !(isString && m.values.some((p) => ignoreCaseEquals(p, leaf.text)));
    case 'abWildcard':
      return !(isString && m.values.some((w) => wildcardMatches(w, leaf.text)));
  }
}

/** Whether `leaf` satisfies any matcher of `c`. */
export function testCondition(c: Condition, leaf: Leaf): boolean {
  const ms = c.matchers;
  for (let i = 0; i < ms.length; i++) {
    if (testMatcher(ms[i] as Matcher, leaf)) return true;
  }
  return false;
}
