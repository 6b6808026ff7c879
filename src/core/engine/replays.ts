/**
 * Replays: archived events from a time range, optionally filtered by a pattern, re-delivered to named
 * subscriptions (or to every subscription whose pattern matches now), marked with the replay's id (the
 * consumer sees it as the `replayid` extension). Replayed events are not archived again. A replay's
 * progress is stored with each page's deliveries in one step, so a replay interrupted by a restart
 * resumes where it stopped, without repeating or losing a page. One engine instance runs a replay at a
 * time (it owns it under a lease renewed every page); when the owner dies, another instance on the same
 * store takes it over once the lease lapses (checked at start and at every maintenance run).
 */
import { BusError, describeValue } from '../errors.js';
import { uuidv7 } from '../uuid.js';
import { PatternIndex, validatePattern } from '../../patterns/index.js';
import type { TimerHandle } from '../clock.js';
import type {
  DeliverableEvent,
  NewDelivery,
  ReplayRecord,
  ReplayStep,
  SubscriptionRecord,
} from '../../storage/driver.js';
import type { CloudEvent } from '../events.js';
import type { EarlyAttempt, EarlyDelivery } from './dispatcher.js';
import type { EngineHooks } from './hooks.js';

/** What to replay. */
export interface ReplayInput {
  bus: string;
  /** Start of the range of publish times (ms, inclusive). */
  from: number;
  /** End of the range (ms, inclusive). @default now */
  to?: number;
  /** Only events that also match this pattern. */
  pattern?: string | object;
  /** Only to these subscriptions (each still applies its own pattern). @default every subscription of the bus */
  subscriptions?: string[];
  /** Skip events a subscription has already processed successfully. @default false */
  skipDelivered?: boolean;
  /** At most this many events per second. @default unlimited */
  ratePerSec?: number;
}

/** Removes and returns the value of `key`, if any. */
function take<K, V>(map: Map<K, V> | null, key: K): V | undefined {
  const value = map?.get(key);
  if (value !== undefined) map!.delete(key);
  return value;
}

/** An in-process consumer, as a replay sees it (the engine's Dispatcher). */
interface EarlyConsumer {
  attemptNow(deliveries: readonly EarlyDelivery[]): Promise<EarlyAttempt[]>;
}

/**
 * Events per page at most. A page is held in memory whole (and, for an in-process consumer, attempted
 * whole), so its length also follows the size of the events: the first page has {@link FIRST_PAGE},
 * and each next one as many as the last page's average size puts in {@link PAGE_BYTES}.
 */
const PAGE = 2_000;
const FIRST_PAGE = 20;
const PAGE_BYTES = 8 * 1024 * 1024;
/** How long a replay stays with its runner without progress before another instance may take it. */
export const REPLAY_LEASE_MS = 30_000;

interface Running {
  cancelled: boolean;
  done: Promise<void>;
  /** Ends a rate-limit pause early (cancel, shutdown). */
  interrupt: () => void;
}

export class Replays {
  private readonly running = new Map<string, Running>();
  /** This engine instance, as the owner of the replays it runs. */
  private readonly owner = uuidv7();

  constructor(
    private readonly hooks: EngineHooks & {
      /** Throws NOT_FOUND for an unknown bus. */
      readonly busIndex: (bus: string) => unknown;
      readonly subscriptions: (bus: string) => SubscriptionRecord[];
      /**
       * The in-process consumer of a subscription, if it has one here: a replay hands it each page's
       * deliveries to attempt before storing them (see {@link Replays.attemptEarly}).
       */
      readonly consumer: (subscription: string) => EarlyConsumer | undefined;
    },
  ) {}

  /** Starts a replay and returns its record; it runs in the background (see {@link wait}). */
  async start(input: ReplayInput): Promise<ReplayRecord> {
    if (typeof input !== 'object' || input === null) {
      throw new BusError('INVALID_ARGUMENT', `Expected the replay to be an object, got ${describeValue(input)}`);
    }
    this.hooks.busIndex(input.bus);
    const now = this.hooks.clock.now();
    const time = (name: string, v: unknown): number => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Expected \`${name}\` to be a time in ms since the epoch, got ${describeValue(v)}`,
        );
      }
      return v;
    };
    const from = time('from', input.from);
    const to = input.to === undefined ? now : time('to', input.to);
    if (to < from)
      throw new BusError('INVALID_ARGUMENT', `Expected \`to\` (${to}) to be at or after \`from\` (${from})`);
    if (input.pattern !== undefined) validatePattern(input.pattern);
    let subscriptions: string[] | null = null;
    if (input.subscriptions !== undefined) {
      if (!Array.isArray(input.subscriptions) || input.subscriptions.length === 0) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Expected \`subscriptions\` to be a non-empty array of names, got ${describeValue(input.subscriptions)}`,
        );
      }
      for (const name of input.subscriptions) {
        const sub = this.hooks.subscription(name);
        if (sub.bus !== input.bus) {
          throw new BusError(
            'INVALID_ARGUMENT',
            `Subscription "${name}" belongs to bus "${sub.bus}", not "${input.bus}"`,
          );
        }
      }
      subscriptions = [...new Set(input.subscriptions)];
    }
    const rate = input.ratePerSec;
    if (rate !== undefined && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected \`ratePerSec\` to be a positive number, got ${describeValue(rate)}`,
      );
    }
    const record: ReplayRecord = {
      id: uuidv7(),
      bus: input.bus,
      from,
      to,
      pattern:
        input.pattern === undefined
          ? null
          : typeof input.pattern === 'string'
            ? input.pattern
            : JSON.stringify(input.pattern),
      subscriptions,
      skipDelivered: input.skipDelivered === true,
      ratePerSec: rate ?? null,
      state: 'running',
      cursor: 0,
      scanned: 0,
      enqueued: 0,
      error: null,
      owner: this.owner,
      leaseUntil: now + REPLAY_LEASE_MS,
      createdAt: now,
      updatedAt: now,
    };
    await this.hooks.storage(() => this.hooks.driver.putReplay(record));
    this.launch(record);
    return record;
  }

  async get(id: string): Promise<ReplayRecord> {
    const r = await this.hooks.storage(() => this.hooks.driver.getReplay(id));
    if (r === null) throw new BusError('NOT_FOUND', `No replay ${describeValue(id)}`);
    return r;
  }

  list(bus?: string): Promise<ReplayRecord[]> {
    return this.hooks.storage(() => this.hooks.driver.listReplays(bus));
  }

  /**
   * Stops a running replay, wherever it runs (its runner stops at its next page); deliveries already
   * enqueued stay.
   */
  async cancel(id: string): Promise<ReplayRecord> {
    await this.get(id);
    await this.hooks.storage(() => this.hooks.driver.cancelReplay(id, this.hooks.clock.now()));
    const run = this.running.get(id);
    if (run !== undefined) {
      run.cancelled = true;
      run.interrupt();
      await run.done;
    }
    return this.get(id);
  }

  /** Resolves when the replay is no longer running (completed, cancelled or failed). */
  async wait(id: string): Promise<ReplayRecord> {
    await this.running.get(id)?.done;
    return this.get(id);
  }

  /**
   * Runs the running replays that no live instance holds: those of a stopped or crashed process (at
   * start), and those whose runner's lease lapsed (at every maintenance run).
   */
  async resumeRunning(): Promise<void> {
    if (this.stopping) return;
    const { driver, clock } = this.hooks;
    for (const r of await this.list()) {
      if (r.state !== 'running' || this.running.has(r.id)) continue;
      const now = clock.now();
      const mine = await this.hooks.storage(() => driver.acquireReplay(r.id, this.owner, now + REPLAY_LEASE_MS, now));
      if (mine !== null && !this.stopping) this.launch(mine);
    }
  }

  /** Pauses every running replay for shutdown, releasing it: it resumes at the next start (here or elsewhere). */
  async stopAll(): Promise<void> {
    const runs = [...this.running.values()];
    this.stopping = true;
    for (const run of runs) {
      run.cancelled = true;
      run.interrupt();
    }
    await Promise.allSettled(runs.map((r) => r.done));
  }

  private stopping = false;

  private launch(record: ReplayRecord): void {
    const run: Running = { cancelled: false, done: Promise.resolve(), interrupt: () => undefined };
    const progress = { record };
    run.done = this.execute(progress, run)
      .catch(async (err: unknown) => {
        this.hooks.onError(err);
        const { record: last } = progress;
        const message = err instanceof Error ? err.message : String(err);
        const now = this.hooks.clock.now();
        const failed: ReplayStep = {
          deliveries: [],
          cursor: last.cursor,
          scanned: last.scanned,
          state: 'failed',
          error: message,
          leaseUntil: now,
        };
        await this.hooks.driver
          .advanceReplay(last.id, this.owner, failed, now)
          .catch((e: unknown) => this.hooks.onError(e));
      })
      .finally(() => this.running.delete(record.id));
    this.running.set(record.id, run);
  }

  /** Runs a replay page by page while this instance owns it; `progress.record` follows the stored record. */
  private async execute(progress: { record: ReplayRecord }, run: Running): Promise<void> {
    const { driver, clock } = this.hooks;
    const initial = progress.record;
    const filter = new PatternIndex();
    if (initial.pattern !== null) filter.add('filter', initial.pattern);
    const most = initial.ratePerSec === null ? PAGE : Math.max(1, Math.min(PAGE, Math.floor(initial.ratePerSec)));
    let limit = Math.min(most, FIRST_PAGE);
    /** Stores one step; false when the replay is no longer this instance's to run (cancelled, taken over). */
    const step = async (s: Omit<ReplayStep, 'leaseUntil'>, leaseUntil?: number): Promise<boolean> => {
      const now = clock.now();
      const next = await driver.advanceReplay(
        initial.id,
        this.owner,
        { ...s, leaseUntil: leaseUntil ?? now + REPLAY_LEASE_MS },
        now,
      );
      if (next === null) return false;
      progress.record = next;
      return true;
    };
    for (;;) {
      const record = progress.record;
      if (run.cancelled) {
        // A shutdown releases the replay so that the next start resumes it at once; a cancel has
        // already ended it in storage.
        const { cursor, scanned } = record;
        if (this.stopping) await step({ deliveries: [], cursor, scanned, state: 'running', error: null }, clock.now());
        return;
      }
      const started = clock.now();
      const page = await driver.queryDeliverable(record.bus, {
        from: record.from,
        to: record.to,
        afterSeq: record.cursor,
        limit,
      });
      if (page.length === 0) {
        await step({ deliveries: [], cursor: record.cursor, scanned: record.scanned, state: 'completed', error: null });
        return;
      }
      const bytes = page.reduce((sum, event) => sum + event.size, 0);
      limit = Math.max(1, Math.min(most, Math.floor((PAGE_BYTES * page.length) / Math.max(1, bytes))));
      // Patterns as they are now: a subscription changed since the event was published gets what it asks for today.
      const targets = new PatternIndex();
      const current = new Map<string, SubscriptionRecord>();
      for (const sub of this.hooks.subscriptions(record.bus)) {
        if (record.subscriptions !== null && !record.subscriptions.includes(sub.name)) continue;
        targets.add(sub.name, sub.pattern);
        current.set(sub.name, sub);
      }
      const early = this.earlyConsumers(current);
      // With a consumer in this process, each event is parsed once: matched as an object (as a publish
      // routes), and handed to the handler of its first delivery.
      const parsed = early.size === 0 ? null : new Map<number, CloudEvent>();
      let deliveries: NewDelivery[] = [];
      for (const event of page) {
        const subject = parsed === null ? event.body : (JSON.parse(event.body) as CloudEvent);
        if (record.pattern !== null && filter.match(subject).length === 0) continue;
        const matched = targets.match(subject);
        for (const subscription of matched) deliveries.push({ subscription, eventSeq: event.seq, replayId: record.id });
        if (parsed !== null && matched.length > 0) parsed.set(event.seq, subject as CloudEvent);
      }
      if (record.skipDelivered && deliveries.length > 0) deliveries = await this.withoutDelivered(deliveries);
      deliveries = await this.attemptEarly(record.id, deliveries, page, early, parsed);
      const stepped = await step({
        deliveries,
        cursor: page[page.length - 1]!.seq,
        scanned: record.scanned + page.length,
        state: 'running',
        error: null,
      });
      if (!stepped) return;
      const perSubscription = new Map<string, number>();
      for (const d of deliveries) perSubscription.set(d.subscription, (perSubscription.get(d.subscription) ?? 0) + 1);
      for (const [name, count] of perSubscription) {
        this.hooks.wake(name);
        this.hooks.observers.emit('replay', name, count);
      }
      if (record.ratePerSec !== null) {
        const wait = (page.length / record.ratePerSec) * 1000 - (clock.now() - started);
        if (wait > 0 && !run.cancelled) {
          await new Promise<void>((resolve) => {
            const timer = clock.setTimer(resolve, wait);
            run.interrupt = () => {
              clock.clearTimer(timer);
              resolve();
            };
          });
          run.interrupt = () => undefined;
        }
      }
    }
  }

  /** The in-process consumers of these subscriptions that take early attempts (unordered, not paused). */
  private earlyConsumers(subscriptions: ReadonlyMap<string, SubscriptionRecord>): Map<string, EarlyConsumer> {
    const found = new Map<string, EarlyConsumer>();
    for (const [name, sub] of subscriptions) {
      const consumer = sub.paused || sub.delivery.ordered ? undefined : this.hooks.consumer(name);
      if (consumer !== undefined) found.set(name, consumer);
    }
    return found;
  }

  /**
   * The fast path for subscriptions with a consumer in this process (unordered, not paused): their
   * deliveries of the page are attempted before they are stored, under ids reserved first, and the step
   * then stores each with its attempt, settled (delivered, waiting for a retry, or dead), instead of
   * storing it pending, then claiming, leasing and completing it one by one. If the process dies before
   * the step is stored, the replay resumes at the same page and the attempts are made again
   * (at-least-once). A delivery its consumer gave up (stopped, paused) is stored pending as usual.
   */
  private async attemptEarly(
    replay: string,
    deliveries: NewDelivery[],
    page: readonly DeliverableEvent[],
    consumers: ReadonlyMap<string, EarlyConsumer>,
    parsed: Map<number, CloudEvent> | null,
  ): Promise<NewDelivery[]> {
    // Per subscription with a consumer here: its deliveries of the page, and where each is in `deliveries`.
    const groups = new Map<string, { consumer: EarlyConsumer; handed: EarlyDelivery[]; at: number[] }>();
    for (const [name, consumer] of consumers) groups.set(name, { consumer, handed: [], at: [] });
    const count = groups.size === 0 ? 0 : deliveries.filter((d) => groups.has(d.subscription)).length;
    if (count === 0) return deliveries;
    const { driver, clock } = this.hooks;
    let id = await driver.reserveDeliveryIds(count);
    const now = clock.now();
    const bySeq = new Map(page.map((event) => [event.seq, event]));
    deliveries.forEach((d, i) => {
      const group = groups.get(d.subscription);
      if (group === undefined) return;
      group.at.push(i);
      group.handed.push({
        deliveryId: id++,
        subscription: d.subscription,
        leaseToken: '',
        attempt: 1,
        enqueuedAt: now,
        replayId: d.replayId,
        redriveOf: null,
        event: bySeq.get(d.eventSeq)!,
        // The first delivery of an event takes the parsed object; any other parses its own.
        parsed: take(parsed, d.eventSeq),
      });
    });
    const stored = deliveries.slice();
    const attempting = Promise.all(
      [...groups.values()].map(async ({ consumer, handed, at }) => {
        const outcomes = await consumer.attemptNow(handed);
        handed.forEach((c, k) => {
          const { subscription, eventSeq, replayId } = deliveries[at[k]!]!;
          const attempted = outcomes[k] ?? null;
          stored[at[k]!] =
            attempted === null
              ? { subscription, eventSeq, replayId, id: c.deliveryId }
              : { subscription, eventSeq, replayId, id: c.deliveryId, attempted };
        });
      }),
    );
    await this.holding(replay, () => attempting);
    return stored;
  }

  /**
   * Runs `work` while renewing this instance's lease on the replay every third of its length: a page of
   * early attempts lasts as long as its handlers take, which may be longer than the lease, and another
   * instance must not take over a replay whose runner is alive.
   */
  private async holding<T>(id: string, work: () => Promise<T>): Promise<T> {
    const { clock, driver } = this.hooks;
    let timer: TimerHandle | undefined;
    const arm = (): void => {
      timer = clock.setTimer(() => {
        const now = clock.now();
        driver
          .acquireReplay(id, this.owner, now + REPLAY_LEASE_MS, now)
          .catch((err: unknown) => this.hooks.onError(err))
          .finally(() => {
            if (timer !== undefined) arm();
          });
      }, REPLAY_LEASE_MS / 3);
    };
    arm();
    try {
      return await work();
    } finally {
      if (timer !== undefined) clock.clearTimer(timer);
      timer = undefined;
    }
  }

  private async withoutDelivered(deliveries: NewDelivery[]): Promise<NewDelivery[]> {
    const bySub = new Map<string, NewDelivery[]>();
    for (const d of deliveries) {
      const list = bySub.get(d.subscription) ?? [];
      list.push(d);
      bySub.set(d.subscription, list);
    }
    const out: NewDelivery[] = [];
    for (const [sub, list] of bySub) {
      const done = await this.hooks.driver.deliveredSeqs(
        sub,
        list.map((d) => d.eventSeq),
      );
      for (const d of list) if (!done.has(d.eventSeq)) out.push(d);
    }
    return out;
  }
}
