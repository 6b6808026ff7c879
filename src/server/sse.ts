/**
 * Server-Sent Events for the streaming routes (tail, flow): the response headers, a comment that opens
 * the stream, a `: ping` comment every 15 s on a stream that is otherwise quiet, protection against a
 * client that reads too slowly (disconnected with an `event: error` message once 1 MiB waits for it),
 * and the end of every open stream when the server closes (they never end on their own).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';

const PING_MS = 15_000;
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** An open stream. */
export interface EventStream {
  /** Sends one message (`data` may span lines); false once the stream has ended. */
  send(event: string, data: string, id?: string | number): boolean;
  /** Whether the client is gone or the stream was ended. */
  readonly closed: boolean;
  /** Runs `cleanup` once when the stream ends, for whatever reason. */
  onClose(cleanup: () => void): void;
}

/** The streams of one server; `open` turns a reply into a stream. */
export interface EventStreams {
  open(reply: FastifyReply, comment: string, options?: { readonly ping?: boolean }): EventStream;
}

/** Sets up streaming for `app`: open streams end when it closes. */
export function eventStreams(app: FastifyInstance): EventStreams {
  const open = new Set<ServerResponse>();
  app.addHook('preClose', (done) => {
    for (const raw of open) raw.end();
    done();
  });
  return {
    open(reply, comment, options = {}) {
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(`: ${comment}\n\n`);
      open.add(raw);
      const closed = (): boolean => raw.writableEnded || raw.destroyed;
      const ping =
        options.ping === false
          ? undefined
          : setInterval(() => {
              if (!closed()) raw.write(': ping\n\n');
            }, PING_MS).unref();
      const cleanups: Array<() => void> = [];
      raw.once('close', () => {
        clearInterval(ping);
        open.delete(raw);
        for (const cleanup of cleanups) cleanup();
      });
      return {
        get closed() {
          return closed();
        },
        onClose(cleanup) {
          cleanups.push(cleanup);
        },
        send(event, data, id) {
          if (closed()) return false;
          if (raw.writableLength > MAX_BUFFERED_BYTES) {
            const error = { code: 'SLOW_CONSUMER', message: 'The client read the stream too slowly; reconnect' };
            raw.end(`event: error\ndata: ${JSON.stringify(error)}\n\n`);
            return false;
          }
          // Line breaks in the data (white space in JSON text) continue the message on more `data:` lines.
          const lines = data.includes('\n') ? data.replace(/\r?\n/g, '\ndata: ') : data;
          raw.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${lines}\n\n`);
          return true;
        },
      };
    },
  };
}
