/**
 * `buildServer()`: the Fastify application of Busbar's HTTP API over one engine. It owns body
 * parsing (JSON, and the raw bodies of CloudEvents binary mode), the error shape and health checks;
 * the routes live in ./routes/.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Busbar } from '../busbar.js';
import { BusError } from '../core/errors.js';
import { errorBody, errorHandler, notFoundHandler } from './errors.js';
import { busRoutes } from './routes/buses.js';
import { eventRoutes } from './routes/events.js';
import { subscriptionRoutes } from './routes/subscriptions.js';
import { pullRoutes } from './routes/pull.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import { replayRoutes } from './routes/replays.js';
import { patternRoutes } from './routes/patterns.js';
import { tailRoutes } from './routes/tail.js';
import { authenticator, type ApiKey } from './auth.js';
import { collectRoutes, openApiDocument } from './openapi.js';
import { createMetrics } from './metrics.js';
import type { Tracing } from './tracing.js';
import { createFlow } from './flow.js';
import { flowRoutes } from './routes/flow.js';
import { serveDashboard } from './static.js';
import { packageVersion } from '../version.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes bodies of any content type (CloudEvents binary mode); others take JSON only. */
    anyBody?: boolean;
  }
}

/** Options of {@link buildServer}. */
export interface ServerOptions {
  /**
   * Largest request body accepted, in bytes; larger ones answer 413 `PAYLOAD_TOO_LARGE`.
   * @default 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Log requests and errors with Fastify's logger (pino, JSON lines on stdout).
   * @default false
   */
  logger?: boolean;
  /** API keys with scopes; none means the API is open (see auth.ts). @default [] */
  apiKeys?: readonly ApiKey[];
  /** `GET /metrics` also exports the process metrics (`process_*`, `nodejs_*`). @default false */
  processMetrics?: boolean;
  /** `GET /metrics` also exports these spans' counts (`startTracing`'s result). @default null */
  tracing?: Pick<Tracing, 'stats'> | null;
}

/** The default of {@link ServerOptions.maxBodyBytes}. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

function rejectUnlessAnyBody(request: FastifyRequest): void {
  if (request.routeOptions.config.anyBody !== true) {
    throw new BusError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Expected a JSON body (content type application/json), got "${request.headers['content-type'] ?? 'none'}"`,
    );
  }
}

/** JSON bodies for every route; an empty body is no body, so bodiless POSTs work with any client. */
function parseJson(_request: FastifyRequest, text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BusError(
      'INVALID_JSON',
      `Expected the request body to be JSON, got invalid JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Builds the HTTP API over `bus` without listening, so that tests can call `app.inject()` and
 * `busbar start` can call `app.listen()`. Closing the app does not close the bus.
 *
 * @example
 * ```ts
 * const bus = await Busbar.open({ storage: 'memory' });
 * const app = buildServer(bus);
 * const res = await app.inject({ method: 'GET', url: '/healthz' });
 * ```
 */
export function buildServer(bus: Busbar, options: ServerOptions = {}): FastifyInstance {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`maxBodyBytes\` to be a positive integer, got ${String(maxBodyBytes)}`,
    );
  }
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: maxBodyBytes,
    // Unknown fields are errors, not silently dropped; `verbose` puts the offending value in messages.
    ajv: { customOptions: { removeAdditional: false, verbose: true, allErrors: false } },
    // Errors Fastify raises before routing (a malformed URL) take the same shape as every other.
    frameworkErrors: errorHandler,
  });
  // While closing, answers end their keep-alive connection, so that close() does not wait for clients
  // to hang up (requests still running finish; long-polls are answered at once, see routes/pull.ts).
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(/^application\/([\w.-]+\+)?json\s*(;|$)/i, { parseAs: 'string' }, (request, text, done) => {
    try {
      done(null, parseJson(request, text as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser(/^text\//i, { parseAs: 'string' }, (request, text, done) => {
    try {
      rejectUnlessAnyBody(request);
      done(null, text);
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      rejectUnlessAnyBody(request);
      done(null, body);
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  serveDashboard(app); // before the API keys' hook: the dashboard's files are public
  const apiKeys = options.apiKeys ?? [];
  app.decorateRequest('apiKeyScopes', null);
  if (apiKeys.length > 0) {
    const check = authenticator(apiKeys);
    app.addHook('onRequest', (request, _reply, done) => {
      try {
        request.apiKeyScopes = check(request);
        done();
      } catch (err) {
        done(err as Error);
      }
    });
  }

  const registered = collectRoutes(app);
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      // The engine answers from memory; the driver call proves the storage still answers.
      bus.listBuses();
      await bus.driver.listBuses();
      return { status: 'ok' };
    } catch (err) {
      const error = new BusError('STORAGE_UNAVAILABLE', `Storage is not answering: ${(err as Error).message}`);
      return reply.status(503).send({ status: 'unavailable', ...errorBody(error) });
    }
  });

  const metrics = createMetrics(bus, {
    processMetrics: options.processMetrics === true,
    tracing: options.tracing ?? null,
  });
  const flow = createFlow(bus);
  app.addHook('onClose', (_instance, done) => {
    metrics.close();
    flow.close();
    done();
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  let document: Record<string, unknown> | undefined;
  app.get('/v1/openapi.json', () => (document ??= openApiDocument(registered, packageVersion())));

  for (const routes of [
    busRoutes,
    eventRoutes,
    subscriptionRoutes,
    pullRoutes,
    deadLetterRoutes,
    replayRoutes,
    patternRoutes,
    tailRoutes,
  ]) {
    routes(app, { bus });
  }
  flowRoutes(app, { bus, flow, auth: apiKeys.length > 0 });
  return app;
}
