/**
 * A centred interval tree for stabbing queries ("which ranges contain x?") over numbers or fixed-width
 * hex strings, so that numeric and CIDR conditions cost O(log n + hits) per value, not O(rules).
 * Built lazily after changes; queries are far more frequent than rule changes.
 */

/** One stored interval; inclusivity is checked exactly on every hit. */
export interface Interval<K extends number | string, V> {
  readonly lo: K;
  readonly hi: K;
  readonly loIncl: boolean;
  readonly hiIncl: boolean;
  readonly value: V;
}

interface Node<K extends number | string, V> {
  readonly center: K;
  readonly byLo: Array<Interval<K, V>>;
  readonly byHi: Array<Interval<K, V>>;
  readonly left: Node<K, V> | undefined;
  readonly right: Node<K, V> | undefined;
}

function contains<K extends number | string, V>(iv: Interval<K, V>, x: K): boolean {
  return (iv.loIncl ? iv.lo <= x : iv.lo < x) && (iv.hiIncl ? x <= iv.hi : x < iv.hi);
}

function build<K extends number | string, V>(items: Array<Interval<K, V>>): Node<K, V> | undefined {
  if (items.length === 0) return undefined;
  const points: K[] = [];
  for (const iv of items) {
    if (iv.lo !== -Infinity) points.push(iv.lo);
    if (iv.hi !== Infinity) points.push(iv.hi);
  }
  points.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const center = points[points.length >> 1] ?? items[0]!.lo;
  const left: Array<Interval<K, V>> = [];
  const right: Array<Interval<K, V>> = [];
  const here: Array<Interval<K, V>> = [];
  for (const iv of items) {
    if (iv.hi < center) left.push(iv);
    else if (iv.lo > center) right.push(iv);
    else here.push(iv);
  }
  return {
    center,
    byLo: [...here].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0)),
    byHi: [...here].sort((a, b) => (a.hi > b.hi ? -1 : a.hi < b.hi ? 1 : 0)),
    left: build(left),
    right: build(right),
  };
}

/** A set of intervals answering stabbing queries. */
export class IntervalSet<K extends number | string, V> {
  private readonly items = new Set<Interval<K, V>>();
  private tree: Node<K, V> | undefined;
  private dirty = false;

  get size(): number {
    return this.items.size;
  }

  add(iv: Interval<K, V>): void {
    this.items.add(iv);
    this.dirty = true;
  }

  delete(iv: Interval<K, V>): void {
    if (this.items.delete(iv)) this.dirty = true;
  }

  /** Calls `hit` with the value of every interval that contains `x`. */
  stab(x: K, hit: (value: V) => void): void {
    if (this.dirty) {
      this.tree = build([...this.items]);
      this.dirty = false;
    }
    let node = this.tree;
    while (node !== undefined) {
      if (x < node.center) {
        for (const iv of node.byLo) {
          if (iv.lo > x) break;
          if (contains(iv, x)) hit(iv.value);
        }
        node = node.left;
      } else if (x > node.center) {
        for (const iv of node.byHi) {
          if (iv.hi < x) break;
          if (contains(iv, x)) hit(iv.value);
        }
        node = node.right;
      } else {
        for (const iv of node.byLo) if (contains(iv, x)) hit(iv.value);
        return;
      }
    }
  }
}
