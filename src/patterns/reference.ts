/**
 * A deliberately simple reference matcher for differential tests of {@link PatternIndex} and
 * `matchesPattern`: it parses the whole event into a tree, lists every leaf with its full array
 * position, and searches assignments condition by condition with no index, trie or shortcut.
 * It shares the compiler and the string/number/IP primitives with the fast path, but tests matchers
 * with the switch-based `testCondition` rather than the compiled closures.
 */
import { parseJson, type JsonNode } from './json.js';
import { comparableValue } from './numbers.js';
import { compilePattern, type PatternInput } from './compile.js';
import { FALSE, NULL, NUMBER, STRING, TRUE, testCondition, type Leaf, type Membership, type SubRule } from './model.js';

interface Field {
  readonly path: string;
  readonly leaf: Leaf;
}

function leafOf(node: JsonNode, mem: Membership | null): Leaf | undefined {
  switch (node.t) {
    case 'string':
      return { kind: STRING, text: node.value, num: NaN, mem, ip: undefined };
    case 'number':
      return { kind: NUMBER, text: node.raw, num: comparableValue(node.raw) ?? NaN, mem, ip: undefined };
    case 'boolean':
      return { kind: node.value ? TRUE : FALSE, text: String(node.value), num: NaN, mem, ip: undefined };
    case 'null':
      return { kind: NULL, text: 'null', num: NaN, mem, ip: undefined };
    default:
      return undefined;
  }
}

/** Every leaf of the event. Paths join keys with dots, as event-ruler's `Event` names fields. */
export function allFields(event: JsonNode): Field[] {
  const out: Field[] = [];
  let arrays = 0;
  const visit = (node: JsonNode, path: string | undefined, mem: Membership | null): void => {
    if (node.t === 'object') {
      for (const [key, value] of node.entries) visit(value, path === undefined ? key : `${path}.${key}`, mem);
    } else if (node.t === 'array') {
      const id = arrays++;
      node.items.forEach((item, index) => {
        const inner = item.t === 'object' || item.t === 'array' ? { array: id, index, parent: mem } : mem;
        visit(item, path, inner);
      });
    } else if (path !== undefined) {
      out.push({ path, leaf: leafOf(node, mem)! });
    }
  };
  visit(event, undefined, null);
  return out;
}

function chain(mem: Membership | null): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let m = mem; m !== null; m = m.parent) out.push([m.array, m.index]);
  return out;
}

function search(rule: SubRule, i: number, fields: Field[], fixed: ReadonlyMap<number, number>): boolean {
  const c = rule.conditions[i];
  if (c === undefined) return true;
  const here = c.steps === null ? [] : fields.filter((f) => f.path === c.path);
  const consistent = here.filter((f) => chain(f.leaf.mem).every(([a, idx]) => (fixed.get(a) ?? idx) === idx));
  for (const f of consistent) {
    if (!testCondition(c, f.leaf)) continue;
    const next = new Map(fixed);
    for (const [a, idx] of chain(f.leaf.mem)) next.set(a, idx);
    if (search(rule, i + 1, fields, next)) return true;
  }
  return c.absentOk && consistent.length === 0 && search(rule, i + 1, fields, fixed);
}

/** Whether `eventJson` matches `pattern`, computed the slow, obvious way. */
export function referenceMatches(pattern: PatternInput, eventJson: string): boolean {
  const tree = parseJson(eventJson);
  if (tree.t !== 'object') throw new Error('Event must be a JSON object');
  const fields = allFields(tree);
  return compilePattern(pattern).some((rule) => search(rule, 0, fields, new Map()));
}
