/**
 * Busbar's library API: the event model, errors, and the EventBridge pattern engine.
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
