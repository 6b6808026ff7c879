/**
 * `GET /v1/buses/{bus}/tail`: the events a bus stores, live, as Server-Sent Events (what `busbar tail`
 * shows). Each stored event is one message: `event: cloudevent`, `id: <seq>`, `data: <CloudEvent JSON>`;
 * a `: ping` comment every 15 s keeps proxies from closing an idle stream. Only events stored from
 * the moment the stream opens, by this server; the archive (`GET /v1/buses/{bus}/events`) has the past.
 *
 * A client that reads too slowly is disconnected (with an `event: error` message) once 1 MiB waits for
 * it, so one stuck reader never holds the server's memory.
 */
import type { FastifyInstance } from 'fastify';
import { BusError } from '../../core/errors.js';
import { PatternIndex, validatePattern } from '../../patterns/index.js';
import { busParams, type RouteOptions } from '../schemas.js';
import { eventStreams } from '../sse.js';

function parsePattern(text: string | undefined): PatternIndex | null {
  if (text === undefined) return null;
  let pattern: unknown;
  try {
    pattern = JSON.parse(text);
  } catch (err) {
    throw new BusError('INVALID_PATTERN', `Expected \`pattern\` to be JSON text, got ${(err as Error).message}`);
  }
  validatePattern(pattern as object);
  const index = new PatternIndex();
  index.add('tail', pattern as object);
  return index;
}

export function tailRoutes(app: FastifyInstance, { bus }: RouteOptions): void {
  const streams = eventStreams(app);

  app.get<{ Params: { bus: string }; Querystring: { pattern?: string } }>(
    '/v1/buses/:bus/tail',
    {
      schema: {
        params: busParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            /** An EventBridge pattern as JSON text: only matching events are sent. */
            pattern: { type: 'string', minLength: 1 },
          },
        },
      },
    },
    (request, reply) => {
      const name = request.params.bus;
      bus.getBus(name);
      const filter = parsePattern(request.query.pattern);
      const stream = streams.open(reply, 'busbar tail');
      const off = bus.onPublish((event) => {
        if (event.bus !== name || (filter !== null && filter.match(event.body).length === 0)) return;
        stream.send('cloudevent', event.body, event.seq);
      });
      stream.onClose(off);
    },
  );
}
