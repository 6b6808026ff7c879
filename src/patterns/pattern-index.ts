/**
 * Many patterns compiled together. Each sub-rule is filed under one *access condition*: the condition
 * whose matchers can be looked up most selectively from an event value (exact values in hash maps,
 * prefixes and suffixes by length, numeric and CIDR ranges in interval trees, and only as a last resort
 * "any value at this path"). Matching flattens the event once along the tested paths, collects the
 * sub-rules whose access condition fired, and verifies just those. The cost therefore follows the event's
 * size and the number of candidates (close to the number of matches), not the number of rules — the
 * property event-ruler gets from its automaton (spec §10).
 */
import { BusError, describeValue } from '../core/errors.js';
import { compilePattern, type PatternInput } from './compile.js';
import { flatten, type Flattened, type Slot } from './flatten.js';
import { IntervalSet, type Interval } from './intervals.js';
import { NUMBER, STRING, leafIp, type Condition, type Leaf, type Matcher } from './model.js';
import { PathTrie, verify, type BoundRule } from './verify.js';

interface RuleEntry {
  readonly id: string;
  readonly subs: SubEntry[];
  matched: number;
}

interface SubEntry {
  readonly owner: RuleEntry;
  readonly rule: BoundRule;
  /** Epoch of the last match in which this sub-rule became a candidate. */
  seen: number;
  /** How to undo the filing (run on removal and before re-filing). */
  readonly unfile: Array<() => void>;
}

/** Keys of one length looked up by slicing the value (prefixes, suffixes, literal wildcard ends). */
class ByLength {
  private readonly maps = new Map<number, Map<string, SubEntry[]>>();
  private lengths: number[] = [];

  bucket(key: string): SubEntry[] {
    let map = this.maps.get(key.length);
    if (map === undefined) {
      map = new Map();
      this.maps.set(key.length, map);
      this.lengths = [...this.maps.keys()].sort((a, b) => a - b);
    }
    return bucket(map, key);
  }

  size(key: string): number {
    return this.maps.get(key.length)?.get(key)?.length ?? 0;
  }

  remove(key: string, sub: SubEntry): void {
    const map = this.maps.get(key.length);
    if (map === undefined) return;
    removeFrom(map, key, sub);
    if (map.size === 0) {
      this.maps.delete(key.length);
      this.lengths = [...this.maps.keys()].sort((a, b) => a - b);
    }
  }

  collect(value: string, fromEnd: boolean, hit: (sub: SubEntry) => void): void {
    const lengths = this.lengths;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i]!;
      if (len > value.length) return;
      const key = fromEnd ? value.slice(value.length - len) : value.slice(0, len);
      const subs = this.maps.get(len)!.get(key);
      if (subs !== undefined) for (let k = 0; k < subs.length; k++) hit(subs[k]!);
    }
  }
}

function bucket<K>(map: Map<K, SubEntry[]>, key: K): SubEntry[] {
  let list = map.get(key);
  if (list === undefined) {
    list = [];
    map.set(key, list);
  }
  return list;
}

function removeFrom<K>(map: Map<K, SubEntry[]>, key: K, sub: SubEntry): void {
  const list = map.get(key);
  if (list === undefined) return;
  const at = list.indexOf(sub);
  if (at >= 0) list.splice(at, 1);
  if (list.length === 0) map.delete(key);
}

/** What one tested path knows about the sub-rules filed under it. */
class PathSlot implements Slot {
  leaves: Leaf[] = [];
  epoch = 0;
  inArrays = false;
  readonly strings = new Map<string, SubEntry[]>();
  readonly numTexts = new Map<string, SubEntry[]>();
  readonly numbers = new Map<number, SubEntry[]>();
  readonly literals = new Map<number, SubEntry[]>();
  readonly prefixes = new ByLength();
  readonly suffixes = new ByLength();
  readonly ranges = new IntervalSet<number, SubEntry>();
  readonly ipv4 = new IntervalSet<string, SubEntry>();
  readonly ipv6 = new IntervalSet<string, SubEntry>();
  readonly presence: SubEntry[] = [];
  /**
   * How often each value (by {@link statKey}) occurs in the conditions of every rule on this path,
   * filed here or not: the estimate of how often an event carries that value.
   */
  readonly stats = new Map<string, number>();
  statsTotal = 0;

  constructor(readonly path: string) {}

  /** Estimated probability that an event's value here satisfies `m`. */
  chance(m: Matcher): number {
    const key = statKey(m);
    if (key === undefined) return m.k === 'range' || m.k === 'ip' ? RANGE_CHANCE : 1;
    return (this.stats.get(key) ?? 1) / Math.max(1, this.statsTotal);
  }

  count(m: Matcher, delta: 1 | -1): void {
    const key = statKey(m);
    if (key === undefined) return;
    const next = (this.stats.get(key) ?? 0) + delta;
    if (next > 0) this.stats.set(key, next);
    else this.stats.delete(key);
    this.statsTotal += delta;
  }

  collect(leaf: Leaf, hit: (sub: SubEntry) => void): void {
    let subs: SubEntry[] | undefined;
    switch (leaf.kind) {
      case STRING: {
        const text = leaf.text;
        subs = this.strings.get(text);
        if (subs !== undefined) for (let k = 0; k < subs.length; k++) hit(subs[k]!);
        this.prefixes.collect(text, false, hit);
        this.suffixes.collect(text, true, hit);
        if (this.ipv4.size + this.ipv6.size > 0) {
          const ip = leafIp(leaf);
          if (ip !== null) {
            this.ipv4.stab(ip.slice(0, 8), hit);
            if (ip.length === 32) this.ipv6.stab(ip, hit);
          }
        }
        return;
      }
      case NUMBER:
        subs = this.numTexts.get(leaf.text);
        if (subs !== undefined) for (let k = 0; k < subs.length; k++) hit(subs[k]!);
        if (leaf.num === leaf.num) {
          subs = this.numbers.get(leaf.num);
          if (subs !== undefined) for (let k = 0; k < subs.length; k++) hit(subs[k]!);
          if (this.ranges.size > 0) this.ranges.stab(leaf.num, hit);
        }
        return;
      default:
        subs = this.literals.get(leaf.kind);
        if (subs !== undefined) for (let k = 0; k < subs.length; k++) hit(subs[k]!);
    }
  }
}

/** Cost of filing under "any value at this path": above every keyed estimate (those are at most 1 each). */
const PRESENCE_COST = 1_000_000;
/** Assumed share of events a numeric or CIDR range admits; no statistics say better. */
const RANGE_CHANCE = 0.2;
/** Re-file every sub-rule when the index reaches this many patterns, then at each doubling. */
const FIRST_REFILE = 32;

/** The statistics key of a keyed matcher; `undefined` for ranges and presence-only kinds. */
function statKey(m: Matcher): string | undefined {
  switch (m.k) {
    case 'str':
      return `s${m.value}`;
    case 'numText':
      return `t${m.raw}`;
    case 'numEq':
      return `n${m.value}`;
    case 'lit':
      return `l${m.kind}`;
    case 'ip':
      return m.range.lo === m.range.hi ? `i${m.range.lo}` : undefined;
    case 'prefix':
      return `p${m.value}`;
    case 'suffix':
      return `x${m.value}`;
    case 'eic':
    case 'prefixEic':
    case 'suffixEic':
      return `e${m.k}${m.p.text.toLowerCase()}`;
    case 'wildcard':
      return `w${m.w.text}`;
    default:
      return undefined;
  }
}

/** Up to `limit` leading (or trailing) units of every case variant of an equals-ignore-case text. */
function caseVariants(
  m: Extract<Matcher, { k: 'eic' | 'prefixEic' | 'suffixEic' }>,
  limit: number,
): string[] | undefined {
  const alts = m.k === 'suffixEic' ? m.p.alts.slice(-limit) : m.p.alts.slice(0, limit);
  if (m.p.text.includes('"')) return undefined;
  let keys = [''];
  for (const [lo, up] of alts) keys = keys.flatMap((k) => (lo === up ? [k + lo] : [k + lo, k + up]));
  return keys;
}

/**
 * Many patterns, matched together.
 *
 * @example
 * ```ts
 * const index = new PatternIndex();
 * index.add('ec2-running', { source: ['aws.ec2'], detail: { state: ['running'] } });
 * index.match('{"source":"aws.ec2","detail":{"state":"running"}}'); // ['ec2-running']
 * ```
 */
export class PatternIndex {
  /** Every path any condition tests: what verification needs. */
  private readonly trie = new PathTrie((path) => new PathSlot(path));
  /**
   * Only the paths sub-rules are filed under (sharing the full trie's slots): what finding candidates
   * needs. When it is much smaller and most events yield no candidate, the first scan uses it and the
   * full scan runs only for events that have candidates to verify.
   */
  private readonly accessTrie = new PathTrie<PathSlot>(() => {
    throw new Error('access paths always reuse a slot of the full trie');
  });
  /** Moving average of the share of events that produce candidates. */
  private candidateRate = 1;
  private readonly rules = new Map<string, RuleEntry>();
  /** Sub-rules with no condition that needs a value (only `exists: false`): always verified. */
  private readonly always: SubEntry[] = [];
  private scratch: SubEntry[] = [];
  private nextRefile = FIRST_REFILE;

  /** Number of patterns in the index. */
  get size(): number {
    return this.rules.size;
  }

  /** Whether a pattern is stored under `id`. */
  has(id: string): boolean {
    return this.rules.has(id);
  }

  /**
   * Adds (or replaces) the pattern stored under `id`.
   * @throws BusError `INVALID_PATTERN` for an invalid pattern; the index is then unchanged.
   */
  add(id: string, pattern: PatternInput): void {
    if (typeof id !== 'string') {
      throw new BusError('INVALID_ARGUMENT', `Expected \`id\` to be a string, got ${describeValue(id)}`);
    }
    const subRules = compilePattern(pattern);
    this.remove(id);
    const entry: RuleEntry = { id, subs: [], matched: 0 };
    for (const sub of subRules) {
      const rule = this.trie.bind(sub);
      this.count(rule, 1);
      const subEntry: SubEntry = { owner: entry, rule, seen: 0, unfile: [] };
      this.file(subEntry);
      entry.subs.push(subEntry);
    }
    this.rules.set(id, entry);
    // Early filings were chosen with little statistics; re-file everything at each doubling so that
    // every sub-rule sits under its most selective condition (amortised O(1) per add).
    if (this.rules.size >= this.nextRefile) {
      this.nextRefile *= 2;
      for (const e of this.rules.values()) {
        for (const sub of e.subs) {
          for (const undo of sub.unfile.splice(0)) undo();
          this.file(sub);
        }
      }
    }
  }

  private count(rule: BoundRule, delta: 1 | -1): void {
    for (const { c, slot } of rule.conditions) {
      if (slot !== undefined) for (const m of c.matchers) (slot as PathSlot).count(m, delta);
    }
  }

  /** Removes the pattern stored under `id`; returns whether there was one. */
  remove(id: string): boolean {
    const entry = this.rules.get(id);
    if (entry === undefined) return false;
    for (const sub of entry.subs) {
      for (const undo of sub.unfile) undo();
      this.count(sub.rule, -1);
      this.trie.unbind(sub.rule);
    }
    this.rules.delete(id);
    return true;
  }

  /**
   * The ids of every pattern that matches `event` (JSON text, whose number spellings are kept, or a
   * parsed object), each once, in no particular order.
   * @throws BusError `INVALID_JSON` or `INVALID_EVENT` when the event is not a JSON object.
   */
  match(event: string | object): string[] {
    const twoPass = this.candidateRate < 0.5 && this.accessTrie.size * 2 <= this.trie.size;
    let f = flatten(event, twoPass ? this.accessTrie.root : this.trie.root);
    const epoch = f.epoch;
    const candidates = this.scratch;
    candidates.length = 0;
    const hit = (sub: SubEntry): void => {
      if (sub.seen !== epoch) {
        sub.seen = epoch;
        candidates.push(sub);
      }
    };
    for (const slot of f.touched as PathSlot[]) {
      const leaves = slot.leaves;
      for (let i = 0; i < leaves.length; i++) slot.collect(leaves[i]!, hit);
      const presence = slot.presence;
      for (let i = 0; i < presence.length; i++) hit(presence[i]!);
    }
    for (let i = 0; i < this.always.length; i++) hit(this.always[i]!);
    this.candidateRate = this.candidateRate * 0.98 + (candidates.length > 0 ? 0.02 : 0);
    if (candidates.length === 0) return [];
    if (twoPass) f = flatten(event, this.trie.root);
    return this.verifyCandidates(candidates, f);
  }

  private verifyCandidates(candidates: SubEntry[], f: Flattened): string[] {
    const out: string[] = [];
    for (let i = 0; i < candidates.length; i++) {
      const sub = candidates[i]!;
      const owner = sub.owner;
      if (owner.matched === f.epoch) continue;
      if (verify(sub.rule, f)) {
        owner.matched = f.epoch;
        out.push(owner.id);
      }
    }
    candidates.length = 0;
    return out;
  }

  /** Files a sub-rule under its cheapest access condition. */
  private file(sub: SubEntry): void {
    let best: { cost: number; slot: PathSlot; c: Condition } | undefined;
    for (const { c, slot } of sub.rule.conditions) {
      if (c.absentOk) continue;
      // A required path that no event can have: the sub-rule can never match, so file it nowhere.
      if (slot === undefined) return;
      const cost = this.costOf(c, slot as PathSlot);
      if (best === undefined || cost < best.cost) best = { cost, slot: slot as PathSlot, c };
    }
    if (best === undefined) {
      this.always.push(sub);
      sub.unfile.push(() => this.always.splice(this.always.indexOf(sub), 1));
      return;
    }
    const { slot, c } = best;
    const steps = c.steps!;
    this.accessTrie.acquire(steps, c.path, slot);
    sub.unfile.push(() => this.accessTrie.release(steps));
    if (best.cost >= PRESENCE_COST) {
      slot.presence.push(sub);
      sub.unfile.push(() => slot.presence.splice(slot.presence.indexOf(sub), 1));
      return;
    }
    for (const m of c.matchers) this.fileMatcher(sub, slot, m);
  }

  /**
   * Estimated share of events for which `c` would make the sub-rule a candidate: the sum of its
   * matchers' chances, or {@link PRESENCE_COST} when some matcher has no key to be looked up by.
   */
  private costOf(c: Condition, slot: PathSlot): number {
    let cost = 0;
    for (const m of c.matchers) {
      switch (m.k) {
        case 'str':
        case 'numText':
        case 'numEq':
        case 'lit':
        case 'ip':
        case 'range':
          break;
        case 'prefix':
        case 'suffix':
          if (m.value.includes('"') || m.value === '') return PRESENCE_COST;
          break;
        case 'eic':
        case 'prefixEic':
        case 'suffixEic':
          if (caseVariants(m, 4) === undefined) return PRESENCE_COST;
          break;
        case 'wildcard': {
          const segs = m.w.segments;
          if (segs.length > 1 && segs[0] === '' && segs[segs.length - 1] === '') return PRESENCE_COST;
          break;
        }
        default:
          return PRESENCE_COST;
      }
      cost += slot.chance(m);
    }
    return cost;
  }

  private fileMatcher(sub: SubEntry, slot: PathSlot, m: Matcher): void {
    const inMap = <K>(map: Map<K, SubEntry[]>, key: K): void => {
      bucket(map, key).push(sub);
      sub.unfile.push(() => removeFrom(map, key, sub));
    };
    const byLength = (by: ByLength, key: string): void => {
      by.bucket(key).push(sub);
      sub.unfile.push(() => by.remove(key, sub));
    };
    const interval = <K extends number | string>(set: IntervalSet<K, SubEntry>, iv: Interval<K, SubEntry>): void => {
      set.add(iv);
      sub.unfile.push(() => set.delete(iv));
    };
    switch (m.k) {
      case 'str':
        return inMap(slot.strings, m.value);
      case 'numText':
        return inMap(slot.numTexts, m.raw);
      case 'numEq':
        return inMap(slot.numbers, m.value);
      case 'lit':
        return inMap(slot.literals, m.kind);
      case 'ip': {
        const iv = { lo: m.range.lo, hi: m.range.hi, loIncl: true, hiIncl: true, value: sub };
        return interval(m.range.lo.length === 8 ? slot.ipv4 : slot.ipv6, iv);
      }
      case 'prefix':
        return byLength(slot.prefixes, m.value);
      case 'suffix':
        return byLength(slot.suffixes, m.value);
      case 'eic':
      case 'prefixEic':
        for (const key of caseVariants(m, 4) ?? []) byLength(slot.prefixes, key);
        return;
      case 'suffixEic':
        for (const key of caseVariants(m, 4) ?? []) byLength(slot.suffixes, key);
        return;
      case 'wildcard': {
        const segs = m.w.segments;
        if (segs.length === 1) return inMap(slot.strings, segs[0]!);
        if (segs[0] !== '') return byLength(slot.prefixes, segs[0]!);
        return byLength(slot.suffixes, segs[segs.length - 1]!);
      }
      case 'range':
        return interval(slot.ranges, { lo: m.lo, hi: m.hi, loIncl: m.loIncl, hiIncl: m.hiIncl, value: sub });
      default:
        // Only reached for kinds costed as presence, which `file` never passes here.
        throw new Error(`matcher ${m.k} has no access key`);
    }
  }
}
