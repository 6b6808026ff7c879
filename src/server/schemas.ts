/**
 * JSON Schemas shared by the routes (path parameters and query strings; bodies are checked by the
 * engine, whose messages name the field). Fastify validates with them before a handler runs.
 */
import type { Busbar } from '../busbar.js';

/** What every route plugin gets. */
export interface RouteOptions {
  readonly bus: Busbar;
}

/** Names as the engine accepts them; the engine gives the precise message. */
const name = { type: 'string', minLength: 1, maxLength: 256 } as const;

export const busParams = {
  type: 'object',
  required: ['bus'],
  properties: { bus: name },
} as const;

export const subscriptionParams = {
  type: 'object',
  required: ['name'],
  properties: { name },
} as const;

/** A time in ms since the epoch, from a query string. */
export const timeMs = { type: 'integer', minimum: 0 } as const;

/** Page size: 1 to 1000. */
export const limit = { type: 'integer', minimum: 1, maximum: 1000 } as const;

export const cursor = { type: 'string', minLength: 1 } as const;

/** Drops `undefined` members, so that engine options see only what the client sent. */
export function defined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
