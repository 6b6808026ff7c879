/**
 * Busbar's SDK (`busbar/client`): publish, consume pull subscriptions, tail a bus and administer a
 * Busbar server over its HTTP API. It imports nothing from Node.js (only fetch, Web Crypto, streams and
 * timers), so it runs in browsers, Deno and Bun too; test/client.test.ts walks its import graph to
 * keep it that way.
 *
 * @example
 * ```ts
 * import { createClient } from 'busbar/client';
 * const client = createClient({ url: 'http://127.0.0.1:4080' });
 * await client.publish('orders', { source: '/shop', type: 'order.placed', data: { total: 30 } });
 * ```
 */
export { NonRetriableError, RetryAfterError } from '../core/engine/outcomes.js';
export type { CloudEvent } from '../core/events.js';
export { createClient, type BusbarClient } from './client.js';
export { BusbarError, type BusbarErrorOptions } from './errors.js';
export type { ClientOptions, ClientHandler, ClientHandlerContext, ConsumeOptions } from './options.js';
export type { Consumer } from './consumer.js';
export type { TailOptions } from './tail.js';
export type { BusesApi, SubscriptionsApi, DeadLettersApi, ReplaysApi, EventsApi } from './admin.js';
export type * from './types.js';
