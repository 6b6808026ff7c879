/**
 * The event model: CloudEvents 1.0 envelopes (https://github.com/cloudevents/spec, v1.0.2 core and
 * JSON format) and the one function that turns untrusted input into a valid, normalised event.
 */
import { BusError, type ErrorCode } from './errors.js';
import { isBase64, isRfc3339, isUri, isUriReference } from './formats.js';
import { copyJsonValue, describeInput, isPlainObject, utf8ByteLength } from './json-value.js';
import { createUuidV7Generator, uuidv7 } from './uuid.js';

/** The context attributes every CloudEvents 1.0 event has, plus optional ones and extensions. */
export interface CloudEventAttributes {
  /** Identifies the event; unique per `source`. Assigned (UUIDv7) by {@link validateEvent} when missing. */
  id: string;
  /** URI-reference of the context in which the event happened, e.g. `/orders` or `com.example.shop`. */
  source: string;
  /** The CloudEvents version: always `'1.0'`. */
  specversion: '1.0';
  /** The kind of event, e.g. `com.example.order.placed`. */
  type: string;
  /** The subject of the event within `source`, e.g. an order id. */
  subject?: string;
  /** When the event happened, RFC 3339. Assigned (now, UTC) by {@link validateEvent} when missing. */
  time?: string;
  /** Media type of `data`, e.g. `application/json`. */
  datacontenttype?: string;
  /** Absolute URI of the schema `data` adheres to. */
  dataschema?: string;
  /**
   * Extension attributes: names of 1–20 characters `a-z0-9`; values are strings, 32-bit integers or
   * booleans. Typed `unknown` because TypeScript cannot exclude the named attributes above.
   */
  [extension: string]: unknown;
}

/**
 * A CloudEvents 1.0 event in its JSON form: a JSON payload in `data` or binary payload in
 * `data_base64`, never both.
 *
 * @example
 * ```ts
 * const event: CloudEvent = { specversion: '1.0', id: '1', source: '/orders', type: 'order.placed', data: { total: 30 } };
 * ```
 */
export type CloudEvent = CloudEventAttributes &
  ({ data?: unknown; data_base64?: never } | { data?: never; data_base64?: string });

/**
 * A valid extension attribute value (CloudEvents 1.0 "Type System": String, Integer or Boolean;
 * URI and Timestamp values travel as strings).
 */
export type ExtensionValue = string | number | boolean;

/** Options for {@link validateEvent}. */
export interface ValidateEventOptions {
  /**
   * Largest accepted event, in bytes of its UTF-8 JSON serialisation (after `id` and `time` are assigned).
   * @default 262144 (256 KiB, as AWS EventBridge)
   */
  maxBytes?: number;
  /**
   * Most arrays/objects that may nest inside `data` (`{}` is 1 level).
   * @default 32
   */
  maxDepth?: number;
  /**
   * Clock for the assigned `time` and `id`, in milliseconds since the Unix epoch.
   * @default Date.now
   */
  now?: () => number;
}

/** The default limits of {@link validateEvent}. */
export const EVENT_LIMITS = { maxBytes: 262_144, maxDepth: 32 } as const;

const KNOWN = new Set([
  ...['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema'],
  ...['data', 'data_base64'],
]);
const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
const EXTENSION_NAME_RULE = 'extension attribute names to be 1 to 20 lower-case letters (a-z) or digits (0-9)';
// CloudEvents 1.0 "Type System": Integer is a whole number from -2^31 to 2^31-1.
const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
const EXTENSION_VALUE_RULE = `a string, an integer from ${INT32_MIN} to ${INT32_MAX}, or a boolean`;
const generators = new WeakMap<() => number, () => string>();

/**
 * Validates untrusted input as a CloudEvents 1.0 event and returns a normalised copy.
 *
 * The copy has a `time` (now, RFC 3339 UTC) and an `id` (UUIDv7, time-ordered) when the input had none,
 * drops attributes whose value is `null` (JSON format §2.2: null means unset), and holds fresh objects only,
 * so later changes to the input do not reach it. Keys named `__proto__` are rejected as attribute
 * names and copied as plain own properties inside `data`.
 *
 * @throws {BusError} `INVALID_EVENT` naming the attribute, what was expected and what came;
 *   `EVENT_TOO_LARGE` past `maxBytes`; `INVALID_ARGUMENT` for bad options.
 * @example
 * ```ts
 * const event = validateEvent({ specversion: '1.0', source: '/orders', type: 'order.placed', data: { total: 30 } });
 * event.id; // '0190f0c6-8a3e-7b12-9c4d-1f2e3a4b5c6d'
 * ```
 */
export function validateEvent(input: unknown, options: ValidateEventOptions = {}): CloudEvent {
  return validateEventJson(input, options).event;
}

/**
 * {@link validateEvent}, also returning the event's JSON text and its size in UTF-8 bytes (computed
 * anyway for the size limit), so that callers that store the event do not serialise it twice, and
 * whether the `id` was assigned here.
 */
export function validateEventJson(
  input: unknown,
  options: ValidateEventOptions = {},
): { event: CloudEvent; json: string; bytes: number; idAssigned: boolean } {
  const maxBytes = positiveInteger('maxBytes', options.maxBytes ?? EVENT_LIMITS.maxBytes);
  const maxDepth = positiveInteger('maxDepth', options.maxDepth ?? EVENT_LIMITS.maxDepth);
  const now = options.now ?? Date.now;
  if (!isPlainObject(input)) {
    fail('INVALID_EVENT', 'event', `Expected the event to be an object, got ${describeInput(input)}`);
  }
  const extensions = extensionNames(input);
  // Own properties only: an attribute lent by a polluted Object.prototype must not count.
  const raw = (key: string): unknown => (Object.hasOwn(input, key) ? input[key] : undefined);
  // JSON format §2.2: an attribute whose value is null is treated as unset.
  const get = (key: string): unknown => raw(key) ?? undefined;

  const specversion = raw('specversion');
  if (specversion !== '1.0') expected('specversion', '"1.0"', specversion);
  const idAssigned = get('id') === undefined;
  const id = idAssigned ? idGenerator(now)() : nonEmptyString('id', raw('id'));
  const source = nonEmptyString('source', raw('source'));
  if (!isUriReference(source)) expected('source', 'a URI-reference (RFC 3986 §4.1)', source);
  const event: CloudEventAttributes = { specversion, id, source, type: nonEmptyString('type', raw('type')) };

  const subject = get('subject');
  if (subject !== undefined) event.subject = nonEmptyString('subject', subject);
  const time = get('time');
  if (time === undefined) event.time = isoTime(now());
  else if (typeof time === 'string' && isRfc3339(time)) event.time = time;
  else expected('time', 'an RFC 3339 timestamp such as "2024-05-01T12:00:00Z"', time);
  const datacontenttype = get('datacontenttype');
  if (datacontenttype !== undefined) event.datacontenttype = nonEmptyString('datacontenttype', datacontenttype);
  const dataschema = get('dataschema');
  if (dataschema !== undefined) {
    if (typeof dataschema !== 'string' || !isUri(dataschema)) {
      expected('dataschema', 'an absolute URI (RFC 3986 §3)', dataschema);
    }
    event.dataschema = dataschema;
  }
  for (const name of extensions) {
    const value = get(name);
    if (value === undefined) continue;
    if (typeof value !== 'string' && typeof value !== 'boolean' && !isInt32(value)) {
      expected(name, EXTENSION_VALUE_RULE, value, 'extension attribute ');
    }
    event[name] = typeof value === 'string' ? allowedCharacters(name, value, 'extension attribute ') : value;
  }

  // `data: null` stays: null is a JSON payload that patterns can match, not an unset attribute.
  const data = raw('data');
  const base64 = get('data_base64');
  if (data !== undefined && base64 !== undefined) {
    fail('INVALID_EVENT', 'data', 'Expected at most one of `data` and `data_base64`, got both');
  }
  if (data !== undefined) event['data'] = copyJsonValue(data, 'data', maxDepth);
  if (base64 !== undefined) {
    if (typeof base64 !== 'string' || !isBase64(base64)) {
      expected('data_base64', 'padded base64 text (RFC 4648 §4)', base64);
    }
    event['data_base64'] = base64;
  }

  const json = JSON.stringify(event);
  const bytes = utf8ByteLength(json);
  if (bytes > maxBytes) {
    fail(
      'EVENT_TOO_LARGE',
      'event',
      `Expected the event to be at most ${maxBytes} bytes as UTF-8 JSON, got ${bytes} bytes`,
    );
  }
  return { event, json, bytes, idAssigned };
}

let isoMs = Number.NaN;
let iso = '';

/**
 * `new Date(ms).toISOString()`, remembered for the last millisecond: it cost about a microsecond and a
 * half of each validated event (CPU profile), and the events of a batch, or of one busy millisecond,
 * share their time.
 */
function isoTime(ms: number): string {
  if (ms !== isoMs) {
    iso = new Date(ms).toISOString();
    isoMs = ms;
  }
  return iso;
}

/** The extension attribute names of `input`, checked against CloudEvents 1.0 "Attribute Naming Convention". */
function extensionNames(input: Record<string, unknown>): string[] {
  const names: string[] = [];
  for (const key of Object.keys(input)) {
    if (KNOWN.has(key)) continue;
    if (!EXTENSION_NAME.test(key)) {
      const why = key === '__proto__' ? ', a name reserved by JavaScript' : '';
      fail('INVALID_EVENT', key, `Expected ${EXTENSION_NAME_RULE}, got ${JSON.stringify(key)}${why}`);
    }
    names.push(key);
  }
  return names;
}

function idGenerator(now: () => number): () => string {
  if (now === Date.now) return uuidv7;
  // One generator per clock keeps ids monotonic across calls that share a clock (tests, simulations).
  let generate = generators.get(now);
  if (generate === undefined) {
    generate = createUuidV7Generator({ now });
    generators.set(now, generate);
  }
  return generate;
}

function fail(code: ErrorCode, field: string, message: string): never {
  throw new BusError(code, message, { details: { field } });
}

function expected(field: string, what: string, got: unknown, kind = ''): never {
  fail('INVALID_EVENT', field, `Expected ${kind}\`${field}\` to be ${what}, got ${describeInput(got)}`);
}

function nonEmptyString(field: string, value: unknown, kind = ''): string {
  if (typeof value !== 'string' || value === '') expected(field, 'a non-empty string', value, kind);
  return allowedCharacters(field, value, kind);
}

/**
 * What a CloudEvents String must not hold (core spec, "Type System"): control characters (U+0000–U+001F,
 * U+007F–U+009F), surrogates not used in pairs, and noncharacters. Stores and HTTP headers choke on
 * some of them (PostgreSQL text cannot hold U+0000).
 */
const FORBIDDEN = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u;
/** The UTF-16 units any of those needs (surrogates: paired ones, too): a cheap test first. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const SUSPECT = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]/;

function allowedCharacters(field: string, value: string, kind = ''): string {
  if (!SUSPECT.test(value)) return value;
  const found = FORBIDDEN.exec(value);
  if (found === null) return value;
  const code = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  fail(
    'INVALID_EVENT',
    field,
    `Expected ${kind}\`${field}\` to be a CloudEvents String, without control characters, unpaired ` +
      `surrogates or noncharacters; got U+${code} at index ${found.index} of ${describeInput(value)}`,
  );
}

function isInt32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`${option}\` to be a positive integer, got ${describeInput(value)}`,
    );
  }
  return value;
}
