/**
 * Where the flow graph's boxes go: four columns (sources, buses, subscriptions, targets), left to
 * right. Subscriptions are stacked grouped by bus; every other box sits at the mean height of the
 * boxes it connects to, pushed down just enough not to overlap the one above. For the topologies an
 * event bus has (a few buses, tens of subscriptions) this keeps edges short and mostly uncrossed
 * without a layout library.
 */
import type { FlowBus, FlowSnapshot, FlowSubscription } from '../api.js';

export const NODE_WIDTH = 190;
export const COLUMN_GAP = 150;
export const SMALL_HEIGHT = 46;
export const SUBSCRIPTION_HEIGHT = 80;
const ROW_GAP = 16;
/** Room above the boxes for the column headings. */
export const TOP = 34;

export type ColumnName = 'sources' | 'buses' | 'subscriptions' | 'targets';
export const COLUMNS: readonly ColumnName[] = ['sources', 'buses', 'subscriptions', 'targets'];

export interface Box {
  readonly key: string;
  readonly x: number;
  readonly y: number;
  readonly height: number;
}

export interface SourceBox extends Box {
  readonly kind: 'source';
  readonly source: string;
  readonly perSec: number;
}
export interface BusBox extends Box {
  readonly kind: 'bus';
  readonly bus: FlowBus;
}
export interface SubscriptionBox extends Box {
  readonly kind: 'subscription';
  readonly subscription: FlowSubscription;
}
export interface TargetBox extends Box {
  readonly kind: 'target';
  readonly label: string;
  readonly detail: string;
}
export type GraphBox = SourceBox | BusBox | SubscriptionBox | TargetBox;

export interface Edge {
  readonly key: string;
  /** SVG path data of a horizontal S-curve from the right of one box to the left of the next. */
  readonly d: string;
  readonly labelX: number;
  readonly labelY: number;
  /** Events (into a bus) or attempts (into a subscription) per second; out of a subscription, successes. */
  readonly perSec: number;
  /** Failed attempts per second, shown beside `perSec` when any. */
  readonly failedPerSec: number;
  /** `failing`: failures flow along it; `paused`: the subscription is paused. */
  readonly tone: 'ok' | 'failing' | 'paused';
}

export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly boxes: readonly GraphBox[];
  readonly edges: readonly Edge[];
}

export function columnX(column: number): number {
  return column * (NODE_WIDTH + COLUMN_GAP);
}

const centre = (box: { y: number; height: number }): number => box.y + box.height / 2;
const mean = (values: readonly number[], fallback: number): number =>
  values.length === 0 ? fallback : values.reduce((a, b) => a + b, 0) / values.length;

/**
 * Places boxes of one height, each wanting its centre at `want`, in order of `want`, none above the
 * previous one's bottom plus the gap.
 */
function stack<T>(items: readonly T[], want: (item: T) => number, height: number): Array<{ item: T; y: number }> {
  const sorted = [...items].sort((a, b) => want(a) - want(b));
  let bottom = TOP - ROW_GAP;
  return sorted.map((item) => {
    const y = Math.max(want(item) - height / 2, bottom + ROW_GAP);
    bottom = y + height;
    return { item, y };
  });
}

function targetOf(sub: FlowSubscription): { key: string; label: string; detail: string } {
  switch (sub.target.type) {
    case 'webhook': {
      let host = sub.target.url;
      let rest = '';
      try {
        const url = new URL(sub.target.url);
        host = url.host;
        rest = url.pathname === '/' ? '' : url.pathname;
      } catch {
        // Shown as given.
      }
      return { key: `webhook ${sub.target.url}`, label: host, detail: `webhook ${rest}`.trim() };
    }
    case 'pull':
      return { key: `pull ${sub.name}`, label: 'pull consumers', detail: sub.name };
    default:
      return { key: `handler ${sub.name}`, label: 'in-process handler', detail: sub.name };
  }
}

function curve(from: Box, to: Box): { d: string; labelX: number; labelY: number } {
  const x1 = from.x + NODE_WIDTH;
  const y1 = centre(from);
  const x2 = to.x;
  const y2 = centre(to);
  const mid = (x1 + x2) / 2;
  // With control points at the middle x, the curve passes through the midpoint of its ends (t = ½).
  return { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, labelX: mid, labelY: (y1 + y2) / 2 };
}

/** Lays out a flow snapshot. */
export function layoutFlow(snapshot: FlowSnapshot): Layout {
  const buses = [...snapshot.buses].sort((a, b) => a.name.localeCompare(b.name));
  const busOrder = new Map(buses.map((b, i) => [b.name, i]));
  const subscriptions = [...snapshot.subscriptions].sort(
    (a, b) => (busOrder.get(a.bus) ?? 1e9) - (busOrder.get(b.bus) ?? 1e9) || a.name.localeCompare(b.name),
  );

  let y = TOP;
  const subBoxes: SubscriptionBox[] = subscriptions.map((subscription) => {
    const box: SubscriptionBox = {
      kind: 'subscription',
      key: `subscription ${subscription.name}`,
      subscription,
      x: columnX(2),
      y,
      height: SUBSCRIPTION_HEIGHT,
    };
    y += SUBSCRIPTION_HEIGHT + ROW_GAP;
    return box;
  });
  const subsOfBus = (bus: string): SubscriptionBox[] => subBoxes.filter((b) => b.subscription.bus === bus);

  // Buses without subscriptions keep their place in the name order, just below the one before.
  let lastWant = TOP;
  const busWants = new Map<string, number>();
  for (const bus of buses) {
    lastWant = mean(subsOfBus(bus.name).map(centre), lastWant + 1);
    busWants.set(bus.name, lastWant);
  }
  const busBoxes: BusBox[] = stack(buses, (b) => busWants.get(b.name)!, SMALL_HEIGHT).map(({ item, y }) => ({
    kind: 'bus',
    key: `bus ${item.name}`,
    bus: item,
    x: columnX(1),
    y,
    height: SMALL_HEIGHT,
  }));
  const busBox = new Map(busBoxes.map((b) => [b.bus.name, b]));

  const sources = new Map<string, { source: string; perSec: number; buses: BusBox[] }>();
  for (const box of busBoxes) {
    for (const { source, perSec } of box.bus.sources) {
      const entry = sources.get(source) ?? { source, perSec: 0, buses: [] };
      entry.perSec += perSec;
      entry.buses.push(box);
      sources.set(source, entry);
    }
  }
  const sourceBoxes: SourceBox[] = stack(
    [...sources.values()],
    (s) => mean(s.buses.map(centre), TOP),
    SMALL_HEIGHT,
  ).map(({ item, y }) => ({
    kind: 'source',
    key: `source ${item.source}`,
    source: item.source,
    perSec: item.perSec,
    x: columnX(0),
    y,
    height: SMALL_HEIGHT,
  }));

  const targets = new Map<string, { label: string; detail: string; subs: SubscriptionBox[] }>();
  for (const box of subBoxes) {
    const { key, label, detail } = targetOf(box.subscription);
    const entry = targets.get(key) ?? { label, detail, subs: [] };
    entry.subs.push(box);
    targets.set(key, entry);
  }
  const targetBoxes: TargetBox[] = stack(
    [...targets.entries()],
    ([, t]) => mean(t.subs.map(centre), TOP),
    SMALL_HEIGHT,
  ).map(({ item: [key, t], y }) => ({
    kind: 'target',
    key: `target ${key}`,
    label: t.label,
    detail: t.detail,
    x: columnX(3),
    y,
    height: SMALL_HEIGHT,
  }));
  const targetBox = new Map(targetBoxes.map((b) => [b.key, b]));

  const edges: Edge[] = [];
  for (const box of sourceBoxes) {
    for (const bus of sources.get(box.source)!.buses) {
      const perSec = bus.bus.sources.find((s) => s.source === box.source)?.perSec ?? 0;
      edges.push({ key: `${box.key}→${bus.key}`, ...curve(box, bus), perSec, failedPerSec: 0, tone: 'ok' });
    }
  }
  for (const box of subBoxes) {
    const sub = box.subscription;
    const tone = sub.paused ? 'paused' : sub.failedPerSec > 0 || sub.status === 'failing' ? 'failing' : 'ok';
    const bus = busBox.get(sub.bus);
    if (bus !== undefined) {
      // Into the subscription: every attempt it makes (retries included); out of it, how they ended.
      edges.push({
        key: `${bus.key}→${box.key}`,
        ...curve(bus, box),
        perSec: sub.deliveredPerSec + sub.failedPerSec,
        failedPerSec: 0,
        tone: sub.paused ? 'paused' : 'ok',
      });
    }
    const target = targetBox.get(`target ${targetOf(sub).key}`)!;
    edges.push({
      key: `${box.key}→${target.key}`,
      ...curve(box, target),
      perSec: sub.deliveredPerSec,
      failedPerSec: sub.failedPerSec,
      tone,
    });
  }

  const boxes: GraphBox[] = [...sourceBoxes, ...busBoxes, ...subBoxes, ...targetBoxes];
  const height = Math.max(TOP + SMALL_HEIGHT, ...boxes.map((b) => b.y + b.height)) + ROW_GAP;
  return { width: columnX(3) + NODE_WIDTH, height, boxes, edges };
}
