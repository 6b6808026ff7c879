/**
 * The CloudEvents HTTP protocol binding (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md):
 * turns a publish request in structured, batch or binary mode into what `Busbar.publish` takes. The
 * engine validates the events; this module only decides which mode the request is in and, in binary
 * mode, assembles the event from `ce-*` headers and the body.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BusError, describeValue } from '../core/errors.js';

/** Structured mode, one event (§3.2). */
export const STRUCTURED = 'application/cloudevents+json';
/** Batched mode, a JSON array of events (§3.3). */
export const BATCH = 'application/cloudevents-batch+json';

/** The media type of a `content-type` header without parameters, lower-cased (RFC 9110 §8.3.1). */
export function mediaType(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const essence = header.split(';')[0]!.trim().toLowerCase();
  return essence === '' ? undefined : essence;
}

/** JSON media types: `application/json` and any `+json` structured syntax suffix (RFC 6839 §3.1). */
export function isJsonMediaType(type: string | undefined): boolean {
  return type === 'application/json' || (type !== undefined && type.endsWith('+json'));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * §3.1.3.2: header values are percent-encoded. Decoding is lenient: valid `%XX` escapes of UTF-8 are
 * decoded and anything else (a bare `%`, as the official JavaScript SDK sends for "50% off") is kept
 * as it came, so that events from senders that do not encode still arrive intact.
 */
function headerValue(raw: string | string[] | undefined): string {
  const value = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  if (!value.includes('%')) return value;
  return value.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** Binary mode (§3.1): attributes from `ce-*` headers, `content-type` as `datacontenttype`, the body as data. */
function binaryEvent(headers: IncomingHttpHeaders, body: unknown): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(headers)) {
    if (name.startsWith('ce-') && name.length > 3) event[name.slice(3)] = headerValue(raw);
  }
  const contentType = headers['content-type'];
  if (contentType !== undefined) event['datacontenttype'] = contentType;
  if (Buffer.isBuffer(body)) {
    if (body.length > 0) event['data_base64'] = body.toString('base64');
  } else if (body !== undefined && body !== '') {
    // JSON media types arrive parsed (§3.1.1: the body is the JSON value), text/* as a string.
    event['data'] = body;
  }
  return event;
}

/**
 * What to publish for a request: one event object, or an array of them.
 * @example `eventsFromRequest({ 'content-type': 'application/cloudevents+json' }, { specversion: '1.0', ... })`
 */
export function eventsFromRequest(headers: IncomingHttpHeaders, body: unknown): unknown {
  const type = mediaType(headers['content-type']);
  if (type === STRUCTURED) {
    if (!isPlainObject(body)) {
      throw new BusError(
        'INVALID_EVENT',
        `Expected one event object in a ${STRUCTURED} body, got ${describeValue(body)}; send arrays as ${BATCH}`,
      );
    }
    return body;
  }
  if (type === BATCH) {
    if (!Array.isArray(body)) {
      throw new BusError('INVALID_EVENT', `Expected an array of events in a ${BATCH} body, got ${describeValue(body)}`);
    }
    return body;
  }
  if (Object.keys(headers).some((name) => name.startsWith('ce-'))) return binaryEvent(headers, body);
  if (type === 'application/json') {
    if (!isPlainObject(body) && !Array.isArray(body)) {
      throw new BusError(
        'INVALID_EVENT',
        `Expected an event object or an array of events in the JSON body, got ${describeValue(body)}`,
      );
    }
    return body;
  }
  throw new BusError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Expected content type ${STRUCTURED}, ${BATCH} or application/json, or binary mode with ce-* headers, ` +
      `got ${type === undefined ? 'none' : `"${type}"`} without ce-* headers`,
  );
}
