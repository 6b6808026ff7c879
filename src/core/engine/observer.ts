/**
 * What happens in the engine, told as it happens to observers (metrics, logs): publishes and rejected
 * publishes, every attempt (in-process, pull and webhook consumers alike), redrives and replays.
 * Observers run synchronously on the engine's path, so they only count and never block; one that throws
 * is reported to `onError` and the engine goes on.
 */
import type { AttemptRecord, Completion } from '../../storage/driver.js';

/** A publish that was stored: `accepted` new events (with `deliveries` owed in total), `duplicates` not stored. */
export interface PublishObservation {
  readonly bus: string;
  readonly accepted: number;
  readonly duplicates: number;
  /** Accepted events that matched at least one subscription (the others are archived only). */
  readonly matched: number;
  readonly deliveries: number;
  /** From the call to the durable commit, ms. */
  readonly durationMs: number;
}

/** A publish to an existing bus that stored nothing, by the error's code (`INVALID_EVENT`, `STORAGE_UNAVAILABLE`…). */
export interface RejectObservation {
  readonly bus: string;
  readonly code: string;
  readonly events: number;
}

/** One settled attempt of a delivery, or a delivery dead-lettered without one (attempts or age ran out). */
export interface AttemptObservation {
  readonly subscription: string;
  /**
   * The `id` of the delivery's event; absent when it is not known here (a pull receipt leased by another
   * process). Observers may keep it for a short list of recent failures, never as a metric label.
   */
  readonly eventId?: string;
  /** The attempt as recorded; null when nothing was tried, or when another process leased it (pull receipts). */
  readonly record: AttemptRecord | null;
  readonly completion: Completion;
  /** Publish (archive) to this successful attempt's end, ms; null unless it succeeded, and for replays. */
  readonly endToEndMs: number | null;
  /** The attempt number that ended the delivery (ack or dead letter); null while it is retried. */
  readonly attemptsUsed: number | null;
}

export interface EngineObserver {
  publish?(observation: PublishObservation): void;
  reject?(observation: RejectObservation): void;
  attempt?(observation: AttemptObservation): void;
  /** Dead letters put back (new deliveries) for a subscription. */
  redrive?(subscription: string, count: number): void;
  /** Deliveries a replay created for a subscription. */
  replay?(subscription: string, count: number): void;
}

/** The engine's observers, called in registration order. */
export class Observers {
  private readonly list = new Set<EngineObserver>();

  constructor(private readonly onError: (err: unknown) => void) {}

  add(observer: EngineObserver): () => void {
    const entry = { ...observer }; // the same object may be added twice
    this.list.add(entry);
    return () => void this.list.delete(entry);
  }

  get active(): boolean {
    return this.list.size > 0;
  }

  emit<K extends keyof EngineObserver>(kind: K, ...args: Parameters<NonNullable<EngineObserver[K]>>): void {
    for (const observer of this.list) {
      const fn = observer[kind] as ((...a: unknown[]) => void) | undefined;
      if (fn === undefined) continue;
      try {
        fn.apply(observer, args);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/**
 * The observation of a settled attempt of `delivery` (its number and event), or of a delivery that
 * died before an attempt (`record` null, `attempt` the number it would have had).
 */
export function attemptObservation(
  subscription: string,
  delivery: {
    readonly attempt: number;
    readonly replayId: string | null;
    readonly event: { readonly id?: string; readonly publishedAt: number };
  },
  record: AttemptRecord | null,
  completion: Completion,
  now: number,
): AttemptObservation {
  return {
    subscription,
    ...(delivery.event.id === undefined ? {} : { eventId: delivery.event.id }),
    record,
    completion,
    // A replayed event was published long before: its age says nothing about delivery latency.
    endToEndMs:
      completion.kind === 'ack' && delivery.replayId === null ? Math.max(0, now - delivery.event.publishedAt) : null,
    attemptsUsed: completion.kind === 'retry' ? null : record === null ? delivery.attempt - 1 : record.attempt,
  };
}
