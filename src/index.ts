/**
 * Busbar's library API: the bus (`Busbar.open`), the event model, errors, and the EventBridge pattern engine.
 *
 * @example
 * ```ts
 * import { validateEvent, matchesPattern } from 'busbar';
 * const event = validateEvent({ specversion: '1.0', source: '/orders', type: 'order.placed', data: { total: 30 } });
 * matchesPattern('{"source": ["/orders"]}', JSON.stringify(event)); // true
 * ```
 */
export * from './core/errors.js';
export * from './core/events.js';
export { createUuidV7Generator, uuidv7, type UuidV7Options } from './core/uuid.js';
export * from './patterns/index.js';
export { Busbar, DEFAULT_STORAGE, resolveStorage, type BusbarOptions } from './busbar.js';
export type {
  EngineOptions,
  SubscriptionInput,
  PublishResult,
  PublishedEvent,
  Consumer,
} from './core/engine/engine.js';
export type { Handler, DeliveryContext, AttemptReport, DispatcherOptions } from './core/engine/dispatcher.js';
export { NonRetriableError, RetryAfterError } from './core/engine/outcomes.js';
export { DEFAULT_DELIVERY, DEFAULT_RETENTION, type DeliveryPolicyInput } from './core/engine/policy.js';
export type { DeadLetterView, RedriveSelection } from './core/engine/dead-letters.js';
export type { ReplayInput } from './core/engine/replays.js';
export type { ArchiveQueryInput, ArchivePage, EventLineage } from './core/engine/archive.js';
export { ManualClock, systemClock, type Clock } from './core/clock.js';
export type * from './storage/driver.js';
