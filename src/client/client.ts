/**
 * `createClient()`: Busbar over HTTP. Publishing, pull consumers, the live tail and every admin route
 * of the server, behind one object.
 */
import { describeValue } from '../core/errors.js';
import type { CloudEvent } from '../core/events.js';
import { uuidv7 } from '../core/uuid.js';
import {
  busesApi,
  deadLettersApi,
  eventsApi,
  replaysApi,
  subscriptionsApi,
  type BusesApi,
  type DeadLettersApi,
  type EventsApi,
  type ReplaysApi,
  type SubscriptionsApi,
} from './admin.js';
import { PullConsumer, type Consumer } from './consumer.js';
import { BusbarError } from './errors.js';
import { path, Transport } from './http.js';
import {
  resolveClientOptions,
  resolveConsumeOptions,
  type ClientHandler,
  type ClientOptions,
  type ConsumeOptions,
} from './options.js';
import { checkTailOptions, TailIterator, type TailOptions } from './tail.js';
import type { EventInput, EventMap, PublishResult } from './types.js';

/** A Busbar server, over HTTP. Create one with {@link createClient}. */
export interface BusbarClient<E extends EventMap = EventMap> {
  /**
   * Publishes one event (CloudEvents structured mode) or an atomic batch (batch mode), and resolves
   * only after the server answered 2xx, which it does after the durable commit. `specversion` defaults
   * to `'1.0'`; an event without `id` gets a UUIDv7 before the first try, so a retry after a lost
   * response is dropped by the server as a duplicate (`source` + `id`) instead of stored twice.
   */
  publish(bus: string, events: EventInput<E> | readonly EventInput<E>[]): Promise<PublishResult>;
  /**
   * Consumes a pull subscription until stopped: handlers run as in-process ones do (return to ack,
   * throw to retry, `NonRetriableError` to dead-letter, `RetryAfterError(ms)` to pick the delay).
   */
  consume(subscription: string, handler: ClientHandler, options?: ConsumeOptions): Consumer;
  /**
   * The events the bus stores from now on, live (`GET /v1/buses/{bus}/tail`). Ends when `signal`
   * aborts or the loop breaks; a broken connection rejects with `BusbarError` (`UNAVAILABLE`).
   */
  tail(bus: string, options?: TailOptions): AsyncIterable<CloudEvent>;
  /** `POST /v1/test-pattern`: whether `event` matches `pattern` (EventBridge's TestEventPattern). */
  testPattern(pattern: object | string, event: object | string): Promise<boolean>;
  readonly buses: BusesApi;
  readonly subscriptions: SubscriptionsApi;
  readonly deadLetters: DeadLettersApi;
  readonly replays: ReplaysApi;
  readonly events: EventsApi;
}

/** Batch mode (CloudEvents HTTP binding §3.3) and structured mode (§3.2). */
const BATCH = 'application/cloudevents-batch+json';
const STRUCTURED = 'application/cloudevents+json';

/** A copy of the event with `specversion` and `id` filled in; the caller's object is left alone. */
function prepare(input: unknown, index: number | null): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    const which = index === null ? 'the event' : `event ${index}`;
    throw new TypeError(`Expected ${which} to be an object, got ${describeValue(input)}`);
  }
  const event = { ...(input as Record<string, unknown>) };
  event['specversion'] ??= '1.0';
  event['id'] ??= uuidv7();
  return event;
}

/**
 * Creates a client of the Busbar server at `options.url`. Uses only web APIs (fetch, Web Crypto,
 * streams), so it runs in browsers, Deno and Bun as well as Node.js.
 *
 * @example
 * ```ts
 * import { createClient, NonRetriableError } from 'busbar/client';
 *
 * type ShopEvents = { 'order.placed': { orderId: string; total: number } };
 * const client = createClient<ShopEvents>({ url: 'http://127.0.0.1:4080', apiKey: 'shop-key-0123456789' });
 * await client.publish('orders', { source: '/shop', type: 'order.placed', data: { orderId: 'o-1', total: 30 } });
 *
 * const consumer = client.consume('inventory', async (event) => {
 *   if (event.data === undefined) throw new NonRetriableError('no data');
 *   await reserveStock(event.data);
 * });
 * await consumer.stop();
 * ```
 */
export function createClient<E extends EventMap = EventMap>(options: ClientOptions): BusbarClient<E> {
  const transport = new Transport(resolveClientOptions(options));
  return {
    async publish(bus, events) {
      if (typeof bus !== 'string' || bus === '') {
        throw new TypeError(`Expected \`bus\` to be a non-empty string, got ${describeValue(bus)}`);
      }
      const batch = Array.isArray(events);
      const body = batch ? (events as readonly unknown[]).map((e, i) => prepare(e, i)) : prepare(events, null);
      const result = await transport.request<PublishResult>({
        method: 'POST',
        path: path`/v1/buses/${bus}/events`,
        body,
        contentType: batch ? BATCH : STRUCTURED,
      });
      if (!Array.isArray(result?.results)) {
        throw new BusbarError('INVALID_RESPONSE', 'The publish response has no `results` array', { status: 200 });
      }
      return result;
    },

    consume(subscription, handler, consumeOptions = {}) {
      const resolved = resolveConsumeOptions(subscription, handler, consumeOptions);
      return new PullConsumer(transport, subscription, handler, resolved);
    },

    tail(bus, tailOptions = {}) {
      checkTailOptions(bus, tailOptions);
      return { [Symbol.asyncIterator]: () => new TailIterator(transport, bus, tailOptions) };
    },

    async testPattern(pattern, event) {
      const body = await transport.request<{ match: unknown }>({
        method: 'POST',
        path: '/v1/test-pattern',
        body: { pattern, event },
      });
      if (typeof body?.match !== 'boolean') {
        throw new BusbarError('INVALID_RESPONSE', 'The test-pattern response has no boolean `match`', { status: 200 });
      }
      return body.match;
    },

    buses: busesApi(transport),
    subscriptions: subscriptionsApi(transport),
    deadLetters: deadLettersApi(transport),
    replays: replaysApi(transport),
    events: eventsApi(transport),
  };
}
