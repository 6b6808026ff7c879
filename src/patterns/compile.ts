/**
 * Compiles an event pattern into sub-rules, accepting exactly what EventBridge (aws/event-ruler 2.0.1)
 * accepts and rejecting the rest with a message in its words (spec §2, §4, §8).
 *
 * event-ruler compiles with its `$or`-aware compiler first and, when that fails with a syntax error,
 * retries with its legacy compiler, in which `$or` is an ordinary field name (spec §4.12). We do the
 * same with one walker run in two modes; the first mode's message is the one reported.
 */
import { BusError } from '../core/errors.js';
import { JsonSyntaxError, fromJsValue, parseJson, type JsonNode } from './json.js';
import { parseCidr, ipToHex } from './ip.js';
import { comparableValue } from './numbers.js';
import { compileIgnoreCase, compileWildcard } from './strings.js';
import { compileCondition } from './predicates.js';
import { FALSE, NULL, TRUE, type Condition, type Matcher, type SubRule } from './model.js';

/** Fields (paths) one sub-rule may test; event-ruler's `MAXIMUM_RULE_SIZE`. */
export const MAX_FIELDS_PER_RULE = 256;
/** Sub-rules one pattern may expand into through `$or`; a guard against multiplicative blow-up. */
export const MAX_OR_EXPANSION = 1024;

/** Keys that may not name a field inside an `$or` branch (event-ruler `RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP`). */
const RESERVED_IN_OR = new Set([
  'exactly', 'equals-ignore-case', 'prefix', 'suffix', 'anything-but', 'exists', 'wildcard', 'numeric', 'cidr',
  '=', '<', '<=', '>', '>=', 'regex', 'not-wildcard', 'not-equals-ignore-case', 'date-after', 'date-on-or-after',
  'date-before', 'date-on-or-before', 'in-date-range', 'ip-address-in-range', 'ip-address-not-in-range',
]); // prettier-ignore

/**
 * `syntax` failures make event-ruler retry with the legacy compiler; `fatal` ones (CIDR, unrepresentable
 * numbers, limits) are final in either mode.
 */
class PatternError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly fatal = false,
  ) {
    super(message);
  }
}

type Partial = Map<string, Matcher[]>;

interface Mode {
  /** `$or` is recognised (event-ruler's JsonRuleCompiler) or a plain field name (legacy RuleCompiler). */
  readonly or: boolean;
}

/**
 * event-ruler's `Path.extendedName`: no dot after an empty base, so `{"": {"a": [...]}}` tests `a`
 * (while the event `{"": {"a": ...}}` has the field `.a`).
 */
const join = (prefix: string, key: string): string => (prefix === '' ? key : `${prefix}.${key}`);

function describe(node: JsonNode): string {
  switch (node.t) {
    case 'string':
      return JSON.stringify(node.value);
    case 'number':
      return node.raw;
    case 'boolean':
      return String(node.value);
    case 'null':
      return 'null';
    case 'array':
      return '[';
    case 'object':
      return '{';
  }
}

/** Walks an object level, extending every partial rule; returns the (possibly multiplied) partials. */
function walkObject(
  obj: Extract<JsonNode, { t: 'object' }>,
  prefix: string,
  parts: Partial[],
  mode: Mode,
  inOr: boolean,
): Partial[] {
  if (obj.entries.length === 0) throw new PatternError('Empty objects are not allowed', prefix);
  for (const [key, value] of obj.entries) {
    const path = join(prefix, key);
    if (key === '$or' && mode.or) {
      parts = walkOr(value, prefix, parts, mode, path);
      continue;
    }
    // Inside an `$or` branch, at any depth, operator names may not be field names.
    if (inOr && RESERVED_IN_OR.has(key)) {
      throw new PatternError(`${key} is Ruler reserved fieldName which cannot be used inside $or.`, path);
    }
    if (value.t === 'object') {
      parts = walkObject(value, path, parts, mode, inOr);
    } else if (value.t === 'array') {
      if (value.items.length === 0) throw new PatternError('Empty arrays are not allowed', path);
      const matchers = value.items.flatMap((item) => compileMatcher(item, path, mode));
      for (const part of parts) part.set(path, matchers);
    } else {
      throw new PatternError(`"${key}" must be an object or an array`, path);
    }
  }
  return parts;
}

/** `"$or": [branch, branch, ...]`: each partial is copied once per branch (spec §4.12). */
function walkOr(value: JsonNode, prefix: string, parts: Partial[], mode: Mode, path: string): Partial[] {
  if (value.t !== 'array') throw new PatternError('It must be an Array followed with $or.', path);
  const out: Partial[] = [];
  for (const branch of value.items) {
    if (branch.t !== 'object')
      throw new PatternError('Only JSON object is allowed in array of $or relationship.', path);
    const copies = parts.map((part) => new Map(part));
    out.push(...walkObject(branch, prefix, copies, mode, true));
    if (out.length > MAX_OR_EXPANSION) {
      throw new PatternError(`$or expands into more than ${MAX_OR_EXPANSION} combinations`, path, true);
    }
  }
  // event-ruler counts the branches after reading them, so errors inside a branch are reported first.
  if (value.items.length < 2) throw new PatternError('There must have at least 2 Objects in $or relationship.', path);
  return out;
}

function requireString(node: JsonNode, message: string, path: string): string {
  if (node.t !== 'string') throw new PatternError(message, path);
  return node.value;
}

/** The comparable double of a number node, or a fatal error (spec §4.7). */
function comparable(node: Extract<JsonNode, { t: 'number' }>, path: string): number {
  const value = comparableValue(node.raw);
  if (value === undefined) throw new PatternError(`Cannot compare number : ${node.raw}`, path, true);
  return value;
}

/** One element of a value list. */
function compileMatcher(node: JsonNode, path: string, mode: Mode): Matcher[] {
  switch (node.t) {
    case 'string': {
      const ip = ipToHex(node.value);
      return [ip === undefined ? { k: 'str', value: node.value } : { k: 'ip', range: { lo: ip, hi: ip } }];
    }
    case 'number': {
      const value = comparableValue(node.raw);
      const text: Matcher = { k: 'numText', raw: node.raw };
      return value === undefined ? [text] : [{ k: 'numEq', value }, text];
    }
    case 'boolean':
      return [{ k: 'lit', kind: node.value ? TRUE : FALSE }];
    case 'null':
      return [{ k: 'lit', kind: NULL }];
    case 'array':
      throw new PatternError('Match value must be String, number, true, false, or null', path);
    case 'object':
      return [compileExpression(node, path, mode)];
  }
}

function singleKey(
  node: Extract<JsonNode, { t: 'object' }>,
  path: string,
  notFound: string,
): readonly [string, JsonNode] {
  const first = node.entries[0];
  if (first === undefined) throw new PatternError(notFound, path);
  return first;
}

function onlyOneKey(node: Extract<JsonNode, { t: 'object' }>, path: string): void {
  if (node.entries.length > 1) throw new PatternError('Only one key allowed in match expression', path);
}

/** `{"op": value}` match expressions (spec §4.2–4.11). */
function compileExpression(node: Extract<JsonNode, { t: 'object' }>, path: string, mode: Mode): Matcher {
  const [op, value] = singleKey(node, path, 'Match expression name not found');
  let matcher: Matcher;
  switch (op) {
    case 'prefix':
    case 'suffix':
      matcher = compilePrefixSuffix(op, value, path);
      break;
    case 'equals-ignore-case':
      matcher = {
        k: 'eic',
        p: compileIgnoreCase(requireString(value, 'equals-ignore-case match pattern must be a string', path)),
      };
      break;
    case 'exactly':
      matcher = { k: 'str', value: requireString(value, 'exact match pattern must be a string', path) };
      break;
    case 'wildcard':
      matcher = {
        k: 'wildcard',
        w: wildcard(requireString(value, 'wildcard match pattern must be a string', path), path),
      };
      break;
    case 'anything-but':
      matcher = compileAnythingBut(value, path, mode);
      break;
    case 'numeric':
      matcher = compileNumeric(value, path);
      break;
    case 'exists':
      if (value.t !== 'boolean') throw new PatternError('exists match pattern must be either true or false.', path);
      matcher = { k: 'exists', value: value.value };
      break;
    case 'cidr': {
      const text = requireString(value, 'cidr match pattern must be a string', path);
      try {
        matcher = { k: 'ip', range: parseCidr(text) };
      } catch (err) {
        throw new PatternError((err as Error).message, path, true);
      }
      break;
    }
    default:
      throw new PatternError(`Unrecognized match type ${op}`, path);
  }
  onlyOneKey(node, path);
  return matcher;
}

function wildcard(text: string, path: string): ReturnType<typeof compileWildcard> {
  try {
    return compileWildcard(text);
  } catch (err) {
    throw new PatternError((err as Error).message, path);
  }
}

function compilePrefixSuffix(op: 'prefix' | 'suffix', value: JsonNode, path: string): Matcher {
  if (value.t === 'string')
    return op === 'prefix' ? { k: 'prefix', value: value.value } : { k: 'suffix', value: value.value };
  if (value.t !== 'object') throw new PatternError(`${op} match pattern must be a string`, path);
  const name = op === 'prefix' ? 'Prefix' : 'Suffix';
  const [inner, text] = singleKey(value, path, `${name} expression name not found`);
  if (inner !== 'equals-ignore-case') throw new PatternError(`Unsupported ${op} pattern: ${inner}`, path);
  const p = compileIgnoreCase(requireString(text, 'equals-ignore-case match pattern must be a string', path));
  onlyOneKey(value, path);
  return op === 'prefix' ? { k: 'prefixEic', p } : { k: 'suffixEic', p };
}

/** The anything-but family (spec §4.6). */
function compileAnythingBut(value: JsonNode, path: string, mode: Mode): Matcher {
  switch (value.t) {
    case 'string':
      return { k: 'abStr', values: new Set([value.value]) };
    case 'number':
      return { k: 'abNum', values: new Set([comparable(value, path)]) };
    case 'array': {
      const items = value.items;
      if (items.some((i) => i.t !== 'string' && i.t !== 'number')) {
        throw new PatternError('Inside anything but list, start|null|boolean is not supported.', path);
      }
      const strings = items.filter((i) => i.t === 'string');
      if (items.length === 0 || (strings.length > 0 && strings.length < items.length)) {
        throw new PatternError(
          'Inside anything but list, either all values are number or string, mixed type is not supported',
          path,
        );
      }
      if (strings.length > 0) return { k: 'abStr', values: new Set(strings.map((s) => s.value)) };
      return {
        k: 'abNum',
        values: new Set(items.map((i) => comparable(i as Extract<JsonNode, { t: 'number' }>, path))),
      };
    }
    case 'object':
      return compileAnythingButExpression(value, path, mode);
    default:
      throw new PatternError('Value of anything-but must be an array or single string/number value.', path);
  }
}

function compileAnythingButExpression(node: Extract<JsonNode, { t: 'object' }>, path: string, mode: Mode): Matcher {
  const [op, value] = singleKey(node, path, 'Anything-But expression name not found');
  const texts = (message: string, nonEmpty: boolean): string[] => {
    // The legacy compiler takes a single prefix/suffix only.
    if (value.t === 'array' && nonEmpty && !mode.or) throw new PatternError(message, path);
    const list = value.t === 'array' ? value.items : [value];
    if (list.length === 0) throw new PatternError(`Empty arrays are not allowed in anything-but ${op}`, path);
    return list.map((item) => {
      const text = requireString(item, message, path);
      if (nonEmpty && text === '') throw new PatternError('Null prefix/suffix not allowed', path);
      return text;
    });
  };
  let matcher: Matcher;
  switch (op) {
    case 'prefix':
      matcher = { k: 'abPrefix', values: texts('prefix/suffix match pattern must be a string', true) };
      break;
    case 'suffix':
      matcher = { k: 'abSuffix', values: texts('prefix/suffix match pattern must be a string', true) };
      break;
    case 'equals-ignore-case':
      matcher = {
        k: 'abEic',
        values: texts(
          'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.',
          false,
        ).map(compileIgnoreCase),
      };
      break;
    case 'wildcard':
      if (!mode.or) throw new PatternError('Unsupported anything-but pattern: wildcard', path);
      matcher = {
        k: 'abWildcard',
        values: texts('wildcard match pattern must be a string', false).map((t) => wildcard(t, path)),
      };
      break;
    default:
      throw new PatternError(`Unsupported anything-but pattern: ${op}`, path);
  }
  onlyOneKey(node, path);
  return matcher;
}

const LOWER_OPS = new Set(['>', '>=']);
const UPPER_OPS = new Set(['<', '<=']);

/** `{"numeric": [op, n]}` and `{"numeric": [">"|">=", lo, "<"|"<=", hi]}` (spec §4.7). */
function compileNumeric(value: JsonNode, path: string): Matcher {
  if (value.t !== 'array') throw new PatternError('Value of numeric must be an array.', path);
  const items = value.items;
  const operator = (i: number): string => {
    const item = items[i];
    if (item === undefined || item.t !== 'string') {
      throw new PatternError(`Invalid member in numeric match: ${item === undefined ? ']' : describe(item)}`, path);
    }
    const op = item.value;
    if (op !== '=' && !LOWER_OPS.has(op) && !UPPER_OPS.has(op)) {
      throw new PatternError(`Unrecognized numeric range operator: ${op}`, path);
    }
    return op;
  };
  const operand = (i: number, op: string): number => {
    const item = items[i];
    if (item === undefined || item.t !== 'number') {
      throw new PatternError(`Value of ${op === '=' ? 'equals' : op} must be numeric`, path);
    }
    return comparable(item, path);
  };
  const first = operator(0);
  const a = operand(1, first);
  if (first === '=') {
    if (items.length > 2) throw new PatternError('Too many elements in numeric expression', path);
    return { k: 'range', lo: a, loIncl: true, hi: a, hiIncl: true };
  }
  if (UPPER_OPS.has(first)) {
    if (items.length > 2) throw new PatternError('Too many elements in numeric expression', path);
    return checkedRange({ k: 'range', lo: -Infinity, loIncl: false, hi: a, hiIncl: first === '<=' }, path);
  }
  if (items.length === 2) {
    return checkedRange({ k: 'range', lo: a, loIncl: first === '>=', hi: Infinity, hiIncl: false }, path);
  }
  const second = operator(2);
  if (!UPPER_OPS.has(second)) throw new PatternError(`Bad numeric range operator: ${second}`, path);
  const b = operand(3, second);
  if (items.length > 4) throw new PatternError('Too many terms in numeric range expression', path);
  if (!(a < b)) throw new PatternError('Bottom must be less than top', path);
  return { k: 'range', lo: a, loIncl: first === '>=', hi: b, hiIncl: second === '<=' };
}

/**
 * One-sided ranges that are empty because their bound is the largest double in the "open" direction
 * crash event-ruler's `addRule`; they are rejected here with a clear message instead (spec §4.7).
 */
function checkedRange(m: Extract<Matcher, { k: 'range' }>, path: string): Matcher {
  const empty = (m.lo === Number.MAX_VALUE && m.hi === Infinity) || (m.hi === -Number.MAX_VALUE && m.lo === -Infinity);
  if (empty) {
    throw new PatternError(
      'A one-sided numeric range cannot start or end at the largest double (±1.7976931348623157e308)',
      path,
      true,
    );
  }
  return m;
}

/** Java `String.split("\\.")`: trailing empty strings are dropped, so a nested empty last key is unreachable. */
function stepsOf(path: string): string[] | null {
  const steps = path.split('.');
  if (path === '') return steps;
  while (steps.length > 0 && steps[steps.length - 1] === '') steps.pop();
  return steps.join('.') === path ? steps : null;
}

function toSubRule(part: Partial, where: string): SubRule {
  if (part.size > MAX_FIELDS_PER_RULE) {
    throw new PatternError(`Pattern tests more than ${MAX_FIELDS_PER_RULE} fields`, where, true);
  }
  const conditions: Condition[] = [...part]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, matchers]) => ({
      path,
      steps: stepsOf(path),
      matchers,
      test: compileCondition(matchers),
      absentOk: matchers.some((m) => m.k === 'exists' && !m.value),
    }));
  return { conditions, hasAbsent: conditions.some((c) => c.absentOk) };
}

function compileTree(root: JsonNode, mode: Mode): SubRule[] {
  if (root.t !== 'object') throw new PatternError('Filter is not an object', '');
  return walkObject(root, '', [new Map<string, Matcher[]>()], mode, false).map((part) => toSubRule(part, ''));
}

function invalid(message: string, path: string, cause?: unknown): BusError {
  const where = path === '' ? '' : ` (at ${JSON.stringify(path)})`;
  return new BusError('INVALID_PATTERN', `Event pattern is not valid. Reason: ${message}${where}`, {
    cause,
    details: { path, reason: message },
  });
}

/** A pattern as accepted by the public API: JSON text or an already-parsed value. */
export type PatternInput = string | object;

/**
 * Compiles a pattern into its sub-rules.
 * @throws BusError `INVALID_PATTERN` naming the offending path and the reason.
 */
export function compilePattern(pattern: PatternInput): SubRule[] {
  let tree: JsonNode;
  if (typeof pattern === 'string') {
    try {
      tree = parseJson(pattern);
    } catch (err) {
      if (err instanceof JsonSyntaxError) throw invalid(`Malformed JSON: ${err.message}`, '', err);
      throw err;
    }
  } else {
    try {
      tree = fromJsValue(pattern);
    } catch (err) {
      throw invalid((err as Error).message, '', err);
    }
  }
  try {
    return compileTree(tree, { or: true });
  } catch (first) {
    if (!(first instanceof PatternError)) throw first;
    if (!first.fatal) {
      try {
        return compileTree(tree, { or: false });
      } catch (legacy) {
        if (!(legacy instanceof PatternError)) throw legacy;
      }
    }
    throw invalid(first.message, first.path, first);
  }
}
