/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature` is
 * `v1,<base64 HMAC-SHA256 of "${id}.${timestamp}.${body}">`, keyed by the base64 part of a `whsec_`
 * secret, so that receivers verify with any Standard Webhooks library. Web Crypto only.
 */
import { secretKey } from '../../core/engine/targets.js';

const encoder = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

/**
 * Imports a `whsec_` secret as an HMAC-SHA256 key.
 * @example `const key = await importSigningKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');`
 */
export async function importSigningKey(secret: string): Promise<CryptoKey> {
  const raw = secretKey(secret);
  if (raw === null) throw new TypeError('Expected a "whsec_" secret with the base64 of at least 16 bytes');
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/**
 * The `webhook-signature` header value for one message.
 * @example `await sign(key, 'dlv_1', 1767225600, '{"a":1}') // "v1,<base64 of 32 bytes>"`
 */
export async function sign(key: CryptoKey, id: string, timestamp: number, body: Uint8Array | string): Promise<string> {
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const payload = typeof body === 'string' ? encoder.encode(body) : body;
  const content = new Uint8Array(prefix.length + payload.length);
  content.set(prefix, 0);
  content.set(payload, prefix.length);
  const mac = await crypto.subtle.sign('HMAC', key, content);
  return `v1,${toBase64(new Uint8Array(mac))}`;
}
