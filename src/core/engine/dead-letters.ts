/**
 * Dead-letter queues: browse, inspect, delete, and redrive (all, by ids, by pattern or time range, with
 * a dry-run count). Redrive is idempotent: a dead letter that was put back is no longer one.
 */
import { BusError, describeValue } from '../errors.js';
import type { CloudEvent } from '../events.js';
import { PatternIndex, validatePattern } from '../../patterns/index.js';
import type { AttemptRecord, DeadLetter, DeadReason } from '../../storage/driver.js';
import { parseCursor, type EngineHooks } from './hooks.js';

/** A dead letter as the API shows it. */
export interface DeadLetterView {
  /** The delivery id: what redrive and delete take. */
  readonly id: number;
  readonly subscription: string;
  readonly event: CloudEvent;
  readonly attempts: readonly AttemptRecord[];
  readonly reason: DeadReason;
  readonly deadAt: number;
  readonly enqueuedAt: number;
  readonly replayId: string | null;
}

/** Which dead letters a redrive takes; nothing given means all of them. */
export interface RedriveSelection {
  /** Exactly these dead letters (ids that are not dead letters of the subscription are ignored). */
  ids?: number[];
  /** Only dead letters whose event matches this pattern. */
  pattern?: string | object;
  /** Only dead letters that died at or after this time (ms). */
  from?: number;
  /** Only dead letters that died at or before this time (ms). */
  to?: number;
  /** Count, change nothing. */
  dryRun?: boolean;
}

const PAGE = 500;

function view(d: DeadLetter): DeadLetterView {
  return {
    id: d.deliveryId,
    subscription: d.subscription,
    event: JSON.parse(d.event.body) as CloudEvent,
    attempts: d.attempts,
    reason: d.reason,
    deadAt: d.deadAt,
    enqueuedAt: d.enqueuedAt,
    replayId: d.replayId,
  };
}

function timeBound(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`${name}\` to be a time in ms since the epoch, got ${describeValue(value)}`,
    );
  }
  return value;
}

export class DeadLetters {
  constructor(private readonly hooks: EngineHooks) {}

  /** One page of a subscription's dead letters, oldest first. */
  async list(
    subscription: string,
    opts: { limit?: number; cursor?: string; from?: number; to?: number } = {},
  ): Promise<{ deadLetters: DeadLetterView[]; cursor: string | null }> {
    this.hooks.subscription(subscription);
    const limit = opts.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected \`limit\` to be an integer from 1 to 1000, got ${describeValue(limit)}`,
      );
    }
    const afterId = opts.cursor === undefined ? undefined : parseCursor(opts.cursor);
    const page = await this.hooks.storage(() =>
      this.hooks.driver.listDeadLetters(subscription, {
        limit,
        afterId,
        from: timeBound('from', opts.from),
        to: timeBound('to', opts.to),
      }),
    );
    const last = page[page.length - 1];
    return { deadLetters: page.map(view), cursor: page.length === limit && last ? String(last.deliveryId) : null };
  }

  async get(subscription: string, id: number): Promise<DeadLetterView> {
    this.hooks.subscription(subscription);
    const d = await this.hooks.storage(() => this.hooks.driver.getDeadLetter(subscription, id));
    if (d === null)
      throw new BusError('NOT_FOUND', `No dead letter ${describeValue(id)} in subscription "${subscription}"`);
    return view(d);
  }

  async count(subscription: string, filter: { from?: number; to?: number } = {}): Promise<number> {
    this.hooks.subscription(subscription);
    return this.hooks.storage(() =>
      this.hooks.driver.countDeadLetters(subscription, {
        from: timeBound('from', filter.from),
        to: timeBound('to', filter.to),
      }),
    );
  }

  /** Deletes one dead letter for good. */
  async delete(subscription: string, id: number): Promise<void> {
    this.hooks.subscription(subscription);
    const n = await this.hooks.storage(() => this.hooks.driver.deleteDeadLetters(subscription, [id]));
    if (n === 0)
      throw new BusError('NOT_FOUND', `No dead letter ${describeValue(id)} in subscription "${subscription}"`);
  }

  /** Deletes every dead letter of the subscription; returns how many. */
  async purge(subscription: string): Promise<number> {
    this.hooks.subscription(subscription);
    return this.hooks.storage(() => this.hooks.driver.deleteDeadLetters(subscription, 'all'));
  }

  /**
   * Puts dead letters back into the subscription's queue as new deliveries (attempts start over).
   * Returns how many were (or, with `dryRun`, would be) redriven.
   */
  async redrive(subscription: string, selection: RedriveSelection = {}): Promise<{ count: number; dryRun: boolean }> {
    this.hooks.subscription(subscription);
    if (typeof selection !== 'object' || selection === null) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected the redrive selection to be an object, got ${describeValue(selection)}`,
      );
    }
    if (selection.dryRun !== undefined && typeof selection.dryRun !== 'boolean') {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected \`dryRun\` to be a boolean, got ${describeValue(selection.dryRun)}`,
      );
    }
    if (selection.pattern !== undefined) validatePattern(selection.pattern);
    timeBound('from', selection.from);
    timeBound('to', selection.to);
    const dryRun = selection.dryRun === true;
    let ids: number[];
    if (selection.ids !== undefined) {
      if (!Array.isArray(selection.ids) || selection.ids.some((id) => !Number.isSafeInteger(id))) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Expected \`ids\` to be an array of dead-letter ids, got ${describeValue(selection.ids)}`,
        );
      }
      ids = [];
      for (const id of new Set(selection.ids)) {
        const d = await this.hooks.storage(() => this.hooks.driver.getDeadLetter(subscription, id));
        if (d !== null && this.selected(d, selection)) ids.push(id);
      }
    } else {
      ids = await this.select(subscription, selection);
    }
    if (dryRun || ids.length === 0) return { count: ids.length, dryRun };
    let count = 0;
    for (let i = 0; i < ids.length; i += PAGE) {
      const chunk = ids.slice(i, i + PAGE);
      count += await this.hooks.storage(() => this.hooks.driver.redrive(subscription, chunk, this.hooks.clock.now()));
    }
    this.hooks.wake(subscription);
    if (count > 0) this.hooks.observers.emit('redrive', subscription, count);
    return { count, dryRun };
  }

  private index?: { key: string | object; index: PatternIndex };

  private selected(d: DeadLetter, selection: RedriveSelection): boolean {
    if (selection.from !== undefined && d.deadAt < selection.from) return false;
    if (selection.to !== undefined && d.deadAt > selection.to) return false;
    if (selection.pattern === undefined) return true;
    if (this.index?.key !== selection.pattern) {
      validatePattern(selection.pattern);
      const index = new PatternIndex();
      index.add('p', selection.pattern);
      this.index = { key: selection.pattern, index };
    }
    return this.index.index.match(d.event.body).length > 0;
  }

  private async select(subscription: string, selection: RedriveSelection): Promise<number[]> {
    if (selection.pattern !== undefined) validatePattern(selection.pattern);
    const from = timeBound('from', selection.from);
    const to = timeBound('to', selection.to);
    const ids: number[] = [];
    let afterId: number | undefined;
    for (;;) {
      const page = await this.hooks.storage(() =>
        this.hooks.driver.listDeadLetters(subscription, { limit: PAGE, afterId, from, to }),
      );
      for (const d of page) if (this.selected(d, selection)) ids.push(d.deliveryId);
      if (page.length < PAGE) return ids;
      afterId = page[page.length - 1]!.deliveryId;
    }
  }
}
