/**
 * Matchers compiled into closures for the fast path. Each condition gets one `(leaf) => boolean`, so the
 * verifier's call site sees functions rather than objects of twenty shapes (a megamorphic property load
 * per test was the largest cost when many candidates are verified). The switch-based `testMatcher` in
 * model.ts stays as the reference implementation the differential tests compare against.
 */
import { inIpRange } from './ip.js';
import { NUMBER, STRING, leafIp, type Leaf, type Matcher } from './model.js';
import {
  ignoreCaseEquals,
  ignoreCasePrefix,
  ignoreCaseSuffix,
  prefixMatches,
  suffixMatches,
  wildcardMatches,
} from './strings.js';

/** A compiled test of one leaf. */
export type Predicate = (leaf: Leaf) => boolean;

const always: Predicate = () => true;
const never: Predicate = () => false;

/** Compiles one matcher (`exists: false` compiles to "never": absence is the condition's business). */
export function compileMatcher(m: Matcher): Predicate {
  switch (m.k) {
    case 'str': {
      const v = m.value;
      return (leaf) => leaf.kind === STRING && leaf.text === v;
    }
    case 'ip': {
      const range = m.range;
      return (leaf) => {
        if (leaf.kind !== STRING) return false;
        const ip = leafIp(leaf);
        return ip !== null && inIpRange(range, ip);
      };
    }
    case 'numText': {
      const raw = m.raw;
      return (leaf) => leaf.kind === NUMBER && leaf.text === raw;
    }
    case 'numEq': {
      const v = m.value;
      return (leaf) => leaf.num === v;
    }
    case 'lit': {
      const kind = m.kind;
      return (leaf) => leaf.kind === kind;
    }
    case 'prefix': {
      const p = m.value;
      return (leaf) => leaf.kind === STRING && prefixMatches(p, leaf.text);
    }
    case 'suffix': {
      const p = m.value;
      return (leaf) => leaf.kind === STRING && suffixMatches(p, leaf.text);
    }
    case 'eic': {
      const p = m.p;
      return (leaf) => leaf.kind === STRING && ignoreCaseEquals(p, leaf.text);
    }
    case 'prefixEic': {
      const p = m.p;
      return (leaf) => leaf.kind === STRING && ignoreCasePrefix(p, leaf.text);
    }
    case 'suffixEic': {
      const p = m.p;
      return (leaf) => leaf.kind === STRING && ignoreCaseSuffix(p, leaf.text);
    }
    case 'wildcard': {
      const w = m.w;
      return (leaf) => leaf.kind === STRING && wildcardMatches(w, leaf.text);
    }
    case 'range': {
      const { lo, hi, loIncl, hiIncl } = m;
      if (loIncl && hiIncl) return (leaf) => leaf.num >= lo && leaf.num <= hi;
      if (loIncl) return (leaf) => leaf.num >= lo && leaf.num < hi;
      if (hiIncl) return (leaf) => leaf.num > lo && leaf.num <= hi;
      return (leaf) => leaf.num > lo && leaf.num < hi;
    }
    case 'exists':
      return m.value ? always : never;
    case 'abStr': {
      const values = m.values;
      return (leaf) => !(leaf.kind === STRING && values.has(leaf.text));
    }
    case 'abNum': {
      const values = m.values;
      return (leaf) => !values.has(leaf.num);
    }
    case 'abPrefix': {
      const values = m.values;
      return (leaf) => !(leaf.kind === STRING && values.some((p) => prefixMatches(p, leaf.text)));
    }
    case 'abSuffix': {
      const values = m.values;
      return (leaf) => !(leaf.kind === STRING && values.some((p) => suffixMatches(p, leaf.text)));
    }
    case 'abEic': {
      const values = m.values;
      return (leaf) => !(leaf.kind === STRING && values.some((p) => ignoreCaseEquals(p, leaf.text)));
    }
    case 'abWildcard': {
      const values = m.values;
      return (leaf) => !(leaf.kind === STRING && values.some((w) => wildcardMatches(w, leaf.text)));
    }
  }
}

/** Compiles a condition's matcher list into one predicate: any matcher holds. */
export function compileCondition(matchers: readonly Matcher[]): Predicate {
  const tests = matchers.filter((m) => !(m.k === 'exists' && !m.value)).map(compileMatcher);
  if (tests.length === 0) return never;
  if (tests.length === 1) return tests[0]!;
  if (tests.length === 2) {
    const [a, b] = tests as [Predicate, Predicate];
    return (leaf) => a(leaf) || b(leaf);
  }
  return (leaf) => {
    for (let i = 0; i < tests.length; i++) if (tests[i]!(leaf)) return true;
    return false;
  };
}
