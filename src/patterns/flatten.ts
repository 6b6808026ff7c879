/**
 * Flattens an event into leaves, visiting only the paths some rule tests (event-ruler materialises only
 * fields whose steps occur in a rule, spec §1). JSON text is scanned once without building objects:
 * skipped subtrees are validated but not decoded, number tokens keep their spelling, and duplicate keys
 * contribute every value.
 */
import { BusError } from '../core/errors.js';
import {
  JsonSyntaxError,
  MAX_JSON_DEPTH,
  expectWord,
  readString,
  scanNumber,
  skipString,
  skipWs,
  unexpected,
} from './json.js';
import { comparableValue } from './numbers.js';
import { FALSE, NULL, NUMBER, STRING, TRUE, type Leaf, type LeafKind, type Membership } from './model.js';

/** The leaves of one path for the event being matched; valid while `epoch` is the flatten's epoch. */
export interface Slot {
  readonly path: string;
  leaves: Leaf[];
  epoch: number;
  /** Whether a leaf of this flatten sits inside an array of objects. */
  inArrays: boolean;
}

/** A node of the trie of tested paths; a key with dots walks several nodes, as nesting would. */
export interface PathNode {
  children: Map<string, PathNode> | undefined;
  /**
   * The same children as a list, compared in place against the event text while it is short. Each
   * entry carries `length << 16 | first code unit` so most mismatches cost one integer comparison.
   */
  list: Array<readonly [string, PathNode, number]>;
  slot: Slot | undefined;
}

/** Up to this many children, keys are compared in place rather than sliced and hashed. */
const SHORT_LIST = 12;

/** The child whose key is the text `s[start, start + len)`, which holds no escape and no dot. */
function childAt(node: PathNode, s: string, start: number, len: number): PathNode | undefined {
  const list = node.list;
  if (list.length > SHORT_LIST) return node.children?.get(s.slice(start, start + len));
  const code = len === 0 ? 0 : (len << 16) | s.charCodeAt(start);
  for (let i = 0; i < list.length; i++) {
    const entry = list[i]!;
    if (entry[2] === code && s.startsWith(entry[0], start)) return entry[1];
  }
  return undefined;
}

/** The entries of {@link PathNode.list} for a children map. */
export function childList(children: Map<string, PathNode> | undefined): Array<readonly [string, PathNode, number]> {
  return [...(children ?? [])].map(
    ([key, node]) => [key, node, (key.length << 16) | (key.length > 0 ? key.charCodeAt(0) : 0)] as const,
  );
}

/** Result of a flatten: the slots that received leaves. */
export interface Flattened {
  readonly epoch: number;
  readonly touched: Slot[];
}

let epochCounter = 0;

/** Leaves of `slot` for the flatten `f`. */
export function leavesOf(slot: Slot | undefined, f: Flattened): readonly Leaf[] {
  return slot !== undefined && slot.epoch === f.epoch ? slot.leaves : EMPTY;
}
const EMPTY: readonly Leaf[] = [];

class Collector {
  readonly epoch = ++epochCounter;
  readonly touched: Slot[] = [];
  arrays = 0;

  add(slot: Slot, kind: LeafKind, text: string, num: number, mem: Membership | null): void {
    if (slot.epoch !== this.epoch) {
      slot.epoch = this.epoch;
      slot.leaves = [];
      slot.inArrays = false;
      this.touched.push(slot);
    }
    if (mem !== null) slot.inArrays = true;
    slot.leaves.push({ kind, text, num, mem, ip: undefined });
  }
}

function child(node: PathNode, key: string): PathNode | undefined {
  const direct = node.children?.get(key);
  if (direct !== undefined || key.indexOf('.') < 0) return direct;
  // `{"a.b": 1}` and `{"a": {"b": 1}}` name the same field (spec §1, quirk 1).
  let n: PathNode | undefined = node;
  for (const step of key.split('.')) {
    n = n.children?.get(step);
    if (n === undefined) return undefined;
  }
  return n;
}

/** Open containers of the value being skipped (`{` or `[` per level): one stack, no recursion. */
const open = new Uint8Array(MAX_JSON_DEPTH + 2);

function skipScalar(s: string, i: number, c: number): number {
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return scanNumber(s, i);
  if (c === 0x74) return expectWord(s, i, 'true');
  if (c === 0x66) return expectWord(s, i, 'false');
  if (c === 0x6e) return expectWord(s, i, 'null');
  throw unexpected(s, i);
}

/**
 * Where the next backslash and the next control character are, at or after the last place asked:
 * both only move forward during one flatten, so finding them costs one pass over the text in all.
 * Reset by {@link flatten} before each scan.
 */
const ahead = { backslash: -1, control: -1 };
// eslint-disable-next-line no-control-regex -- RFC 8259 §7: raw control characters may not appear in strings; this finds them.
const CONTROL = /[\u0000-\u001f]/g;

/**
 * Skips a string whose opening quote is at `k - 1` (validating it): `indexOf` finds the closing quote,
 * and the memo above proves that no escape or control character lies before it. Strings that have one
 * take the character-by-character path.
 */
function skipStringFast(s: string, k: number): number {
  const quote = s.indexOf('"', k);
  if (quote >= 0) {
    if (ahead.backslash < k) {
      const at = s.indexOf('\\', k);
      ahead.backslash = at < 0 ? Infinity : at;
    }
    if (ahead.control < k) {
      CONTROL.lastIndex = k;
      const found = CONTROL.exec(s);
      ahead.control = found === null ? Infinity : found.index;
    }
    if (quote < ahead.backslash && quote < ahead.control) return quote + 1;
  }
  return skipString(s, k);
}

/** `"key" :` at `k`, with the whitespace after it; returns the index of the value. */
function skipKey(s: string, k: number): number {
  if (s.charCodeAt(k) !== 0x22) throw unexpected(s, k);
  k = skipStringFast(s, k + 1);
  if (s.charCodeAt(k) <= 0x20) k = skipWs(s, k);
  if (s.charCodeAt(k) !== 0x3a) throw unexpected(s, k);
  k++;
  return s.charCodeAt(k) <= 0x20 ? skipWs(s, k) : k;
}

/**
 * Validates and skips the value at `i` (strict JSON), returning the index after it. Skipped subtrees
 * are most of an event, so this is the flattener's hottest loop: iterative, with whitespace checks
 * inlined.
 */
function skipValue(s: string, i: number, depth: number): number {
  let c = s.charCodeAt(i);
  if (c === 0x22) return skipStringFast(s, i + 1);
  if (c !== 0x7b && c !== 0x5b) return skipScalar(s, i, c);
  let sp = 0;
  let k = i;
  for (;;) {
    // A value starts at `k` with `c`.
    if (c === 0x7b || c === 0x5b) {
      if (depth + sp >= MAX_JSON_DEPTH) throw new JsonSyntaxError(`Nesting deeper than ${MAX_JSON_DEPTH}`, k);
      open[sp++] = c;
      k++;
      if (s.charCodeAt(k) <= 0x20) k = skipWs(s, k);
      const closer = c === 0x7b ? 0x7d : 0x5d;
      if (s.charCodeAt(k) === closer) {
        k++;
        sp--;
      } else {
        if (c === 0x7b) k = skipKey(s, k);
        c = s.charCodeAt(k);
        continue;
      }
    } else {
      k = c === 0x22 ? skipStringFast(s, k + 1) : skipScalar(s, k, c);
    }
    // After a value: a comma starts the next member, closers end containers.
    for (;;) {
      if (sp === 0) return k;
      if (s.charCodeAt(k) <= 0x20) k = skipWs(s, k);
      c = s.charCodeAt(k);
      const inObject = open[sp - 1] === 0x7b;
      if (c === 0x2c) {
        k++;
        if (s.charCodeAt(k) <= 0x20) k = skipWs(s, k);
        if (inObject) k = skipKey(s, k);
        c = s.charCodeAt(k);
        break;
      }
      if (c !== (inObject ? 0x7d : 0x5d)) throw unexpected(s, k);
      k++;
      sp--;
    }
  }
}

class TextFlattener {
  private readonly cursor = { end: 0 };
  constructor(
    private readonly s: string,
    private readonly out: Collector,
  ) {}

  /** Object whose `{` is at `i`; returns the index after its `}`. */
  object(i: number, node: PathNode, mem: Membership | null, depth: number): number {
    const s = this.s;
    if (depth > MAX_JSON_DEPTH) throw new JsonSyntaxError(`Nesting deeper than ${MAX_JSON_DEPTH}`, i);
    let k = skipWs(s, i + 1);
    if (s.charCodeAt(k) === 0x7d) return k + 1;
    for (;;) {
      if (s.charCodeAt(k) !== 0x22) throw unexpected(s, k);
      // Most keys hold no escape and no dot: find the closing quote and compare in place.
      const start = k + 1;
      let end = start;
      let c = s.charCodeAt(end);
      while (c !== 0x22 && c !== 0x5c && c !== 0x2e && c >= 0x20) c = s.charCodeAt(++end);
      let next: PathNode | undefined;
      if (c === 0x22) {
        next = node.children === undefined ? undefined : childAt(node, s, start, end - start);
        k = end + 1;
      } else {
        next = child(node, readString(s, start, this.cursor));
        k = this.cursor.end;
      }
      if (s.charCodeAt(k) <= 0x20) k = skipWs(s, k);
      if (s.charCodeAt(k) !== 0x3a) throw unexpected(s, k);
      k = k + 1;
      if (s.charCodeAt(k) <= 0x20) k = skipWs(s, k);
      k = next === undefined ? skipValue(s, k, depth + 1) : this.value(k, next, mem, depth + 1);
      if (s.charCodeAt(k) <= 0x20) k = skipWs(s, k);
      const d = s.charCodeAt(k);
      if (d === 0x7d) return k + 1;
      if (d !== 0x2c) throw unexpected(s, k);
      k = k + 1;
      if (s.charCodeAt(k) <= 0x20) k = skipWs(s, k);
    }
  }

  /** Value at `i` belonging to the path of `node`; returns the index after it. */
  value(i: number, node: PathNode, mem: Membership | null, depth: number): number {
    const s = this.s;
    const c = s.charCodeAt(i);
    if (c === 0x7b) return node.children === undefined ? skipValue(s, i, depth) : this.object(i, node, mem, depth);
    if (c === 0x5b) return this.array(i, node, mem, depth);
    const slot = node.slot;
    if (c === 0x22) {
      const text = readString(s, i + 1, this.cursor);
      if (slot !== undefined) this.out.add(slot, STRING, text, NaN, mem);
      return this.cursor.end;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const end = scanNumber(s, i);
      if (slot !== undefined) {
        const text = s.slice(i, end);
        this.out.add(slot, NUMBER, text, comparableValue(text) ?? NaN, mem);
      }
      return end;
    }
    let kind: LeafKind;
    let end: number;
    if (c === 0x74) {
      end = expectWord(s, i, 'true');
      kind = TRUE;
    } else if (c === 0x66) {
      end = expectWord(s, i, 'false');
      kind = FALSE;
    } else if (c === 0x6e) {
      end = expectWord(s, i, 'null');
      kind = NULL;
    } else {
      throw unexpected(s, i);
    }
    if (slot !== undefined) this.out.add(slot, kind, WORDS[kind], NaN, mem);
    return end;
  }

  /**
   * Array whose `[` is at `i`. Scalars keep the membership of the enclosing element; objects (and
   * nested arrays) get this array's id and their index, for array consistency (spec §3).
   */
  array(i: number, node: PathNode, mem: Membership | null, depth: number): number {
    const s = this.s;
    if (depth > MAX_JSON_DEPTH) throw new JsonSyntaxError(`Nesting deeper than ${MAX_JSON_DEPTH}`, i);
    const id = this.out.arrays++;
    let k = skipWs(s, i + 1);
    if (s.charCodeAt(k) === 0x5d) return k + 1;
    for (let index = 0; ; index++) {
      const c = s.charCodeAt(k);
      const inner = c === 0x7b || c === 0x5b ? { array: id, index, parent: mem } : mem;
      k = skipWs(s, this.value(k, node, inner, depth + 1));
      const d = s.charCodeAt(k);
      if (d === 0x5d) return k + 1;
      if (d !== 0x2c) throw unexpected(s, k);
      k = skipWs(s, k + 1);
    }
  }
}

const WORDS: Record<LeafKind, string> = {
  [STRING]: '',
  [NUMBER]: '',
  [TRUE]: 'true',
  [FALSE]: 'false',
  [NULL]: 'null',
};

function flattenObjectValue(v: unknown, node: PathNode, mem: Membership | null, out: Collector, depth: number): void {
  if (depth > MAX_JSON_DEPTH)
    throw new BusError('INVALID_JSON', `Event nesting deeper than ${MAX_JSON_DEPTH} (or a cycle)`);
  if (v === null || v === undefined) {
    if (v === null && node.slot !== undefined) out.add(node.slot, NULL, 'null', NaN, mem);
    return;
  }
  switch (typeof v) {
    case 'string':
      if (node.slot !== undefined) out.add(node.slot, STRING, v, NaN, mem);
      return;
    case 'number':
    case 'bigint': {
      if (typeof v === 'number' && !Number.isFinite(v))
        throw new BusError('INVALID_JSON', `Event value ${v} is not a JSON number`);
      const text = String(v);
      if (node.slot !== undefined)
        out.add(node.slot, NUMBER, text, typeof v === 'number' ? v + 0 : (comparableValue(text) ?? NaN), mem);
      return;
    }
    case 'boolean':
      if (node.slot !== undefined) out.add(node.slot, v ? TRUE : FALSE, v ? 'true' : 'false', NaN, mem);
      return;
    case 'object': {
      if (Array.isArray(v)) {
        const id = out.arrays++;
        v.forEach((item: unknown, index) => {
          const inner = item !== null && typeof item === 'object' ? { array: id, index, parent: mem } : mem;
          flattenObjectValue(item, node, inner, out, depth + 1);
        });
        return;
      }
      if (node.children === undefined) return;
      for (const key of Object.keys(v)) {
        const next = child(node, key);
        if (next !== undefined) flattenObjectValue((v as Record<string, unknown>)[key], next, mem, out, depth + 1);
      }
      return;
    }
    default:
      return;
  }
}

/**
 * Flattens `event` (JSON text or a parsed object) along the paths of `root`.
 * @throws BusError `INVALID_JSON` for malformed text, `INVALID_EVENT` when the event is not an object.
 */
export function flatten(event: string | object, root: PathNode): Flattened {
  const out = new Collector();
  if (typeof event === 'string') {
    ahead.backslash = -1;
    ahead.control = -1;
    const start = skipWs(event, 0);
    if (event.charCodeAt(start) !== 0x7b) {
      if (start >= event.length) throw new BusError('INVALID_JSON', 'Event is empty: expected a JSON object');
      notAnObject();
    }
    try {
      const end = skipWs(event, new TextFlattener(event, out).object(start, root, null, 0));
      if (end < event.length) throw new JsonSyntaxError('Unexpected content after the JSON value', end);
    } catch (err) {
      if (err instanceof JsonSyntaxError)
        throw new BusError('INVALID_JSON', `Event is not valid JSON: ${err.message}`, { cause: err });
      throw err;
    }
  } else {
    if (event === null || typeof event !== 'object' || Array.isArray(event)) notAnObject();
    flattenObjectValue(event, root, null, out, 0);
  }
  return out;
}

function notAnObject(): never {
  throw new BusError('INVALID_EVENT', 'Event must be a JSON object');
}
