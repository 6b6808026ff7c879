/**
 * Binding compiled sub-rules to a trie of paths, and the exact check of one sub-rule against a
 * flattened event with array consistency (spec §3).
 */
import { childList, leavesOf, type Flattened, type PathNode, type Slot } from './flatten.js';
import type { Condition, Membership, SubRule } from './model.js';

/** A condition together with the slot its leaves arrive in (`undefined`: never any leaf). */
export interface BoundCondition {
  readonly c: Condition;
  readonly slot: Slot | undefined;
}

/** A sub-rule whose conditions are bound to one trie. */
export interface BoundRule {
  readonly conditions: readonly BoundCondition[];
  readonly hasAbsent: boolean;
}

/**
 * The trie of every path the rules of one matcher test. Slots are reference-counted so that removing
 * rules prunes paths no longer tested, which keeps flattening proportional to what is still tested.
 */
export class PathTrie<S extends Slot = Slot> {
  readonly root: PathNode = { children: undefined, list: [], slot: undefined };
  private readonly refs = new Map<S, number>();

  constructor(private readonly makeSlot: (path: string) => S) {}

  /** Number of distinct paths with a slot. */
  get size(): number {
    return this.refs.size;
  }

  /**
   * The slot for `steps` (creating nodes as needed), with one more reference. `existing` places a slot
   * that another trie owns, so that two tries over the same paths share their slots.
   */
  acquire(steps: readonly string[], path: string, existing?: S): S {
    let node = this.root;
    for (const step of steps) {
      node.children ??= new Map();
      let next = node.children.get(step);
      if (next === undefined) {
        next = { children: undefined, list: [], slot: undefined };
        node.children.set(step, next);
        node.list = childList(node.children);
      }
      node = next;
    }
    node.slot ??= existing ?? this.makeSlot(path);
    const slot = node.slot as S;
    this.refs.set(slot, (this.refs.get(slot) ?? 0) + 1);
    return slot;
  }

  /** Drops one reference to the slot at `steps`, pruning nodes that no longer lead anywhere. */
  release(steps: readonly string[]): void {
    const trail: Array<[PathNode, string]> = [];
    let node = this.root;
    for (const step of steps) {
      const next = node.children?.get(step);
      if (next === undefined) return;
      trail.push([node, step]);
      node = next;
    }
    const slot = node.slot as S | undefined;
    if (slot === undefined) return;
    const count = (this.refs.get(slot) ?? 1) - 1;
    if (count > 0) {
      this.refs.set(slot, count);
      return;
    }
    this.refs.delete(slot);
    node.slot = undefined;
    for (let i = trail.length - 1; i >= 0; i--) {
      const [parent, step] = trail[i] as [PathNode, string];
      const current = parent.children?.get(step);
      if (current === undefined || current.slot !== undefined || (current.children?.size ?? 0) > 0) break;
      parent.children?.delete(step);
      parent.list = childList(parent.children);
      if (parent.children?.size === 0) parent.children = undefined;
    }
  }

  /** Binds a sub-rule's conditions to slots of this trie. */
  bind(rule: SubRule): BoundRule {
    return {
      hasAbsent: rule.hasAbsent,
      conditions: rule.conditions.map((c) => ({
        c,
        slot: c.steps === null ? undefined : this.acquire(c.steps, c.path),
      })),
    };
  }

  /** Releases what {@link bind} acquired. */
  unbind(rule: BoundRule): void {
    for (const { c } of rule.conditions) if (c.steps !== null) this.release(c.steps);
  }
}

/** Whether `rule` matches the flattened event. */
export function verify(rule: BoundRule, f: Flattened): boolean {
  // Array consistency can only bite when two conditions both see leaves inside arrays of objects.
  let inArrays = 0;
  for (const { slot } of rule.conditions) {
    if (slot !== undefined && slot.epoch === f.epoch && slot.inArrays) inArrays++;
  }
  if (inArrays < 2) {
    for (const { c, slot } of rule.conditions) {
      const leaves = leavesOf(slot, f);
      let ok = false;
      for (let i = 0; i < leaves.length; i++) {
        if (c.test(leaves[i]!)) {
          ok = true;
          break;
        }
      }
      if (!ok && !(c.absentOk && leaves.length === 0)) return false;
    }
    return true;
  }
  return walk(rule, 0, f, new Map());
}

function consistent(mem: Membership | null, fixed: Map<number, number>): boolean {
  for (let m = mem; m !== null; m = m.parent) {
    const index = fixed.get(m.array);
    if (index !== undefined && index !== m.index) return false;
  }
  return true;
}

/**
 * Depth-first over the conditions in path order, picking for each a leaf consistent with the array
 * elements fixed so far. `exists: false` holds when no leaf at its path is consistent with what is
 * fixed when its turn comes, which reproduces event-ruler's order-dependent result (spec §4.8, quirk 9).
 */
function walk(rule: BoundRule, i: number, f: Flattened, fixed: Map<number, number>): boolean {
  const bound = rule.conditions[i];
  if (bound === undefined) return true;
  const { c, slot } = bound;
  const leaves = leavesOf(slot, f);
  let anyConsistent = false;
  for (let k = 0; k < leaves.length; k++) {
    const leaf = leaves[k]!;
    if (!consistent(leaf.mem, fixed)) continue;
    anyConsistent = true;
    if (!c.test(leaf)) continue;
    const added: number[] = [];
    for (let m = leaf.mem; m !== null; m = m.parent) {
      if (!fixed.has(m.array)) {
        fixed.set(m.array, m.index);
        added.push(m.array);
      }
    }
    if (walk(rule, i + 1, f, fixed)) return true;
    for (const array of added) fixed.delete(array);
    // Another leaf can only fix more elements, which helps nothing unless an `exists: false` follows.
    if (added.length === 0 && !rule.hasAbsent) return false;
  }
  return c.absentOk && !anyConsistent && walk(rule, i + 1, f, fixed);
}
