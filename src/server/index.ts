/**
 * Busbar's HTTP server: `buildServer(bus)` returns the Fastify application of the HTTP API.
 *
 * @example
 * ```ts
 * import { Busbar } from 'busbar';
 * import { buildServer } from './server/index.js';
 * const app = buildServer(await Busbar.open());
 * await app.listen({ port: 4080, host: '127.0.0.1' });
 * ```
 */
export { buildServer, DEFAULT_MAX_BODY_BYTES, type ServerOptions } from './app.js';
export { eventsFromRequest } from './cloudevents.js';
export {
  WebhookRunner,
  webhookHandler,
  type WebhookRunnerOptions,
  type WebhookHandlerOptions,
  type WebhookResult,
} from './webhooks/index.js';
