/**
 * The admin routes, one method each. Every method resolves to the route's JSON body exactly as the
 * server sends it (no unwrapping), or `undefined` for a 204; a non-2xx rejects with `BusbarError`.
 */
import { path, type Transport } from './http.js';
import type {
  ArchivePage,
  ArchiveQuery,
  Bus,
  BusInput,
  DeadLetter,
  DeadLetterPage,
  EventLineage,
  RedriveSelection,
  Replay,
  ReplayInput,
  Subscription,
  SubscriptionInput,
  SubscriptionWithStats,
} from './types.js';

/** `/v1/buses`. */
export interface BusesApi {
  /** `GET /v1/buses`. */
  list(): Promise<{ buses: Bus[] }>;
  /** `GET /v1/buses/{name}`. */
  get(name: string): Promise<Bus>;
  /** `PUT /v1/buses/{name}`: creates the bus or updates its retention. */
  put(name: string, body?: BusInput): Promise<Bus>;
  /** `DELETE /v1/buses/{name}` (with its archive and subscriptions); resolves to undefined (204). */
  delete(name: string): Promise<undefined>;
}

/** `/v1/subscriptions`. */
export interface SubscriptionsApi {
  /** `GET /v1/subscriptions[?bus=]`. */
  list(options?: { bus?: string }): Promise<{ subscriptions: Subscription[] }>;
  /** `GET /v1/subscriptions/{name}`, with backlog, in-flight and dead-letter counts. */
  get(name: string): Promise<SubscriptionWithStats>;
  /** `PUT /v1/subscriptions/{name}`: creates or updates (keeping its queue and dead letters). */
  put(name: string, body: SubscriptionInput): Promise<Subscription>;
  /** `DELETE /v1/subscriptions/{name}` with its queue and dead letters; resolves to undefined (204). */
  delete(name: string): Promise<undefined>;
  /** `POST /v1/subscriptions/{name}/pause`: events keep queueing, nothing is delivered. */
  pause(name: string): Promise<Subscription>;
  /** `POST /v1/subscriptions/{name}/resume`. */
  resume(name: string): Promise<Subscription>;
}

/** `/v1/subscriptions/{name}/dead-letters`. */
export interface DeadLettersApi {
  /** One page, oldest first; `from`/`to` select by when they died (ms). */
  list(
    subscription: string,
    options?: { limit?: number; cursor?: string; from?: number; to?: number },
  ): Promise<DeadLetterPage>;
  get(subscription: string, id: number): Promise<DeadLetter>;
  /** Puts dead letters back into the queue (idempotent); `dryRun` only counts. */
  redrive(subscription: string, selection?: RedriveSelection): Promise<{ count: number; dryRun: boolean }>;
  /** Deletes one dead letter; resolves to undefined (204). */
  delete(subscription: string, id: number): Promise<undefined>;
  /** Deletes every dead letter of the subscription. */
  purge(subscription: string): Promise<{ deleted: number }>;
}

/** `/v1/replays`. */
export interface ReplaysApi {
  /** `POST /v1/replays` (202): the replay runs in the background; poll `get` for its progress. */
  start(body: ReplayInput): Promise<Replay>;
  get(id: string): Promise<Replay>;
  list(options?: { bus?: string }): Promise<{ replays: Replay[] }>;
  cancel(id: string): Promise<Replay>;
}

/** `/v1/buses/{bus}/events`: the archive. */
export interface EventsApi {
  /** Archived events, oldest first, by publish time, type, source and pattern; paged by `cursor`. */
  list(bus: string, query?: ArchiveQuery): Promise<ArchivePage>;
  /** The lineage of an event id: each stored event with that id, its deliveries and their attempts. */
  get(bus: string, id: string): Promise<EventLineage[]>;
}

const noBody = <T>(promise: Promise<unknown>): Promise<T> => promise as Promise<T>;

/** The {@link BusesApi} over `t`. */
export function busesApi(t: Transport): BusesApi {
  return {
    list: () => t.request({ method: 'GET', path: '/v1/buses' }),
    get: (name) => t.request({ method: 'GET', path: path`/v1/buses/${name}` }),
    put: (name, body = {}) => t.request({ method: 'PUT', path: path`/v1/buses/${name}`, body }),
    delete: (name) => noBody(t.request({ method: 'DELETE', path: path`/v1/buses/${name}` })),
  };
}

/** The {@link SubscriptionsApi} over `t`. */
export function subscriptionsApi(t: Transport): SubscriptionsApi {
  return {
    list: (options = {}) => t.request({ method: 'GET', path: '/v1/subscriptions', query: { bus: options.bus } }),
    get: (name) => t.request({ method: 'GET', path: path`/v1/subscriptions/${name}` }),
    put: (name, body) => t.request({ method: 'PUT', path: path`/v1/subscriptions/${name}`, body }),
    delete: (name) => noBody(t.request({ method: 'DELETE', path: path`/v1/subscriptions/${name}` })),
    pause: (name) => t.request({ method: 'POST', path: path`/v1/subscriptions/${name}/pause` }),
    resume: (name) => t.request({ method: 'POST', path: path`/v1/subscriptions/${name}/resume` }),
  };
}

/** The {@link DeadLettersApi} over `t`. */
export function deadLettersApi(t: Transport): DeadLettersApi {
  return {
    list: (subscription, options = {}) =>
      t.request({
        method: 'GET',
        path: path`/v1/subscriptions/${subscription}/dead-letters`,
        query: { limit: options.limit, cursor: options.cursor, from: options.from, to: options.to },
      }),
    get: (subscription, id) =>
      t.request({ method: 'GET', path: path`/v1/subscriptions/${subscription}/dead-letters/${id}` }),
    // Redrive is idempotent on the server (a redriven dead letter is no longer one), so it may be retried.
    redrive: (subscription, selection = {}) =>
      t.request({
        method: 'POST',
        path: path`/v1/subscriptions/${subscription}/dead-letters/redrive`,
        body: selection,
      }),
    delete: (subscription, id) =>
      noBody(t.request({ method: 'DELETE', path: path`/v1/subscriptions/${subscription}/dead-letters/${id}` })),
    purge: (subscription) =>
      t.request({ method: 'DELETE', path: path`/v1/subscriptions/${subscription}/dead-letters` }),
  };
}

/** The {@link ReplaysApi} over `t`. */
export function replaysApi(t: Transport): ReplaysApi {
  return {
    // A retried start could start a second replay: retry only what surely did not reach the server.
    start: (body) => t.request({ method: 'POST', path: '/v1/replays', body, retry: 'unsent' }),
    get: (id) => t.request({ method: 'GET', path: path`/v1/replays/${id}` }),
    list: (options = {}) => t.request({ method: 'GET', path: '/v1/replays', query: { bus: options.bus } }),
    cancel: (id) => t.request({ method: 'POST', path: path`/v1/replays/${id}/cancel` }),
  };
}

/** The {@link EventsApi} over `t`. */
export function eventsApi(t: Transport): EventsApi {
  return {
    list: (bus, query = {}) => {
      const { pattern, ...rest } = query;
      return t.request({
        method: 'GET',
        path: path`/v1/buses/${bus}/events`,
        query: { ...rest, pattern: typeof pattern === 'object' ? JSON.stringify(pattern) : pattern },
      });
    },
    get: (bus, id) => t.request({ method: 'GET', path: path`/v1/buses/${bus}/events/${id}` }),
  };
}
