/**
 * String operators: prefix, suffix, equals-ignore-case (and its prefix/suffix forms) and wildcard,
 * with event-ruler's exact semantics (spec §4.2–4.5, §4.10).
 */

/**
 * `prefix` compares against the value with its closing quote still attached (event-ruler stores the
 * pattern as `"p` without a closing quote), so a prefix ending in `"` matches the value one shorter.
 */
export function prefixMatches(prefix: string, value: string): boolean {
  return value.startsWith(prefix) || (prefix.length === value.length + 1 && prefix === `${value}"`);
}

/** Mirror of {@link prefixMatches}: a suffix starting with `"` matches the value one shorter. */
export function suffixMatches(suffix: string, value: string): boolean {
  return value.endsWith(suffix) || (suffix.length === value.length + 1 && suffix === `"${value}`);
}

/**
 * A compiled equals-ignore-case text. Each UTF-16 unit `c` of the pattern accepts, at its place,
 * `c.toLowerCase()` or `c.toUpperCase()` (each possibly several units long: `ß` → `SS`). This is not
 * Unicode case folding: it is what event-ruler does, quirks included (spec §4.4).
 */
export interface IgnoreCaseText {
  /** The original pattern text. */
  readonly text: string;
  /** Lower and upper alternative for every unit. */
  readonly alts: ReadonlyArray<readonly [string, string]>;
  /** Fast path when every alternative is one unit long: the lower and upper codes. */
  readonly lower: Uint16Array | undefined;
  readonly upper: Uint16Array | undefined;
}

/** Compiles an equals-ignore-case pattern text. */
export function compileIgnoreCase(text: string): IgnoreCaseText {
  const alts: Array<readonly [string, string]> = [];
  let simple = true;
  for (let i = 0; i < text.length; i++) {
    const unit = text[i] ?? '';
    const code = unit.charCodeAt(0);
    // Lone surrogate halves have no case; they stand for themselves.
    const pair: readonly [string, string] =
      code >= 0xd800 && code <= 0xdfff ? [unit, unit] : [unit.toLowerCase(), unit.toUpperCase()];
    if (pair[0].length !== 1 || pair[1].length !== 1) simple = false;
    alts.push(pair);
  }
  if (!simple) return { text, alts, lower: undefined, upper: undefined };
  const lower = new Uint16Array(alts.length);
  const upper = new Uint16Array(alts.length);
  alts.forEach(([lo, up], i) => {
    lower[i] = lo.charCodeAt(0);
    upper[i] = up.charCodeAt(0);
  });
  return { text, alts, lower, upper };
}

function simpleAt(lower: Uint16Array, upper: Uint16Array, value: string, at: number): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = value.charCodeAt(at + i);
    if (c !== lower[i] && c !== upper[i]) return false;
  }
  return true;
}

/** Every end position reachable by matching all alternatives forwards from `from`. */
function forwardEnds(p: IgnoreCaseText, value: string, from: number): Set<number> {
  let positions = new Set([from]);
  for (const [lo, up] of p.alts) {
    const next = new Set<number>();
    for (const pos of positions) {
      if (value.startsWith(lo, pos)) next.add(pos + lo.length);
      if (up !== lo && value.startsWith(up, pos)) next.add(pos + up.length);
    }
    if (next.size === 0) return next;
    positions = next;
  }
  return positions;
}

/** Whether `value` equals the pattern ignoring case (event-ruler's per-unit rule). */
export function ignoreCaseEquals(p: IgnoreCaseText, value: string): boolean {
  if (p.lower !== undefined && p.upper !== undefined) {
    return value.length === p.lower.length && simpleAt(p.lower, p.upper, value, 0);
  }
  return forwardEnds(p, value, 0).has(value.length);
}

/** `{"prefix": {"equals-ignore-case": p}}`; like `prefix`, sees the value's closing quote. */
export function ignoreCasePrefix(p: IgnoreCaseText, value: string): boolean {
  if (p.lower !== undefined && p.upper !== undefined) {
    if (value.length >= p.lower.length) return simpleAt(p.lower, p.upper, value, 0);
  }
  return forwardEnds(p, `${value}"`, 0).size > 0;
}

/** `{"suffix": {"equals-ignore-case": p}}`; like `suffix`, sees the value's opening quote. */
export function ignoreCaseSuffix(p: IgnoreCaseText, value: string): boolean {
  if (p.lower !== undefined && p.upper !== undefined) {
    if (value.length >= p.lower.length) return simpleAt(p.lower, p.upper, value, value.length - p.lower.length);
  }
  const quoted = `"${value}`;
  let positions = new Set([quoted.length]);
  for (let i = p.alts.length - 1; i >= 0; i--) {
    const [lo, up] = p.alts[i] ?? ['', ''];
    const next = new Set<number>();
    for (const pos of positions) {
      if (pos >= lo.length && quoted.startsWith(lo, pos - lo.length)) next.add(pos - lo.length);
      if (up !== lo && pos >= up.length && quoted.startsWith(up, pos - up.length)) next.add(pos - up.length);
    }
    if (next.size === 0) return false;
    positions = next;
  }
  return true;
}

/** A compiled wildcard: literal segments between unescaped `*`s. */
export interface Wildcard {
  readonly text: string;
  /** `segments.length - 1` stars separate the segments; one segment means no star at all. */
  readonly segments: readonly string[];
}

const encoder = new TextEncoder();

function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

/**
 * Compiles a wildcard text: `*` matches any run of characters, `\*` is a literal star and `\\` a
 * literal backslash; nothing else may follow a backslash, and two stars may not touch.
 * @throws Error with event-ruler's message; the position is the UTF-8 byte offset of the backslash or of
 * the first of the two stars, counting the leading quote event-ruler adds (so `**` fails at pos 1).
 */
export function compileWildcard(text: string): Wildcard {
  const segments: string[] = [];
  let current = '';
  let lastWasStar = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      const next = text[i + 1];
      if (next !== '*' && next !== '\\') {
        throw new Error(`Invalid escape character at pos ${1 + utf8Length(text.slice(0, i))}`);
      }
      current += next;
      i++;
      lastWasStar = false;
    } else if (c === '*') {
      if (lastWasStar)
        throw new Error(`Consecutive wildcard characters at pos ${1 + utf8Length(text.slice(0, i - 1))}`);
      segments.push(current);
      current = '';
      lastWasStar = true;
    } else {
      current += c;
      lastWasStar = false;
    }
  }
  segments.push(current);
  return { text, segments };
}

/** Whether `value` matches the whole wildcard (greedy-free: leftmost placement of each segment). */
export function wildcardMatches(w: Wildcard, value: string): boolean {
  const segs = w.segments;
  const first = segs[0] ?? '';
  if (segs.length === 1) return value === first;
  const last = segs[segs.length - 1] ?? '';
  if (value.length < first.length + last.length) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  let pos = first.length;
  const end = value.length - last.length;
  for (let i = 1; i < segs.length - 1; i++) {
    const seg = segs[i] ?? '';
    const at = value.indexOf(seg, pos);
    if (at < 0 || at + seg.length > end) return false;
    pos = at + seg.length;
  }
  return true;
}
