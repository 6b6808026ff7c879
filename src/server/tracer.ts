/**
 * A tracer provider for the OpenTelemetry API, made for a server that traces every publish: spans are
 * plain records, each encoded to OTLP protobuf (./otlp.ts) as it ends into the batch being filled, and
 * the batches are sent off the publishing call's turn (by a thread of their own, see tracing.ts). A
 * failure of tracing never fails the traced operation: it costs spans, which are counted. It does what the SDK's BasicTracerProvider with a
 * BatchSpanProcessor does for Busbar's spans (samplers, parent-based sampling, the batch settings,
 * attributes, events, links, status) at a fraction of the cost per span (BENCHMARKS.md, "Monitoring
 * overhead"). Context propagation stays the API's.
 */
import { randomFillSync } from 'node:crypto';
import {
  SpanStatusCode,
  TraceFlags,
  context as contextApi,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  Writer,
  encodeRequest,
  encodeSpan,
  type Scope,
  type SpanData,
  type SpanEventData,
  type SpanLinkData,
} from './otlp.js';

/** Which root spans are recorded (`OTEL_TRACES_SAMPLER`); children follow their parent when parent-based. */
export interface SamplerSettings {
  readonly parentBased: boolean;
  /** The share of new traces recorded, 0 to 1 (`always_on` is 1, `always_off` 0). */
  readonly ratio: number;
}

/** The batch settings (`OTEL_BSP_*`). */
export interface BatchSettings {
  readonly scheduledDelayMs: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
}

/** Where encoded batches go; rejects when a batch could not be delivered. */
export type SendBatch = (body: Buffer) => Promise<void>;

/** At most this many attributes, events and links per span; more are dropped (the SDK's default limit). */
const LIMIT = 128;

/** Batches being sent at once; while they are, ended spans wait in the queue (up to its size). */
const MAX_SENDS = 2;

/** Random ids, hex, from a pool refilled from the system's generator. */
class IdSource {
  private readonly pool = Buffer.allocUnsafe(4096);
  private at = this.pool.length;

  private take(bytes: number): string {
    for (;;) {
      if (this.at + bytes > this.pool.length) {
        randomFillSync(this.pool);
        this.at = 0;
      }
      const id = this.pool.toString('hex', this.at, (this.at += bytes));
      // An all-zero id is invalid (W3C Trace Context); draw again.
      if (!/^0+$/.test(id)) return id;
    }
  }

  traceId(): string {
    return this.take(16);
  }

  spanId(): string {
    return this.take(8);
  }
}

/** Milliseconds since the epoch, with the fraction the monotonic clock gives. */
const nowMs = (): number => performance.timeOrigin + performance.now();

/** Milliseconds since the epoch of an API `TimeInput` (milliseconds, an `HrTime`, or a Date). */
function toMs(time: TimeInput | undefined): number {
  if (time === undefined) return nowMs();
  if (typeof time === 'number') {
    // The API allows a `performance.now()` reading too: anything before 2001 is taken as one.
    return time < 1e12 ? performance.timeOrigin + time : time;
  }
  if (time instanceof Date) return time.getTime();
  return time[0] * 1000 + time[1] / 1e6;
}

const isTime = (value: unknown): value is TimeInput =>
  typeof value === 'number' || value instanceof Date || (Array.isArray(value) && value.length === 2);

/** A valid attribute value: a primitive, or an array of primitives of one type (nulls allowed). */
function isAttributeValue(value: unknown): value is AttributeValue {
  const type = typeof value;
  if (type === 'string' || type === 'boolean' || (type === 'number' && !Number.isNaN(value))) return true;
  if (!Array.isArray(value)) return false;
  let kind: string | undefined;
  for (const item of value as unknown[]) {
    if (item === null || item === undefined) continue;
    const t = typeof item;
    if (t !== 'string' && t !== 'boolean' && t !== 'number') return false;
    if (kind !== undefined && t !== kind) return false;
    kind = t;
  }
  return true;
}

/** Sets `key` on `into` unless the value is invalid or `into` already has {@link LIMIT} others; returns the count. */
function put(into: Attributes, count: number, key: string, value: unknown): number {
  if (!isAttributeValue(value)) return count;
  const added = !Object.hasOwn(into, key);
  if (added && count >= LIMIT) return count;
  into[key] = Array.isArray(value) ? ([...(value as unknown[])] as AttributeValue) : value;
  return added ? count + 1 : count;
}

/** The valid attributes of `from`, up to {@link LIMIT}, copied. */
function copyAttributes(from: Attributes): Attributes {
  const into: Attributes = {};
  let count = 0;
  for (const key in from) count = put(into, count, key, from[key]);
  return into;
}

/** A recording span: a record of what the API calls said, handed to the batcher when it ends. */
class RecordedSpan implements Span, SpanData {
  readonly attributes: Attributes = {};
  events: SpanEventData[] | null = null;
  links: SpanLinkData[] | null = null;
  statusCode: SpanStatusCode = SpanStatusCode.UNSET;
  statusMessage: string | undefined = undefined;
  endMs = 0;
  private attributeCount = 0;
  private ended = false;
  private readonly context: SpanContext;

  constructor(
    private readonly batcher: SpanBatcher,
    readonly scope: Scope,
    public name: string,
    readonly kind: SpanKind,
    readonly traceId: string,
    readonly spanId: string,
    readonly parentSpanId: string | null,
    readonly parentIsRemote: boolean,
    readonly traceState: string | null,
    readonly startMs: number,
    traceStateObject: SpanContext['traceState'],
  ) {
    this.context = { traceId, spanId, traceFlags: TraceFlags.SAMPLED, traceState: traceStateObject };
  }

  get traceFlags(): number {
    return TraceFlags.SAMPLED;
  }

  spanContext(): SpanContext {
    return this.context;
  }

  setAttribute(key: string, value: SpanAttributes[string]): this {
    if (!this.ended) this.attributeCount = put(this.attributes, this.attributeCount, key, value);
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    if (this.ended) return this;
    for (const key in attributes) this.attributeCount = put(this.attributes, this.attributeCount, key, attributes[key]);
    return this;
  }

  addEvent(name: string, attributesOrStartTime?: SpanAttributes | TimeInput, startTime?: TimeInput): this {
    if (this.ended) return this;
    const events = (this.events ??= []);
    if (events.length >= LIMIT) return this;
    const timed = isTime(attributesOrStartTime);
    events.push({
      name,
      timeMs: toMs(timed ? attributesOrStartTime : startTime),
      attributes: timed || attributesOrStartTime === undefined ? undefined : copyAttributes(attributesOrStartTime),
    });
    return this;
  }

  addLink(link: Link): this {
    if (this.ended) return this;
    const links = (this.links ??= []);
    if (links.length >= LIMIT) return this;
    const c = link.context;
    links.push({
      traceId: c.traceId,
      spanId: c.spanId,
      traceState: c.traceState?.serialize() || null,
      traceFlags: c.traceFlags,
      attributes: link.attributes === undefined ? undefined : copyAttributes(link.attributes),
    });
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.ended || status.code === SpanStatusCode.UNSET) return this;
    // OK is final (the specification); ERROR may be replaced by OK.
    if (this.statusCode === SpanStatusCode.OK) return this;
    this.statusCode = status.code;
    this.statusMessage = status.code === SpanStatusCode.ERROR ? status.message : undefined;
    return this;
  }

  updateName(name: string): this {
    if (!this.ended) this.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    this.ended = true;
    this.endMs = Math.max(this.startMs, toMs(endTime));
    this.batcher.add(this);
  }

  isRecording(): boolean {
    return !this.ended;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') attributes['exception.message'] = exception;
    else {
      if (exception.code !== undefined) attributes['exception.type'] = String(exception.code);
      else if (exception.name !== undefined) attributes['exception.type'] = exception.name;
      if (exception.message !== undefined) attributes['exception.message'] = exception.message;
      if (exception.stack !== undefined) attributes['exception.stacktrace'] = exception.stack;
    }
    this.addEvent('exception', attributes, time);
  }
}

/** What the batcher has done. */
export interface TracingStats {
  /** Spans handed to the collector. */
  exported: number;
  /** Spans dropped: the queue was full, or their batch could not be delivered. */
  dropped: number;
}

/** Spans encoded for one request: per scope, the spans' bytes. */
interface Chunk {
  readonly scopes: Map<Scope, Writer>;
  count: number;
}

/**
 * Encodes each span as it ends (so that no span object outlives its publish) into the chunk being
 * filled, and sends chunks of `maxExportBatchSize` spans: on the next turn of the event loop once one is
 * full, and `scheduledDelayMs` after the first span of a chunk otherwise. At most {@link MAX_SENDS}
 * requests are in flight; spans waiting beyond `maxQueueSize` are dropped, and counted.
 */
class SpanBatcher {
  private filling: Chunk = { scopes: new Map(), count: 0 };
  private readonly full: Chunk[] = [];
  private waiting = 0;
  private timer: NodeJS.Timeout | null = null;
  private soon = false;
  private readonly sending = new Set<Promise<void>>();
  /** Writers of sent chunks, for the next ones (a chunk's writer grows to its size once). */
  private readonly spare: Writer[] = [];
  readonly stats: TracingStats = { exported: 0, dropped: 0 };

  constructor(
    private readonly settings: BatchSettings,
    private readonly resource: Attributes,
    private readonly send: SendBatch,
    private readonly onError: (error: Error) => void,
  ) {}

  add(span: SpanData): void {
    if (this.waiting >= this.settings.maxQueueSize) {
      this.stats.dropped++;
      return;
    }
    const chunk = this.filling;
    let writer = chunk.scopes.get(span.scope);
    if (writer === undefined) chunk.scopes.set(span.scope, (writer = this.spare.pop() ?? new Writer()));
    const at = writer.pos;
    try {
      encodeSpan(writer, span);
    } catch (error) {
      writer.pos = at;
      this.stats.dropped++;
      this.onError(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.waiting++;
    if (++chunk.count >= this.settings.maxExportBatchSize) {
      this.full.push(chunk);
      this.filling = { scopes: new Map(), count: 0 };
      if (!this.soon) {
        this.soon = true;
        setImmediate(() => {
          this.soon = false;
          this.drain();
        });
      }
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.closeFilling();
        this.drain();
      }, this.settings.scheduledDelayMs).unref();
    }
  }

  /** Moves the chunk being filled, if it has spans, to the ones ready to go. */
  private closeFilling(): void {
    if (this.filling.count === 0) return;
    this.full.push(this.filling);
    this.filling = { scopes: new Map(), count: 0 };
  }

  /** Sends ready chunks while sends are free. */
  private drain(): void {
    while (this.sending.size < MAX_SENDS && this.full.length > 0) this.sendChunk(this.full.shift()!);
  }

  private sendChunk(chunk: Chunk): void {
    let sending: Promise<void>;
    try {
      sending = this.send(encodeRequest(this.resource, chunk.scopes));
    } catch (error) {
      sending = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    for (const writer of chunk.scopes.values()) {
      writer.reset();
      if (this.spare.length < 4) this.spare.push(writer);
    }
    const sent = sending.then(
      () => {
        this.stats.exported += chunk.count;
      },
      (error: unknown) => {
        this.stats.dropped += chunk.count;
        this.onError(error instanceof Error ? error : new Error(String(error)));
      },
    );
    this.sending.add(sent);
    void sent.finally(() => {
      this.waiting -= chunk.count;
      this.sending.delete(sent);
      this.drain();
    });
  }

  /** Sends every waiting span, and waits for every send. */
  async flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.closeFilling();
    this.drain();
    while (this.sending.size > 0) {
      await Promise.race(this.sending);
      this.drain();
    }
  }
}

/** Whether the parent's trace or a new trace id is recorded. */
function decide(sampler: SamplerSettings, parent: SpanContext | null, traceId: string): boolean {
  if (sampler.parentBased && parent !== null) return (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
  if (sampler.ratio >= 1) return true;
  if (sampler.ratio <= 0) return false;
  // As the JavaScript SDK's TraceIdRatioBasedSampler decides, so that services agree on a trace.
  let accumulated = 0;
  for (let i = 0; i < 4; i++) accumulated ^= Number.parseInt(traceId.slice(i * 8, i * 8 + 8), 16);
  return accumulated >>> 0 < Math.floor(sampler.ratio * 0xffffffff);
}

class BusbarTracer implements Tracer {
  constructor(
    private readonly provider: BusbarTracerProvider,
    private readonly scope: Scope,
  ) {}

  startSpan(name: string, options: SpanOptions = {}, context: Context = contextApi.active()): Span {
    return this.provider.start(this.scope, name, options, context);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F;
    const options = (rest.length > 1 ? rest[0] : undefined) as SpanOptions | undefined;
    const parent = (rest.length > 2 ? rest[1] : contextApi.active()) as Context;
    const span = this.startSpan(name, options, parent);
    return contextApi.with(trace.setSpan(parent, span), () => fn(span)) as ReturnType<F>;
  }
}

/**
 * The provider: register it with `trace.setGlobalTracerProvider`, and `shutdown()` it to send what is
 * still queued.
 * @example
 * ```ts
 * const provider = new BusbarTracerProvider({ resource: { 'service.name': 'busbar' }, send });
 * trace.setGlobalTracerProvider(provider);
 * ```
 */
export class BusbarTracerProvider implements TracerProvider {
  private readonly tracers = new Map<string, BusbarTracer>();
  private readonly ids = new IdSource();
  private readonly batcher: SpanBatcher;
  private readonly sampler: SamplerSettings;

  constructor(options: {
    readonly resource: Attributes;
    readonly send: SendBatch;
    readonly sampler?: SamplerSettings;
    readonly batch?: Partial<BatchSettings>;
    readonly onError?: (error: Error) => void;
  }) {
    this.sampler = options.sampler ?? { parentBased: true, ratio: 1 };
    const batch: BatchSettings = {
      scheduledDelayMs: options.batch?.scheduledDelayMs ?? 5000,
      maxQueueSize: options.batch?.maxQueueSize ?? 2048,
      maxExportBatchSize: options.batch?.maxExportBatchSize ?? 512,
    };
    this.batcher = new SpanBatcher(batch, options.resource, options.send, options.onError ?? (() => undefined));
  }

  getTracer(name: string, version?: string): Tracer {
    const key = `${name}\u0000${version ?? ''}`;
    let tracer = this.tracers.get(key);
    if (tracer === undefined) {
      tracer = new BusbarTracer(this, { name, version });
      this.tracers.set(key, tracer);
    }
    return tracer;
  }

  /** Spans exported and dropped so far. */
  get stats(): Readonly<TracingStats> {
    return this.batcher.stats;
  }

  /** @internal Starts a span for one of this provider's tracers. */
  start(scope: Scope, name: string, options: SpanOptions, context: Context): Span {
    const found = options.root === true ? undefined : trace.getSpanContext(context);
    const parent = found !== undefined && trace.isSpanContextValid(found) ? found : null;
    const traceId = parent?.traceId ?? this.ids.traceId();
    const spanId = this.ids.spanId();
    if (!decide(this.sampler, parent, traceId)) {
      return trace.wrapSpanContext({ traceId, spanId, traceFlags: TraceFlags.NONE, traceState: parent?.traceState });
    }
    const span = new RecordedSpan(
      this.batcher,
      scope,
      name,
      options.kind ?? 0,
      traceId,
      spanId,
      parent?.spanId ?? null,
      parent?.isRemote === true,
      parent?.traceState?.serialize() || null,
      toMs(options.startTime),
      parent?.traceState,
    );
    if (options.attributes !== undefined) span.setAttributes(options.attributes);
    if (options.links !== undefined) span.addLinks(options.links);
    return span;
  }

  /** Sends every queued span and waits for it. */
  forceFlush(): Promise<void> {
    return this.batcher.flush();
  }

  shutdown(): Promise<void> {
    return this.batcher.flush();
  }
}
