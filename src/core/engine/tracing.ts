/**
 * Distributed tracing with the OpenTelemetry API: spans for publish, match and every delivery attempt,
 * linked through the CloudEvents distributed-tracing extension (`traceparent`, `tracestate`) that each
 * stored event carries. The engine only uses the API; without a registered tracer provider (see
 * src/server/tracing.ts) every span is a no-op and nothing is exported.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';

/** W3C Trace Context `traceparent`: version 00, trace id, parent span id, flags. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context in a `traceparent` value, or null when it is not a valid one. */
export function parseTraceparent(value: unknown, tracestate?: unknown): SpanContext | null {
  if (typeof value !== 'string') return null;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (m === null || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return null;
  const context: SpanContext = {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: Number.parseInt(m[3]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  if (typeof tracestate === 'string' && tracestate !== '') {
    return { ...context, traceState: { serialize: () => tracestate } as SpanContext['traceState'] };
  }
  return context;
}

/** The `traceparent` value of a span context. */
export function formatTraceparent(context: SpanContext): string {
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0')}`;
}

/** A context whose parent is the given remote span context (or the root when there is none). */
export function parentContext(span: SpanContext | null): Context {
  return span === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, span);
}

/** A context whose parent is `span`. */
export function within(span: Span): Context {
  return trace.setSpan(ROOT_CONTEXT, span);
}

/** Starts a span of the `busbar` tracer. */
export function startSpan(
  name: string,
  kind: SpanKind,
  parent: Context,
  attributes: Record<string, string | number | boolean> = {},
): Span {
  // Looked up each time: the registered provider may change (it is registered after start-up, and
  // `trace.disable()` replaces the proxy a tracer kept from before would still point to).
  return trace.getTracer('busbar').startSpan(name, { kind, attributes }, parent);
}

/** Ends `span`, marking it failed with `error` when given. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const message = error instanceof Error ? error.message : typeof error === 'string' ? error : 'failed';
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    if (error instanceof Error) span.recordException(error);
  }
  span.end();
}

/** The `traceparent` to hand on from `span`: its own context when it records, else the one it continues. */
export function traceparentFor(span: Span, fallback: string | null): string | null {
  return span.isRecording() ? formatTraceparent(span.spanContext()) : fallback;
}

/**
 * The span of one delivery attempt: a consumer span whose parent is the trace context the event
 * carries (`traceparent`, `tracestate`), so a trace runs from the producer through every attempt.
 */
export function attemptSpan(
  subscription: string,
  delivery: { readonly deliveryId: number; readonly attempt: number; readonly replayId: string | null },
  event: { readonly id: string; readonly [key: string]: unknown },
): Span {
  const parent = parseTraceparent(event['traceparent'], event['tracestate']);
  const attributes: Record<string, string | number> = {
    'messaging.system': 'busbar',
    'messaging.operation.type': 'process',
    'messaging.destination.subscription.name': subscription,
    'messaging.message.id': event.id,
    'busbar.delivery_id': delivery.deliveryId,
    'busbar.attempt': delivery.attempt,
  };
  if (delivery.replayId !== null) attributes['busbar.replay_id'] = delivery.replayId;
  return startSpan(`deliver ${subscription}`, SpanKind.CONSUMER, parentContext(parent), attributes);
}

/** Ends an attempt's span with its outcome: what became of the delivery, the HTTP status, the error. */
export function endAttemptSpan(
  span: Span,
  record: {
    readonly outcome: string;
    readonly httpStatus: number | null;
    readonly error: { readonly message: string } | null;
  } | null,
  completion: { readonly kind: string },
): void {
  if (!span.isRecording()) return span.end();
  span.setAttribute('busbar.completion', completion.kind);
  if (record !== null) {
    span.setAttribute('busbar.outcome', record.outcome);
    if (record.httpStatus !== null) span.setAttribute('http.response.status_code', record.httpStatus);
  }
  endSpan(span, record?.error === null || record === null ? undefined : new Error(record.error.message));
}

export { SpanKind };
