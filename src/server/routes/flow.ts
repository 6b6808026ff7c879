/**
 * What the dashboard reads: `GET /v1/flow` (the live graph, see ../flow.ts), `GET /v1/flow/stream` (the
 * same as Server-Sent Events, one `event: flow` message at once and then every `intervalMs`),
 * `GET /v1/subscriptions/{name}/history` (a subscription's last hour) and `GET /v1/auth` (whether the
 * server wants an API key, and the scopes of the one presented).
 *
 * A stream client that reads too slowly is disconnected (with an `event: error` message) once 1 MiB
 * waits for it, as in tail.ts. Its timer runs on the engine's clock, so tests move it with a ManualClock.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { TimerHandle } from '../../core/clock.js';
import { errorBody, toBusError } from '../errors.js';
import type { Flow } from '../flow.js';
import { subscriptionParams, type RouteOptions } from '../schemas.js';

const PING_MS = 15_000;
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** The default and bounds of the stream's `intervalMs`. */
export const STREAM_INTERVAL_MS = { default: 1_000, min: 200, max: 60_000 } as const;

export interface FlowRouteOptions extends RouteOptions {
  readonly flow: Flow;
  /** Whether the server has API keys (`GET /v1/auth`). */
  readonly auth: boolean;
}

export function flowRoutes(app: FastifyInstance, { bus, flow, auth }: FlowRouteOptions): void {
  const streams = new Set<ServerResponse>();
  // Open streams never end on their own: close them so that the server can close.
  app.addHook('preClose', (done) => {
    for (const raw of streams) raw.end();
    done();
  });

  app.get('/v1/flow', () => flow.snapshot());

  app.get<{ Querystring: { intervalMs?: number } }>(
    '/v1/flow/stream',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            /** Milliseconds between snapshots. */
            intervalMs: { type: 'integer', minimum: STREAM_INTERVAL_MS.min, maximum: STREAM_INTERVAL_MS.max },
          },
        },
      },
    },
    (request, reply) => {
      const intervalMs = request.query.intervalMs ?? STREAM_INTERVAL_MS.default;
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': busbar flow\n\n');
      streams.add(raw);
      let timer: TimerHandle | undefined;
      const send = async (): Promise<void> => {
        timer = undefined;
        let message: string;
        try {
          message = `event: flow\ndata: ${JSON.stringify(await flow.snapshot())}\n\n`;
        } catch (err) {
          // Storage did not answer: say so and try again at the next tick.
          const error = toBusError(err);
          request.log.error({ err }, error.message);
          message = `event: error\ndata: ${JSON.stringify(errorBody(error).error)}\n\n`;
        }
        if (raw.writableEnded || raw.destroyed) return;
        if (raw.writableLength > MAX_BUFFERED_BYTES) {
          const error = { code: 'SLOW_CONSUMER', message: 'The client read the stream too slowly; reconnect' };
          raw.end(`event: error\ndata: ${JSON.stringify(error)}\n\n`);
          return;
        }
        raw.write(message);
        timer = bus.clock.setTimer(() => void send(), intervalMs);
      };
      void send();
      // Snapshots may be further apart than proxies wait on an idle connection.
      const ping =
        intervalMs > PING_MS
          ? setInterval(() => {
              if (!raw.writableEnded) raw.write(': ping\n\n');
            }, PING_MS).unref()
          : undefined;
      raw.once('close', () => {
        if (timer !== undefined) bus.clock.clearTimer(timer);
        clearInterval(ping);
        streams.delete(raw);
      });
    },
  );

  app.get<{ Params: { name: string } }>(
    '/v1/subscriptions/:name/history',
    { schema: { params: subscriptionParams } },
    (request) => flow.history(request.params.name),
  );

  // Any valid key may ask (see auth.ts): the dashboard shows only what the key's scopes allow.
  app.get('/v1/auth', (request) => (auth ? { auth: true, scopes: request.apiKeyScopes ?? [] } : { auth: false }));
}
