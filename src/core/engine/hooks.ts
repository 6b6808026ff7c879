/** What the engine lends its parts (dead letters, replays): storage, time, and its in-memory state. */
import { BusError, describeValue } from '../errors.js';
import type { Clock } from '../clock.js';
import type { StorageDriver, SubscriptionRecord } from '../../storage/driver.js';
import type { Observers } from './observer.js';

export interface EngineHooks {
  readonly driver: StorageDriver;
  readonly clock: Clock;
  /** The subscription, or a `NOT_FOUND` BusError. */
  readonly subscription: (name: string) => SubscriptionRecord;
  /** Tells the subscription's consumer in this process, if any, that deliveries are due. */
  readonly wake: (name: string) => void;
  /** Runs a storage call, turning datastore failures into `STORAGE_UNAVAILABLE`. */
  readonly storage: <T>(work: () => Promise<T>) => Promise<T>;
  readonly onError: (err: unknown) => void;
  /** Metrics and other observers of what the engine does. */
  readonly observers: Observers;
}

/** Page cursors are sequence numbers (archive seq, dead-letter id) as decimal text. */
export function parseCursor(cursor: string): number {
  if (typeof cursor !== 'string' || !/^\d{1,15}$/.test(cursor)) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`cursor\` to be a cursor returned by a previous page, got ${describeValue(cursor)}`,
    );
  }
  return Number(cursor);
}
