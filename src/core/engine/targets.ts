/**
 * Subscription targets: where deliveries go. `handler` (an in-process consumer, the engine default),
 * `pull` (consumers in other processes, over HTTP) and `webhook` (the server POSTs each event).
 */
import { BusError, describeValue } from '../errors.js';

/** The target types a subscription may have. */
export const TARGET_TYPES = ['handler', 'pull', 'webhook'] as const;

/** One of {@link TARGET_TYPES}. */
export type TargetType = (typeof TARGET_TYPES)[number];

/** A webhook target, as stored (after {@link validateTarget}). */
export interface WebhookTarget {
  readonly type: 'webhook';
  /** An absolute http(s) URL; each event is POSTed to it. */
  readonly url: string;
  /** CloudEvents HTTP binding mode. @default 'binary' */
  readonly mode: 'binary' | 'structured';
  /**
   * Standard Webhooks signing secret, `whsec_<base64 of at least 16 bytes>`, or up to five during a
   * rotation (every request then carries one signature per secret); unsigned without it.
   */
  readonly secret?: string | readonly string[];
  /** Per-request timeout (1..900000). @default the subscription's `delivery.timeoutMs` */
  readonly timeoutMs?: number;
  /** Requests in flight at once (1..1000). @default the subscription's `delivery.concurrency` */
  readonly concurrency?: number;
  /** Most requests started per second (a positive number); unlimited without it. */
  readonly ratePerSec?: number;
}

const WEBHOOK_FIELDS = ['type', 'url', 'mode', 'secret', 'timeoutMs', 'concurrency', 'ratePerSec'];

function fail(field: string, what: string, got: unknown): never {
  throw new BusError('INVALID_ARGUMENT', `Expected \`${field}\` to be ${what}, got ${describeValue(got)}`, {
    details: { field },
  });
}

function optionalInteger(target: Record<string, unknown>, key: string, min: number, max: number): void {
  const value = target[key];
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`target.${key}`, `an integer from ${min} to ${max}`, value);
  }
}

/** The key bytes of a `whsec_` secret, or null when it is not one (standard base64, at least 16 bytes). */
export function secretKey(secret: string): Uint8Array<ArrayBuffer> | null {
  if (!secret.startsWith('whsec_')) return null;
  const b64 = secret.slice('whsec_'.length);
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return bytes.length >= 16 ? bytes : null;
}

function checkWebhook(target: Record<string, unknown>): WebhookTarget {
  for (const key of Object.keys(target)) {
    if (!WEBHOOK_FIELDS.includes(key))
      fail(`target.${key}`, `one of ${WEBHOOK_FIELDS.join(', ')} (unknown field)`, key);
  }
  const url = target['url'];
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    fail('target.url', 'an absolute http or https URL', url);
  }
  const mode = target['mode'] ?? 'binary';
  if (mode !== 'binary' && mode !== 'structured') fail('target.mode', '"binary" or "structured"', mode);
  const secret = target['secret'];
  if (secret !== undefined) {
    const list: unknown[] = Array.isArray(secret) ? secret : [secret];
    if (list.length === 0 || list.length > 5)
      fail('target.secret', 'one secret or a list of 1 to 5 during a rotation', secret);
    for (const s of list) {
      if (typeof s !== 'string' || secretKey(s) === null) {
        fail('target.secret', '"whsec_" followed by the base64 of at least 16 bytes', s);
      }
    }
  }
  optionalInteger(target, 'timeoutMs', 1, 900_000);
  optionalInteger(target, 'concurrency', 1, 1_000);
  const rate = target['ratePerSec'];
  if (rate !== undefined && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0)) {
    fail('target.ratePerSec', 'a positive number', rate);
  }
  return { ...target, type: 'webhook', url: url as string, mode };
}

/**
 * Validates a subscription's target and returns it as stored (a webhook's `mode` filled in).
 *
 * @example
 * ```ts
 * validateTarget({ type: 'webhook', url: 'https://example.com/hook' }); // { ..., mode: 'binary' }
 * validateTarget({ type: 'email' }); // throws BusError INVALID_ARGUMENT naming `target.type`
 * ```
 */
export function validateTarget(target: unknown): Record<string, unknown> {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) {
    fail('target', 'an object with a string `type`', target);
  }
  const given = target as Record<string, unknown>;
  const type = given['type'];
  if (typeof type !== 'string' || !(TARGET_TYPES as readonly string[]).includes(type)) {
    fail('target.type', `one of ${TARGET_TYPES.map((t) => `"${t}"`).join(', ')}`, type);
  }
  if (type === 'webhook') return { ...checkWebhook(given) };
  for (const key of Object.keys(given)) {
    if (key !== 'type') fail(`target.${key}`, `absent: a ${type} target has only \`type\``, key);
  }
  return { type };
}

/** A stored target as a {@link WebhookTarget}, or null when it is of another type. */
export function webhookTargetOf(target: Readonly<Record<string, unknown>>): WebhookTarget | null {
  return target['type'] === 'webhook' ? (target as unknown as WebhookTarget) : null;
}
