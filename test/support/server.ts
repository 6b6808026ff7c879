/** Helpers for the HTTP tests: a real engine with a manual clock and the app around it, plus request shorthands. */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { Busbar, type BusbarOptions } from '../../src/busbar.js';
import { ManualClock } from '../../src/core/clock.js';
import { buildServer, type ServerOptions } from '../../src/server/index.js';

export const T0 = Date.parse('2026-11-27T00:00:00Z');

export interface Harness {
  bus: Busbar;
  app: FastifyInstance;
  clock: ManualClock;
  close(): Promise<void>;
  /** Sends JSON (objects are serialised, content type application/json unless given). */
  send(
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
}

export async function harness(
  storage: BusbarOptions['storage'],
  options: { engine?: BusbarOptions; server?: ServerOptions } = {},
): Promise<Harness> {
  const clock = new ManualClock(T0);
  const bus = await Busbar.open({ storage, clock, random: () => 0.5, pollIntervalMs: 60_000, ...options.engine });
  const app = buildServer(bus, options.server);
  return {
    bus,
    app,
    clock,
    async close() {
      await app.close();
      await bus.close();
    },
    send(method, url, body, headers = {}) {
      return app.inject({
        method,
        url,
        ...(body === undefined
          ? { headers }
          : {
              headers: { 'content-type': 'application/json', ...headers },
              payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
            }),
      });
    },
  };
}

/** A valid CloudEvent with the given type; `extra` overrides or adds attributes. */
export function event(type: string, data: unknown = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { specversion: '1.0', source: '/shop', type, data, ...extra };
}
