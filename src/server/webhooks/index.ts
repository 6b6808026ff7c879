/**
 * Webhook (push) delivery: the handler that POSTs events, its signing and rate limit, and the runner
 * that keeps one consumer per webhook subscription.
 */
export {
  webhookHandler,
  classifyResponse,
  encodeEvent,
  parseRetryAfter,
  type WebhookError,
  type WebhookHandlerOptions,
  type WebhookResult,
} from './handler.js';
export { importSigningKey, sign } from './signing.js';
export { TokenBucket } from './rate.js';
export { WebhookRunner, type WebhookRunnerOptions } from './runner.js';
