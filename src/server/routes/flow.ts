/**
 * What the dashboard reads: `GET /v1/flow` (the live graph, see ../flow.ts), `GET /v1/flow/stream` (the
 * same as Server-Sent Events, one `event: flow` message at once and then every `intervalMs`),
 * `GET /v1/subscriptions/{name}/history` (a subscription's last hour) and `GET /v1/auth` (whether the
 * server wants an API key, and the scopes of the one presented).
 *
 * Streams are set up by ../sse.ts (slow clients, pings, server close). The stream's timer runs on the
 * engine's clock, so tests move it with a ManualClock.
 */
import type { FastifyInstance } from 'fastify';
import type { TimerHandle } from '../../core/clock.js';
import { errorBody, toBusError } from '../errors.js';
import type { Flow } from '../flow.js';
import { subscriptionParams, type RouteOptions } from '../schemas.js';
import { eventStreams } from '../sse.js';

/** The default and bounds of the stream's `intervalMs`. */
export const STREAM_INTERVAL_MS = { default: 1_000, min: 200, max: 60_000 } as const;

export interface FlowRouteOptions extends RouteOptions {
  readonly flow: Flow;
  /** Whether the server has API keys (`GET /v1/auth`). */
  readonly auth: boolean;
}

export function flowRoutes(app: FastifyInstance, { bus, flow, auth }: FlowRouteOptions): void {
  const streams = eventStreams(app);

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
      // Snapshots may be further apart than proxies wait on an idle connection: ping only then.
      const stream = streams.open(reply, 'busbar flow', { ping: intervalMs > 15_000 });
      let timer: TimerHandle | undefined;
      const send = async (): Promise<void> => {
        timer = undefined;
        let sent: boolean;
        try {
          sent = stream.send('flow', JSON.stringify(await flow.snapshot()));
        } catch (err) {
          // Storage did not answer: say so and try again at the next tick.
          const error = toBusError(err);
          request.log.error({ err }, error.message);
          sent = stream.send('error', JSON.stringify(errorBody(error).error));
        }
        if (sent) timer = bus.clock.setTimer(() => void send(), intervalMs);
      };
      void send();
      stream.onClose(() => {
        if (timer !== undefined) bus.clock.clearTimer(timer);
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
