/**
 * A small strict JSON parser that keeps what `JSON.parse` throws away and the pattern language needs:
 * the exact spelling of every number (`3.0e2` stays `3.0e2`, `12345678901234567890` keeps its digits)
 * and every occurrence of a duplicated key, in order.
 *
 * Patterns are parsed into a {@link JsonNode} tree with it. Events are not: they go through the
 * streaming flattener in `flatten.ts`, which shares the low-level scanning helpers below.
 */
import { BusError } from '../core/errors.js';

/** A parsed JSON value. Objects keep their entries in text order, duplicates included. */
export type JsonNode =
  | { readonly t: 'object'; readonly entries: ReadonlyArray<readonly [string, JsonNode]> }
  | { readonly t: 'array'; readonly items: readonly JsonNode[] }
  | { readonly t: 'string'; readonly value: string }
  | { readonly t: 'number'; readonly raw: string }
  | { readonly t: 'boolean'; readonly value: boolean }
  | { readonly t: 'null' };

/** Maximum nesting depth accepted by the parsers, a guard against stack exhaustion. */
export const MAX_JSON_DEPTH = 512;

/** Thrown for malformed JSON; `flatten.ts` and the pattern compiler turn it into a BusError. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Skips JSON whitespace (RFC 8259 §2) from `i`; returns the next index. */
export function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

/**
 * Reads the string whose opening quote is at `i - 1`. Returns the decoded text; the index after the
 * closing quote is left in `cursor.end`.
 */
export function readString(s: string, i: number, cursor: { end: number }): string {
  // Fast path: no escapes. One pass that stops at the closing quote (an unbounded indexOf for a
  // backslash would rescan the rest of the text for every string).
  let k = i;
  for (;;) {
    const c = s.charCodeAt(k);
    if (c === 0x22) {
      cursor.end = k + 1;
      return s.slice(i, k);
    }
    if (c === 0x5c) break;
    if (c < 0x20 || k >= s.length) {
      if (k >= s.length) throw new JsonSyntaxError('Unterminated string', i - 1);
      throw new JsonSyntaxError('Unescaped control character in string', k);
    }
    k++;
  }
  let out = '';
  let start = i;
  for (;;) {
    if (k >= s.length) throw new JsonSyntaxError('Unterminated string', i - 1);
    const c = s.charCodeAt(k);
    if (c === 0x22) break;
    if (c < 0x20) throw new JsonSyntaxError('Unescaped control character in string', k);
    if (c !== 0x5c) {
      k++;
      continue;
    }
    out += s.slice(start, k);
    const e = s[k + 1];
    if (e === 'u') {
      const hex = s.slice(k + 2, k + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonSyntaxError('Invalid \\u escape', k);
      out += String.fromCharCode(parseInt(hex, 16));
      k += 6;
    } else {
      const decoded = e === undefined ? undefined : ESCAPES[e];
      if (decoded === undefined) throw new JsonSyntaxError('Invalid escape in string', k);
      out += decoded;
      k += 2;
    }
    start = k;
  }
  cursor.end = k + 1;
  return out + s.slice(start, k);
}

/**
 * Validates the string whose opening quote is at `i - 1` without decoding it; returns the index after
 * the closing quote.
 */
export function skipString(s: string, i: number): number {
  let k = i;
  for (;;) {
    const c = s.charCodeAt(k);
    if (c === 0x22) return k + 1;
    if (c === 0x5c) {
      const e = s.charCodeAt(k + 1);
      if (e === 0x75) {
        if (!/^[0-9a-fA-F]{4}$/.test(s.slice(k + 2, k + 6))) throw new JsonSyntaxError('Invalid \\u escape', k);
        k += 6;
        continue;
      }
      // " \ / b f n r t
      if (
        e !== 0x22 &&
        e !== 0x5c &&
        e !== 0x2f &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      ) {
        throw new JsonSyntaxError('Invalid escape in string', k);
      }
      k += 2;
      continue;
    }
    if (c < 0x20 || k >= s.length) {
      if (k >= s.length) throw new JsonSyntaxError('Unterminated string', i - 1);
      throw new JsonSyntaxError('Unescaped control character in string', k);
    }
    k++;
  }
}

/** Reads a number token starting at `i` (RFC 8259 grammar); returns the index after it. */
export function scanNumber(s: string, i: number): number {
  const start = i;
  if (s.charCodeAt(i) === 0x2d) i++;
  let c = s.charCodeAt(i);
  if (c === 0x30) {
    i++;
  } else if (c >= 0x31 && c <= 0x39) {
    do c = s.charCodeAt(++i);
    while (c >= 0x30 && c <= 0x39);
  } else {
    throw new JsonSyntaxError('Invalid number', start);
  }
  if (s.charCodeAt(i) === 0x2e) {
    c = s.charCodeAt(++i);
    if (!(c >= 0x30 && c <= 0x39)) throw new JsonSyntaxError('Invalid number', start);
    do c = s.charCodeAt(++i);
    while (c >= 0x30 && c <= 0x39);
  }
  c = s.charCodeAt(i);
  if (c === 0x65 || c === 0x45) {
    c = s.charCodeAt(++i);
    if (c === 0x2b || c === 0x2d) c = s.charCodeAt(++i);
    if (!(c >= 0x30 && c <= 0x39)) throw new JsonSyntaxError('Invalid number', start);
    do c = s.charCodeAt(++i);
    while (c >= 0x30 && c <= 0x39);
  }
  return i;
}

/** Expects the literal `word` at `i`; returns the index after it. */
export function expectWord(s: string, i: number, word: string): number {
  if (!s.startsWith(word, i)) throw new JsonSyntaxError(`Unexpected character ${JSON.stringify(s[i] ?? '')}`, i);
  return i + word.length;
}

/** Error for a position that cannot start a value or continue a container. */
export function unexpected(s: string, i: number): JsonSyntaxError {
  return i >= s.length
    ? new JsonSyntaxError('Unexpected end of input', i)
    : new JsonSyntaxError(`Unexpected character ${JSON.stringify(s[i])}`, i);
}

/**
 * Parses JSON text into a {@link JsonNode}. Strict RFC 8259: no comments, no trailing commas,
 * no content after the value.
 * @throws JsonSyntaxError on malformed text.
 */
export function parseJson(text: string): JsonNode {
  const cursor = { end: 0 };
  const parseValue = (i: number, depth: number): JsonNode => {
    if (depth > MAX_JSON_DEPTH) throw new JsonSyntaxError(`Nesting deeper than ${MAX_JSON_DEPTH}`, i);
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const value = readString(text, i + 1, cursor);
      return { t: 'string', value };
    }
    if (c === 0x7b) {
      const entries: Array<readonly [string, JsonNode]> = [];
      let k = skipWs(text, i + 1);
      if (text.charCodeAt(k) === 0x7d) {
        cursor.end = k + 1;
        return { t: 'object', entries };
      }
      for (;;) {
        if (text.charCodeAt(k) !== 0x22) throw unexpected(text, k);
        const key = readString(text, k + 1, cursor);
        k = skipWs(text, cursor.end);
        if (text.charCodeAt(k) !== 0x3a) throw unexpected(text, k);
        const value = parseValue(skipWs(text, k + 1), depth + 1);
        entries.push([key, value]);
        k = skipWs(text, cursor.end);
        const d = text.charCodeAt(k);
        if (d === 0x7d) break;
        if (d !== 0x2c) throw unexpected(text, k);
        k = skipWs(text, k + 1);
      }
      cursor.end = k + 1;
      return { t: 'object', entries };
    }
    if (c === 0x5b) {
      const items: JsonNode[] = [];
      let k = skipWs(text, i + 1);
      if (text.charCodeAt(k) === 0x5d) {
        cursor.end = k + 1;
        return { t: 'array', items };
      }
      for (;;) {
        items.push(parseValue(k, depth + 1));
        k = skipWs(text, cursor.end);
        const d = text.charCodeAt(k);
        if (d === 0x5d) break;
        if (d !== 0x2c) throw unexpected(text, k);
        k = skipWs(text, k + 1);
      }
      cursor.end = k + 1;
      return { t: 'array', items };
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      cursor.end = scanNumber(text, i);
      return { t: 'number', raw: text.slice(i, cursor.end) };
    }
    if (c === 0x74) {
      cursor.end = expectWord(text, i, 'true');
      return { t: 'boolean', value: true };
    }
    if (c === 0x66) {
      cursor.end = expectWord(text, i, 'false');
      return { t: 'boolean', value: false };
    }
    if (c === 0x6e) {
      cursor.end = expectWord(text, i, 'null');
      return { t: 'null' };
    }
    throw unexpected(text, i);
  };
  const node = parseValue(skipWs(text, 0), 0);
  const end = skipWs(text, cursor.end);
  if (end < text.length) throw new JsonSyntaxError('Unexpected content after the JSON value', end);
  return node;
}

/**
 * Converts an already-parsed JavaScript value into a {@link JsonNode}, as `JSON.stringify` would see
 * it: `undefined` and function members are dropped; `toJSON` is not called.
 * @throws BusError `INVALID_PATTERN`-neutral `INVALID_JSON` for values JSON cannot represent
 * (non-finite numbers, bigint, symbols, cycles).
 */
export function fromJsValue(value: unknown, depth = 0): JsonNode {
  if (depth > MAX_JSON_DEPTH) throw new BusError('INVALID_JSON', `Nesting deeper than ${MAX_JSON_DEPTH} (or a cycle)`);
  if (value === null) return { t: 'null' };
  switch (typeof value) {
    case 'string':
      return { t: 'string', value };
    case 'boolean':
      return { t: 'boolean', value };
    case 'number':
      if (!Number.isFinite(value)) throw new BusError('INVALID_JSON', `${value} is not a JSON number`);
      return { t: 'number', raw: String(value) };
    case 'object': {
      if (Array.isArray(value))
        return { t: 'array', items: value.map((v: unknown) => fromJsValue(v ?? null, depth + 1)) };
      const entries: Array<readonly [string, JsonNode]> = [];
      for (const key of Object.keys(value)) {
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined || typeof v === 'function') continue;
        entries.push([key, fromJsValue(v, depth + 1)]);
      }
      return { t: 'object', entries };
    }
    default:
      throw new BusError('INVALID_JSON', `A ${typeof value} is not a JSON value`);
  }
}
