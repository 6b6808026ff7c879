/**
 * OTLP/HTTP trace export with protobuf encoding (the protocol's default, `http/protobuf`): the spans of
 * src/server/tracer.ts written straight into one buffer per request by a writer made for exactly the
 * messages an `ExportTraceServiceRequest` holds (opentelemetry/proto/trace/v1/trace.proto), and POSTed
 * with node:http(s), retrying what the OTLP specification calls retryable.
 */
import http from 'node:http';
import https from 'node:https';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { gzip } from 'node:zlib';
import { SpanStatusCode, type AttributeValue, type Attributes, type SpanKind } from '@opentelemetry/api';

/** A span event (`recordException` adds one named `exception`). */
export interface SpanEventData {
  readonly name: string;
  readonly timeMs: number;
  readonly attributes: Attributes | undefined;
}

/** A link to another span. */
export interface SpanLinkData {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string | null;
  readonly traceFlags: number;
  readonly attributes: Attributes | undefined;
}

/** The instrumentation scope a span was made by (a tracer's name and version). */
export interface Scope {
  readonly name: string;
  readonly version: string | undefined;
}

/** An ended span as the exporter reads it. Times are milliseconds since the epoch, with fractions. */
export interface SpanData {
  readonly scope: Scope;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly parentIsRemote: boolean;
  readonly traceState: string | null;
  readonly traceFlags: number;
  readonly name: string;
  readonly kind: SpanKind;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Attributes;
  readonly events: readonly SpanEventData[] | null;
  readonly links: readonly SpanLinkData[] | null;
  readonly statusCode: SpanStatusCode;
  readonly statusMessage: string | undefined;
}

// Protobuf wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** How many bytes the varint of `n` (a non-negative safe integer) takes. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** The value of each hex digit's character code (0–9, a–f, A–F), or -1. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/**
 * Writes protobuf into one growing buffer. A nested message is written in place after a guess of its
 * length's size, and moved when the guess was wrong, so nothing is encoded twice. Short ASCII strings,
 * ids and times are written byte by byte: cheaper than a call into the Buffer methods for a few bytes.
 */
export class Writer {
  buf: Buffer;
  pos = 0;

  // Buffers of their own, never slices of Node's shared pool: a request's is handed to another thread.
  constructor(size = 16 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  string(field: number, value: string): void {
    this.tag(field, LEN);
    const n = value.length;
    if (n < 128) {
      this.ensure(n + 1);
      const buf = this.buf;
      const start = this.pos;
      buf[start] = n;
      let i = 0;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + 1 + i] = c;
      }
      if (i === n) {
        this.pos = start + 1 + n;
        return;
      }
    }
    const length = Buffer.byteLength(value);
    this.varint(length);
    this.ensure(length);
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  /** A trace or span id, given in hex (as the API keeps them), as bytes. */
  hex(field: number, value: string): void {
    const n = value.length >> 1;
    this.tag(field, LEN);
    this.ensure(n + 1);
    const buf = this.buf;
    let at = this.pos;
    buf[at++] = n;
    for (let i = 0; i < n; i++) {
      const high = HEX_VALUE[value.charCodeAt(2 * i) & 0x7f]!;
      const low = HEX_VALUE[value.charCodeAt(2 * i + 1) & 0x7f]!;
      buf[at++] = (high << 4) | low;
    }
    this.pos = at;
  }

  private uint32(value: number): void {
    const buf = this.buf;
    buf[this.pos++] = value & 0xff;
    buf[this.pos++] = (value >>> 8) & 0xff;
    buf[this.pos++] = (value >>> 16) & 0xff;
    buf[this.pos++] = value >>> 24;
  }

  /** A `fixed64` of nanoseconds since the epoch, from milliseconds, to the microsecond. */
  nanos(field: number, ms: number): void {
    this.tag(field, I64);
    this.ensure(8);
    const seconds = Math.floor(ms / 1000);
    // Whole microseconds: a double of milliseconds since the epoch holds no finer (its step is ~0.24 µs).
    const nanos = Math.round((ms - seconds * 1000) * 1000) * 1000;
    // seconds × 10⁹ + nanos without leaving exact integers: 10⁹ = 1,953,125 × 2⁹.
    const a = seconds * 1_953_125;
    const aHigh = Math.floor(a / 0x1_0000_0000);
    const low = (a - aHigh * 0x1_0000_0000) * 512 + nanos;
    const lowWord = low % 0x1_0000_0000;
    this.uint32(lowWord);
    this.uint32(aHigh * 512 + (low - lowWord) / 0x1_0000_0000);
  }

  fixed32(field: number, value: number): void {
    this.tag(field, I32);
    this.ensure(4);
    this.uint32(value >>> 0);
  }

  double(field: number, value: number): void {
    this.tag(field, I64);
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** An `int64` varint; negative numbers take ten bytes (two's complement). */
  int64(field: number, value: number): void {
    this.tag(field, VARINT);
    if (value >= 0) return this.varint(value);
    this.ensure(10);
    let n = BigInt.asUintN(64, BigInt(value));
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
  }

  /** Bytes already encoded (repeated fields of one message, say). */
  raw(bytes: Buffer): void {
    this.ensure(bytes.length);
    this.pos += bytes.copy(this.buf, this.pos);
  }

  /** Starts a nested message in `field`; `end` with what this returns. `guess`: bytes for its length. */
  begin(field: number, guess = 2): number {
    this.tag(field, LEN);
    this.ensure(guess);
    this.pos += guess;
    return this.pos * 8 + guess;
  }

  end(started: number): void {
    const guess = started % 8;
    const start = (started - guess) / 8;
    const length = this.pos - start;
    const size = varintSize(length);
    if (size !== guess) {
      this.ensure(size - guess);
      this.buf.copyWithin(start + size - guess, start, this.pos);
      this.pos += size - guess;
    }
    let at = start - guess;
    let n = length;
    while (n >= 0x80) {
      this.buf[at++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[at] = n;
  }

  /** The bytes written so far (a view: copy it before writing more). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
  }
}

/** An `AnyValue` (common.proto) in `field`. */
function anyValue(w: Writer, field: number, value: AttributeValue): void {
  const at = w.begin(field, 1);
  if (typeof value === 'string') w.string(1, value);
  else if (typeof value === 'boolean') {
    w.tag(2, VARINT);
    w.varint(value ? 1 : 0);
  } else if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) w.int64(3, value);
    else w.double(4, value);
  } else if (Array.isArray(value)) {
    const array = w.begin(5);
    for (const item of value as unknown[]) {
      // Arrays may hold null or undefined items (the API allows them): an empty AnyValue.
      if (item === null || item === undefined) w.end(w.begin(1, 1));
      else anyValue(w, 1, item as AttributeValue);
    }
    w.end(array);
  }
  w.end(at);
}

/** `KeyValue`s (common.proto) in `field`, one per attribute; undefined values are left out. */
function attributes(w: Writer, field: number, attrs: Attributes): void {
  for (const key in attrs) {
    const value = attrs[key];
    if (value === undefined) continue;
    const at = w.begin(field);
    w.string(1, key);
    anyValue(w, 2, value);
    w.end(at);
  }
}

/** `Span.flags`: the W3C trace flags, and whether the parent's context is known to be remote. */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/** Appends `s` as a `Span` message in field 2 (`ScopeSpans.spans`), so that spans of one scope concatenate. */
export function encodeSpan(w: Writer, s: SpanData): void {
  const at = w.begin(2);
  w.hex(1, s.traceId);
  w.hex(2, s.spanId);
  if (s.traceState !== null) w.string(3, s.traceState);
  if (s.parentSpanId !== null) w.hex(4, s.parentSpanId);
  w.string(5, s.name);
  w.tag(6, VARINT);
  w.varint(s.kind + 1); // the API's INTERNAL is 0, the protocol's SPAN_KIND_INTERNAL 1
  w.nanos(7, s.startMs);
  w.nanos(8, s.endMs);
  attributes(w, 9, s.attributes);
  if (s.events !== null) {
    for (const e of s.events) {
      const event = w.begin(11);
      w.nanos(1, e.timeMs);
      w.string(2, e.name);
      if (e.attributes !== undefined) attributes(w, 3, e.attributes);
      w.end(event);
    }
  }
  if (s.links !== null) {
    for (const l of s.links) {
      const link = w.begin(13);
      w.hex(1, l.traceId);
      w.hex(2, l.spanId);
      if (l.traceState !== null) w.string(3, l.traceState);
      if (l.attributes !== undefined) attributes(w, 4, l.attributes);
      w.fixed32(6, l.traceFlags & 0xff);
      w.end(link);
    }
  }
  if (s.statusCode !== SpanStatusCode.UNSET) {
    const status = w.begin(15, 1);
    if (s.statusMessage !== undefined && s.statusMessage !== '') w.string(2, s.statusMessage);
    w.tag(3, VARINT);
    w.varint(s.statusCode);
    w.end(status);
  }
  const remote = s.parentSpanId === null ? 0 : HAS_IS_REMOTE | (s.parentIsRemote ? IS_REMOTE : 0);
  w.fixed32(16, (s.traceFlags & 0xff) | remote);
  w.end(at);
}

/**
 * An `ExportTraceServiceRequest` of spans already encoded by {@link encodeSpan}, per scope, under
 * `resource`: a view of a new buffer, the request's own (its whole `ArrayBuffer` may be transferred).
 */
export function encodeRequest(resource: Attributes, scopes: ReadonlyMap<Scope, Writer>): Buffer {
  let size = 64;
  for (const spans of scopes.values()) size += spans.pos + 64;
  const w = new Writer(size + 1024);
  const resourceSpans = w.begin(1, 3);
  const res = w.begin(1);
  attributes(w, 1, resource);
  w.end(res);
  for (const [scope, spans] of scopes) {
    if (spans.pos === 0) continue;
    const scopeSpans = w.begin(2, 3);
    const sc = w.begin(1, 1);
    w.string(1, scope.name);
    if (scope.version !== undefined) w.string(2, scope.version);
    w.end(sc);
    w.raw(spans.bytes());
    w.end(scopeSpans);
  }
  w.end(resourceSpans);
  return w.bytes();
}

/** Where and how spans are sent: the OTLP exporter settings (see `exporterSettings` in tracing.ts). */
export interface ExporterSettings {
  /** The full URL spans are POSTed to (`…/v1/traces`). */
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** Milliseconds one export may take, retries included. */
  readonly timeoutMs: number;
  readonly compression: 'gzip' | 'none';
}

/** HTTP statuses the OTLP/HTTP specification says to retry, with a backoff. */
const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_ATTEMPTS = 5;
const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5000;

const gzipped = promisify(gzip);

/** Sends encoded export requests to a collector over HTTP(S), with keep-alive connections. */
export class OtlpHttpSender {
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(private readonly settings: ExporterSettings) {
    const secure = settings.url.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.request = secure ? https.request : http.request;
  }

  /** POSTs `body` (an encoded request), retrying retryable failures; rejects with the last failure. */
  async send(body: Buffer): Promise<void> {
    const payload = this.settings.compression === 'gzip' ? await gzipped(body) : body;
    const deadline = performance.now() + this.settings.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const left = deadline - performance.now();
      const outcome = await this.post(payload, Math.max(1, left));
      if (outcome.ok) return;
      const backoff =
        outcome.retryAfterMs ??
        Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 1.5 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
      if (!outcome.retryable || attempt >= MAX_ATTEMPTS || performance.now() + backoff >= deadline) {
        throw new Error(`OTLP export to ${this.settings.url.href} failed: ${outcome.reason}`);
      }
      await new Promise((resolve) => setTimeout(resolve, backoff).unref());
    }
  }

  private post(
    payload: Buffer,
    timeoutMs: number,
  ): Promise<{ ok: true } | { ok: false; retryable: boolean; retryAfterMs: number | undefined; reason: string }> {
    return new Promise((resolve) => {
      const req = this.request(this.settings.url, {
        method: 'POST',
        agent: this.agent,
        timeout: timeoutMs,
        headers: {
          ...this.settings.headers,
          'content-type': 'application/x-protobuf',
          'content-length': payload.length,
          ...(this.settings.compression === 'gzip' ? { 'content-encoding': 'gzip' } : {}),
        },
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('end', () => {
          if (status >= 200 && status < 300) return resolve({ ok: true });
          const after = Number(res.headers['retry-after']);
          resolve({
            ok: false,
            retryable: RETRYABLE.has(status),
            retryAfterMs: Number.isFinite(after) && after >= 0 ? after * 1000 : undefined,
            reason: `HTTP ${status}`,
          });
        });
        res.on('error', (err) => resolve({ ok: false, retryable: true, retryAfterMs: undefined, reason: err.message }));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(timeoutMs)} ms`)));
      req.on('error', (err) => resolve({ ok: false, retryable: true, retryAfterMs: undefined, reason: err.message }));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A request handed to the sending thread: the buffer is transferred, not copied. */
export interface SendRequest {
  readonly id: number;
  readonly buffer: ArrayBuffer;
  readonly offset: number;
  readonly length: number;
}

/** The sending thread's answer to a request: no error when the collector took it. */
export interface SendReply {
  readonly id: number;
  readonly error?: string;
}

/** otlp-worker.js, from src/server/ (tests run the sources) or dist/src/server/ (the build). */
function workerFile(): URL {
  const here = new URL('.', import.meta.url);
  return fileURLToPath(here).includes(`${sep}dist${sep}`)
    ? new URL('otlp-worker.js', here)
    : new URL('../../dist/src/server/otlp-worker.js', here);
}

/**
 * Sends export requests from a thread of its own ({@link OtlpHttpSender} there), so that a server
 * tracing every publish spends on the publishing thread only the encoding: the request's bytes move to
 * the other thread without a copy. The thread starts with the sender, and again with the next request
 * after it failed; it keeps the process alive only while requests are in flight.
 */
export class ThreadedSender {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private nextId = 1;

  constructor(private readonly settings: ExporterSettings) {
    // Started at once, so that the first batch does not wait for it (it holds the process open only
    // while a request is in flight).
    this.worker = this.start();
  }

  private start(): Worker {
    const worker = new Worker(workerFile(), { workerData: { ...this.settings, url: this.settings.url.href } });
    worker.unref();
    worker.on('message', (reply: SendReply) => {
      const waiting = this.pending.get(reply.id);
      if (waiting === undefined) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.error === undefined) waiting.resolve();
      else waiting.reject(new Error(reply.error));
    });
    const stopped = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const waiting of this.pending.values()) waiting.reject(new Error(`The OTLP export thread stopped: ${why}`));
      this.pending.clear();
    };
    worker.on('error', (error) => stopped(error.message));
    worker.on('exit', (code) => stopped(`exit code ${code}`));
    return worker;
  }

  /** Sends `body` (a view of a buffer of its own, see {@link encodeRequest}: the buffer moves). */
  send(body: Buffer): Promise<void> {
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      const message: SendRequest = {
        id,
        buffer: body.buffer as ArrayBuffer,
        offset: body.byteOffset,
        length: body.length,
      };
      worker.postMessage(message, [message.buffer]);
    });
  }

  /** Stops the thread; call once nothing is in flight. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker !== null) await worker.terminate();
  }
}
