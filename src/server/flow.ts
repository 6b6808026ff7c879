/**
 * The live flow of events that the dashboard draws (`GET /v1/flow`, `/v1/flow/stream`,
 * `/v1/subscriptions/{name}/history`): rates per bus, source and subscription, end-to-end latency
 * percentiles, error rates, and each subscription's last hour, kept in memory from the engine's
 * observers and publish listeners. Queue numbers (backlog, in flight, dead, oldest pending) are read
 * from storage when a snapshot is taken.
 *
 * Memory stays bounded whatever the traffic: fixed rings of time slots, at most {@link LATENCY_SAMPLES}
 * latencies per subscription per window (reservoir sampling), {@link MAX_SOURCES} sources per bus and
 * {@link MAX_FAILURES} failures per subscription. The numbers are this server's since it started: another
 * node's deliveries are not seen.
 */
import type { Busbar } from '../busbar.js';
import { BusError } from '../core/errors.js';
import type { AttemptObservation } from '../core/engine/observer.js';
import type { SubscriptionStats } from '../storage/driver.js';
import type {
  FailedAttempt,
  FlowBus,
  FlowSnapshot,
  FlowStatus,
  FlowSubscription,
  FlowTarget,
  HistoryMinute,
  SubscriptionHistory,
} from './flow-types.js';

/** Rates are per second over this many seconds (the last 10 s, or since start when that is shorter). */
export const RATE_SECONDS = 10;
/** Latency percentiles cover this many seconds. */
export const LATENCY_SECONDS = 60;
/** Most end-to-end latencies kept per subscription for the last {@link LATENCY_SECONDS} (and per minute). */
export const LATENCY_SAMPLES = 2_000;
/** Minutes of a subscription's history. */
export const HISTORY_MINUTES = 60;
/** Sources listed per bus; the others are summed as {@link OTHER_SOURCE}. */
export const TOP_SOURCES = 20;
/** Sources tracked per bus; past it the least recently seen is forgotten (its events count as other). */
export const MAX_SOURCES = 200;
/** The name of the sum of the sources not listed. */
export const OTHER_SOURCE = '(other)';
/** Failed attempts remembered per subscription. */
export const MAX_FAILURES = 50;
/** A subscription whose oldest waiting delivery is older than this is backlogged. */
export const BACKLOGGED_MS = 60_000;

export type * from './flow-types.js';

export interface FlowOptions {
  /** The time in ms. @default the engine's clock */
  readonly now?: () => number;
  /** Picks the latency samples to keep once there are too many. @default Math.random */
  readonly random?: () => number;
}

/** The flow state of one engine; `close()` stops observing it. */
export interface Flow {
  /** Rates and latencies from memory, queue numbers from storage. */
  snapshot(): Promise<FlowSnapshot>;
  /** Throws `NOT_FOUND` for an unknown subscription. */
  history(subscription: string): SubscriptionHistory;
  close(): void;
}

/** Counters per time slot (a second or a minute), for the last `size` slots; positions are reused. */
class SlotCounters<K extends string> {
  private readonly slots: number[];
  private readonly counts: Record<K, Float64Array>;

  constructor(
    private readonly size: number,
    keys: readonly K[],
  ) {
    this.slots = new Array<number>(size).fill(-1);
    this.counts = Object.fromEntries(keys.map((k) => [k, new Float64Array(size)])) as Record<K, Float64Array>;
  }

  add(slot: number, key: K, n = 1): void {
    const at = slot % this.size;
    const held = this.slots[at]!;
    if (held > slot) return; // the clock went back: too old to count
    if (held !== slot) {
      this.slots[at] = slot;
      for (const k in this.counts) this.counts[k][at] = 0;
    }
    this.counts[key][at]! += n;
  }

  /** The count of `key` in slots `from` to `to`, both included. */
  sum(key: K, from: number, to: number): number {
    let total = 0;
    for (let at = 0; at < this.size; at++) {
      const slot = this.slots[at]!;
      if (slot >= from && slot <= to) total += this.counts[key][at]!;
    }
    return total;
  }
}

/** A uniform sample of at most `capacity` values (Vitter's Algorithm R); `seen` counts every value offered. */
class Reservoir {
  seen = 0;
  readonly values: number[] = [];

  constructor(private readonly capacity: number) {}

  add(value: number, random: () => number): void {
    this.seen++;
    if (this.values.length < this.capacity) this.values.push(value);
    else {
      const j = Math.floor(random() * this.seen);
      if (j < this.capacity) this.values[j] = value;
    }
  }

  clear(): void {
    this.seen = 0;
    this.values.length = 0;
  }
}

interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}

/**
 * Nearest-rank percentiles over reservoirs, each value standing for `seen / kept` of its reservoir's
 * values: the smallest value whose cumulative weight reaches q of the total.
 */
function percentiles(reservoirs: readonly Reservoir[]): Percentiles | null {
  const weighted: Array<[value: number, weight: number]> = [];
  let total = 0;
  for (const r of reservoirs) {
    if (r.values.length === 0) continue;
    const weight = r.seen / r.values.length;
    for (const value of r.values) weighted.push([value, weight]);
    total += r.seen;
  }
  if (weighted.length === 0) return null;
  weighted.sort((a, b) => a[0] - b[0]);
  const pick = (q: number): number => {
    const goal = q * total * (1 - 1e-9); // float sums of weights must still reach a whole-number goal
    let sum = 0;
    for (const [value, weight] of weighted) {
      sum += weight;
      if (sum >= goal) return value;
    }
    return weighted[weighted.length - 1]![0];
  };
  return { p50: pick(0.5), p99: pick(0.99) };
}

/** Latencies of the last {@link LATENCY_SECONDS}: one reservoir per second, so that old ones expire. */
class LatencyWindow {
  private readonly seconds = new Array<number>(LATENCY_SECONDS).fill(-1);
  private readonly reservoirs = Array.from(
    { length: LATENCY_SECONDS },
    () => new Reservoir(Math.floor(LATENCY_SAMPLES / LATENCY_SECONDS)),
  );

  add(second: number, ms: number, random: () => number): void {
    const at = second % LATENCY_SECONDS;
    if (this.seconds[at]! > second) return;
    if (this.seconds[at] !== second) {
      this.seconds[at] = second;
      this.reservoirs[at]!.clear();
    }
    this.reservoirs[at]!.add(ms, random);
  }

  /** Percentiles of the seconds `from` to `to`. */
  percentiles(from: number, to: number): Percentiles | null {
    return percentiles(this.reservoirs.filter((_, at) => this.seconds[at]! >= from && this.seconds[at]! <= to));
  }
}

const SUBSCRIPTION_COUNTS = ['delivered', 'failed', 'dead'] as const;

/** What one subscription's observations add up to. */
class SubscriptionFlow {
  readonly seconds = new SlotCounters(LATENCY_SECONDS, SUBSCRIPTION_COUNTS);
  readonly latency = new LatencyWindow();
  readonly minutes = new SlotCounters(HISTORY_MINUTES, SUBSCRIPTION_COUNTS);
  /** Latencies of `minute` (the latest one with a delivery); finished minutes keep only their percentiles. */
  private minute = -1;
  private readonly minuteSamples = new Reservoir(LATENCY_SAMPLES);
  private readonly finished = new Array<{ minute: number; value: Percentiles | null }>(HISTORY_MINUTES);
  readonly attempts = new Map<number, number>();
  /** Oldest first. */
  readonly failures: FailedAttempt[] = [];

  record(o: AttemptObservation, now: number, random: () => number): void {
    const second = Math.floor(now / 1000);
    const minute = Math.floor(now / 60_000);
    const count = (key: (typeof SUBSCRIPTION_COUNTS)[number]): void => {
      this.seconds.add(second, key);
      this.minutes.add(minute, key);
    };
    const { completion, record } = o;
    if (completion.kind === 'ack') {
      count('delivered');
      if (o.endToEndMs !== null) {
        this.latency.add(second, o.endToEndMs, random);
        this.rollTo(minute);
        if (this.minute === minute) this.minuteSamples.add(o.endToEndMs, random);
      }
    } else {
      if (completion.kind === 'dead') count('dead');
      if (record !== null && record.outcome !== 'success' && record.outcome !== 'lease_expired') {
        count('failed');
        this.failures.push({
          at: now,
          eventId: o.eventId ?? null,
          attempt: record.attempt,
          outcome: record.outcome,
          error: record.error?.message ?? null,
          httpStatus: record.httpStatus,
          completion: completion.kind,
        });
        if (this.failures.length > MAX_FAILURES) this.failures.shift();
      }
    }
    if (o.attemptsUsed !== null && o.attemptsUsed > 0) {
      this.attempts.set(o.attemptsUsed, (this.attempts.get(o.attemptsUsed) ?? 0) + 1);
    }
  }

  /** Keeps the percentiles of the sampled minute once a later one begins. */
  private rollTo(minute: number): void {
    if (minute <= this.minute) return;
    if (this.minute >= 0) {
      this.finished[this.minute % HISTORY_MINUTES] = { minute: this.minute, value: percentiles([this.minuteSamples]) };
    }
    this.minute = minute;
    this.minuteSamples.clear();
  }

  minutePercentiles(minute: number): Percentiles | null {
    if (minute === this.minute) return percentiles([this.minuteSamples]);
    const kept = this.finished[minute % HISTORY_MINUTES];
    return kept?.minute === minute ? kept.value : null;
  }
}

const BUS_COUNTS = ['published', 'rejected'] as const;

class BusFlow {
  readonly seconds = new SlotCounters(LATENCY_SECONDS, BUS_COUNTS);
  /** Least recently seen first (a Map keeps insertion order; a source seen again moves to the end). */
  readonly sources = new Map<string, SlotCounters<'published'>>();

  published(source: string, second: number): void {
    let counters = this.sources.get(source);
    if (counters === undefined) counters = new SlotCounters(RATE_SECONDS, ['published']);
    else this.sources.delete(source);
    this.sources.set(source, counters);
    counters.add(second, 'published');
    if (this.sources.size > MAX_SOURCES) this.sources.delete(this.sources.keys().next().value!);
  }
}

/** Where deliveries go, with nothing secret: a webhook URL keeps its origin and path only. */
function publicTarget(target: Readonly<Record<string, unknown>>): FlowTarget {
  if (target['type'] === 'pull') return { type: 'pull' };
  if (target['type'] !== 'webhook' || typeof target['url'] !== 'string') return { type: 'handler' };
  try {
    const url = new URL(target['url']);
    return { type: 'webhook', url: `${url.origin}${url.pathname}` };
  } catch {
    return { type: 'webhook', url: '' };
  }
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * Starts keeping the flow of `bus`'s events in memory.
 * @example
 * ```ts
 * const flow = createFlow(bus);
 * const { buses, subscriptions } = await flow.snapshot();
 * flow.close();
 * ```
 */
export function createFlow(bus: Busbar, options: FlowOptions = {}): Flow {
  const now = options.now ?? (() => bus.clock.now());
  const random = options.random ?? Math.random;
  const startedAt = now();
  const buses = new Map<string, BusFlow>();
  const subs = new Map<string, SubscriptionFlow>();
  const busFlow = (name: string): BusFlow => buses.get(name) ?? buses.set(name, new BusFlow()).get(name)!;

  // This node's flow, as its metrics: events other nodes published are theirs to show.
  const offPublish = bus.onPublish((event) => {
    if (!event.remote) busFlow(event.bus).published(event.source, Math.floor(now() / 1000));
  });
  const offObserver = bus.observe({
    publish(o) {
      busFlow(o.bus).seconds.add(Math.floor(now() / 1000), 'published', o.accepted);
    },
    reject(o) {
      busFlow(o.bus).seconds.add(Math.floor(now() / 1000), 'rejected', o.events);
    },
    attempt(o) {
      let flow = subs.get(o.subscription);
      if (flow === undefined) subs.set(o.subscription, (flow = new SubscriptionFlow()));
      flow.record(o, now(), random);
    },
  });
  const offChanges = bus.onSubscriptionChange(({ kind, subscription }) => {
    if (kind === 'delete') subs.delete(subscription.name);
  });

  async function build(): Promise<FlowSnapshot> {
    const at = now();
    const to = Math.floor(at / 1000);
    const from = to - RATE_SECONDS + 1;
    // The slots of the window end now: divide by the time they cover, so rates do not dip at each second.
    const seconds = Math.max(1, (at - Math.max(from * 1000, startedAt)) / 1000);
    const records = bus.listSubscriptions();
    const stats = await Promise.all(
      records.map((s) =>
        bus.stats(s.name).catch((err: unknown): SubscriptionStats | null => {
          if (err instanceof BusError && err.code === 'NOT_FOUND') return null; // deleted meanwhile
          throw err;
        }),
      ),
    );
    // Forget what was deleted (a bus's deletion is not told to listeners).
    const busNames = new Set(bus.listBuses().map((b) => b.name));
    const subNames = new Set(bus.listSubscriptions().map((s) => s.name));
    for (const name of buses.keys()) if (!busNames.has(name)) buses.delete(name);
    for (const name of subs.keys()) if (!subNames.has(name)) subs.delete(name);

    const flowBuses = [...busNames].map((name): FlowBus => {
      const flow = buses.get(name);
      const published = flow?.seconds.sum('published', from, to) ?? 0;
      const counted = [...(flow?.sources ?? [])]
        .map(([source, counters]) => ({ source, n: counters.sum('published', from, to) }))
        .filter((s) => s.n > 0)
        .sort((a, b) => b.n - a.n || (a.source < b.source ? -1 : 1))
        .slice(0, TOP_SOURCES);
      const other = published - counted.reduce((sum, s) => sum + s.n, 0);
      const sources = counted.map((s) => ({ source: s.source, perSec: round(s.n / seconds) }));
      if (other > 0) sources.push({ source: OTHER_SOURCE, perSec: round(other / seconds) });
      return {
        name,
        publishedPerSec: round(published / seconds),
        rejectedPerSec: round((flow?.seconds.sum('rejected', from, to) ?? 0) / seconds),
        sources,
      };
    });

    const flowSubs: FlowSubscription[] = [];
    records.forEach((record, i) => {
      const stat = stats[i];
      if (stat === null || stat === undefined) return;
      const flow = subs.get(record.name);
      const delivered = flow?.seconds.sum('delivered', from, to) ?? 0;
      const failed = flow?.seconds.sum('failed', from, to) ?? 0;
      const dead = flow?.seconds.sum('dead', from, to) ?? 0;
      const errorRate = delivered + failed === 0 ? 0 : failed / (delivered + failed);
      const oldestPendingAgeMs = stat.oldestPendingAt === null ? 0 : Math.max(0, at - stat.oldestPendingAt);
      const status: FlowStatus =
        (failed >= 3 && errorRate >= 0.1) || dead > 0
          ? 'failing'
          : record.paused
            ? 'paused'
            : oldestPendingAgeMs > BACKLOGGED_MS
              ? 'backlogged'
              : 'ok';
      flowSubs.push({
        name: record.name,
        bus: record.bus,
        paused: record.paused,
        target: publicTarget(record.target),
        deliveredPerSec: round(delivered / seconds),
        failedPerSec: round(failed / seconds),
        errorRate: round(errorRate),
        latencyMs: flow?.latency.percentiles(to - LATENCY_SECONDS + 1, to) ?? null,
        backlog: stat.backlog,
        inFlight: stat.inFlight,
        dead: stat.dead,
        oldestPendingAgeMs,
        status,
      });
    });
    return { at, buses: flowBuses, subscriptions: flowSubs };
  }

  // Streams and requests at the same moment share one snapshot (one storage read per subscription).
  let pending: Promise<FlowSnapshot> | null = null;
  return {
    snapshot() {
      pending ??= build().finally(() => (pending = null));
      return pending;
    },
    history(name) {
      bus.getSubscription(name);
      const flow = subs.get(name);
      const current = Math.floor(now() / 60_000);
      const minutes: HistoryMinute[] = [];
      for (let minute = current - HISTORY_MINUTES + 1; minute <= current; minute++) {
        const p = flow?.minutePercentiles(minute) ?? null;
        minutes.push({
          at: minute * 60_000,
          delivered: flow?.minutes.sum('delivered', minute, minute) ?? 0,
          failed: flow?.minutes.sum('failed', minute, minute) ?? 0,
          p50Ms: p?.p50 ?? null,
          p99Ms: p?.p99 ?? null,
        });
      }
      const attempts = [...(flow?.attempts ?? [])].sort((a, b) => a[0] - b[0]);
      return {
        minutes,
        attempts: Object.fromEntries(attempts.map(([n, count]) => [String(n), count])),
        failures: [...(flow?.failures ?? [])].reverse(),
      };
    },
    close() {
      offPublish();
      offObserver();
      offChanges();
    },
  };
}
