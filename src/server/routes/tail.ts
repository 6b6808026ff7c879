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
import type { ServerResponse } from 'node:http';
import { BusError } from '../../core/errors.js';
import { PatternIndex, validatePattern } from '../../patterns/index.js';
import { busParams, type RouteOptions } from '../schemas.js';

const PING_MS = 15_000;
const MAX_BUFFERED_BYTES = 1024 * 1024;

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
  const streams = new Set<ServerResponse>();
  // Open streams never end on their own: close them so that the server can close.
  app.addHook('preClose', (done) => {
    for (const raw of streams) raw.end();
    done();
  });

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
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': busbar tail\n\n');
      streams.add(raw);
      const off = bus.onPublish((event) => {
        if (raw.writableEnded || event.bus !== name) return;
        if (filter !== null && filter.match(event.body).length === 0) return;
        if (raw.writableLength > MAX_BUFFERED_BYTES) {
          const error = { code: 'SLOW_CONSUMER', message: 'The client read the stream too slowly; reconnect' };
          raw.end(`event: error\ndata: ${JSON.stringify(error)}\n\n`);
          return;
        }
        // Line breaks in the JSON text (white space only) continue the message on more `data:` lines.
        const data = event.body.includes('\n') ? event.body.replace(/\r?\n/g, '\ndata: ') : event.body;
        raw.write(`event: cloudevent\nid: ${event.seq}\ndata: ${data}\n\n`);
      });
      const ping = setInterval(() => {
        if (!raw.writableEnded) raw.write(': ping\n\n');
      }, PING_MS);
      ping.unref();
      raw.once('close', () => {
        off();
        clearInterval(ping);
        streams.delete(raw);
      });
    },
  );
}
