/**
 * Prometheus metrics of event flow and latency (`GET /metrics`), fed by the engine's observers and, for
 * the gauges, read from storage at scrape time. Labels are bus and subscription names and small fixed
 * sets (reason, class): never event ids. Names and units are documented in docs/metrics.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Busbar } from '../busbar.js';
import type { AttemptObservation } from '../core/engine/observer.js';
import type { Tracing } from './tracing.js';

/** Latency buckets in seconds, from half a millisecond to a minute. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** End-to-end latency also spans retries: up to a day. */
const DELIVERY_BUCKETS = [...LATENCY_BUCKETS, 300, 900, 3600, 14_400, 86_400];
const ATTEMPT_BUCKETS = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20];

/** Network error codes: the attempt got no HTTP response. */
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Why an attempt failed, as the `class` label: timeout, network, http_4xx, http_5xx or handler_error. */
export function failureClass(observation: AttemptObservation): string {
  const record = observation.record;
  if (record === null) return 'handler_error';
  if (record.outcome === 'timeout') return 'timeout';
  const status = record.httpStatus;
  if (status !== null)
    return status >= 500 ? 'http_5xx' : status >= 400 ? 'http_4xx' : `http_${Math.floor(status / 100)}xx`;
  if (record.error?.code !== null && record.error?.code !== undefined && NETWORK.has(record.error.code))
    return 'network';
  if (record.error?.code === 'TIMEOUT') return 'timeout';
  return 'handler_error';
}

export interface MetricsOptions {
  /** Also export the process metrics of prom-client (`process_*`, `nodejs_*`). @default false */
  readonly processMetrics?: boolean;
  /** The tracer provider's counts (see tracing.ts), exported when tracing is on. @default null */
  readonly tracing?: Pick<Tracing, 'stats'> | null;
}

/** The registry with Busbar's metrics; `close()` stops observing the engine. */
export interface Metrics {
  readonly registry: Registry;
  close(): void;
}

/**
 * Creates the metrics of one engine.
 * @example
 * ```ts
 * const metrics = createMetrics(bus, { processMetrics: true });
 * console.log(await metrics.registry.metrics());
 * ```
 */
export function createMetrics(bus: Busbar, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const tracing = options.tracing ?? null;
  if (tracing !== null) {
    // Read from the provider at scrape time: spans are counted where they are sent.
    const counted = (name: string, help: string, read: (stats: Tracing['stats']) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read(tracing.stats));
        },
      });
    counted('busbar_trace_spans_exported_total', 'Spans a collector accepted.', (s) => s.exported);
    counted(
      'busbar_trace_spans_dropped_total',
      'Spans lost: the export queue was full, or the collector refused or could not be reached.',
      (s) => s.dropped,
    );
  }

  const published = new Counter({
    name: 'busbar_events_published_total',
    help: 'Events stored (accepted) by a bus.',
    labelNames: ['bus'],
    registers,
  });
  const matched = new Counter({
    name: 'busbar_events_matched_total',
    help: 'Stored events that matched at least one subscription (the rest are archived only).',
    labelNames: ['bus'],
    registers,
  });
  const deduplicated = new Counter({
    name: 'busbar_events_deduplicated_total',
    help: 'Events not stored because their source and id were accepted within the dedupe window.',
    labelNames: ['bus'],
    registers,
  });
  const rejected = new Counter({
    name: 'busbar_events_rejected_total',
    help: 'Events of publishes that stored nothing, by the error code (INVALID_EVENT, EVENT_TOO_LARGE, STORAGE_UNAVAILABLE...).',
    labelNames: ['bus', 'reason'],
    registers,
  });
  const publishDuration = new Histogram({
    name: 'busbar_publish_duration_seconds',
    help: 'From receiving a publish to its durable commit.',
    labelNames: ['bus'],
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const succeeded = new Counter({
    name: 'busbar_deliveries_succeeded_total',
    help: 'Deliveries acknowledged by their consumer.',
    labelNames: ['subscription'],
    registers,
  });
  const failed = new Counter({
    name: 'busbar_attempts_failed_total',
    help: 'Failed attempts, by class: timeout, network, http_4xx, http_5xx, handler_error.',
    labelNames: ['subscription', 'class'],
    registers,
  });
  const dead = new Counter({
    name: 'busbar_deliveries_dead_lettered_total',
    help: 'Deliveries moved to the dead-letter queue, by reason: max_attempts, max_age, non_retriable.',
    labelNames: ['subscription', 'reason'],
    registers,
  });
  const redriven = new Counter({
    name: 'busbar_deliveries_redriven_total',
    help: 'Dead letters put back for delivery.',
    labelNames: ['subscription'],
    registers,
  });
  const replayed = new Counter({
    name: 'busbar_deliveries_replayed_total',
    help: 'Deliveries created by replays.',
    labelNames: ['subscription'],
    registers,
  });
  const endToEnd = new Histogram({
    name: 'busbar_delivery_latency_seconds',
    help: 'From an event being stored to its successful delivery (retries included).',
    labelNames: ['subscription'],
    buckets: DELIVERY_BUCKETS,
    registers,
  });
  const attemptDuration = new Histogram({
    name: 'busbar_attempt_duration_seconds',
    help: 'How long one attempt took (handler, pull lease or webhook request).',
    labelNames: ['subscription'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const attemptsPerDelivery = new Histogram({
    name: 'busbar_delivery_attempts',
    help: 'Attempts a delivery took until it was acknowledged or dead-lettered.',
    labelNames: ['subscription'],
    buckets: ATTEMPT_BUCKETS,
    registers,
  });

  // One storage read per subscription per scrape feeds all four gauges: each gauge's collect waits for it.
  let scrape: Promise<void> | null = null;
  const collect = async (): Promise<void> => {
    scrape ??= readStats().finally(() => (scrape = null));
    await scrape;
  };
  const gauge = (name: string, help: string): Gauge =>
    new Gauge({ name, help, labelNames: ['bus', 'subscription'], registers, collect });
  const backlog = gauge('busbar_subscription_backlog', 'Deliveries waiting (due or scheduled for a retry).');
  const inFlight = gauge('busbar_subscription_in_flight', 'Deliveries leased to a consumer right now.');
  const deadLetters = gauge('busbar_subscription_dead_letters', 'Dead letters in the dead-letter queue.');
  const oldestAge = gauge(
    'busbar_subscription_oldest_pending_age_seconds',
    'Age of the oldest waiting delivery (0 when none waits).',
  );
  async function readStats(): Promise<void> {
    const values: Array<[Record<string, string>, Awaited<ReturnType<Busbar['stats']>>]> = [];
    for (const sub of bus.listSubscriptions()) {
      const stats = await bus.stats(sub.name).catch(() => null);
      if (stats !== null) values.push([{ bus: sub.bus, subscription: sub.name }, stats]);
    }
    const now = bus.clock.now();
    for (const g of [backlog, inFlight, deadLetters, oldestAge]) g.reset();
    for (const [labels, stats] of values) {
      backlog.set(labels, stats.backlog);
      inFlight.set(labels, stats.inFlight);
      deadLetters.set(labels, stats.dead);
      oldestAge.set(labels, stats.oldestPendingAt === null ? 0 : Math.max(0, now - stats.oldestPendingAt) / 1000);
    }
  }

  const bySubscription = [succeeded, failed, dead, redriven, replayed, endToEnd, attemptDuration, attemptsPerDelivery];
  const offChanges = bus.onSubscriptionChange(({ kind, subscription }) => {
    // A deleted subscription's series go with it, so label sets stay bounded by what exists.
    if (kind === 'delete') for (const metric of bySubscription) metric.remove({ subscription: subscription.name });
  });
  const offObserver = bus.observe({
    publish(o) {
      published.inc({ bus: o.bus }, o.accepted);
      matched.inc({ bus: o.bus }, o.matched);
      if (o.duplicates > 0) deduplicated.inc({ bus: o.bus }, o.duplicates);
      publishDuration.observe({ bus: o.bus }, o.durationMs / 1000);
    },
    reject(o) {
      rejected.inc({ bus: o.bus, reason: o.code }, o.events);
    },
    attempt(o) {
      const subscription = o.subscription;
      if (o.record !== null) attemptDuration.observe({ subscription }, o.record.durationMs / 1000);
      if (o.completion.kind === 'ack') {
        succeeded.inc({ subscription });
        if (o.endToEndMs !== null) endToEnd.observe({ subscription }, o.endToEndMs / 1000);
      } else if (o.record !== null) {
        failed.inc({ subscription, class: failureClass(o) });
      }
      if (o.completion.kind === 'dead') dead.inc({ subscription, reason: o.completion.reason });
      if (o.attemptsUsed !== null && o.attemptsUsed > 0) attemptsPerDelivery.observe({ subscription }, o.attemptsUsed);
    },
    redrive(subscription, count) {
      redriven.inc({ subscription }, count);
    },
    replay(subscription, count) {
      replayed.inc({ subscription }, count);
    },
  });
  return {
    registry,
    close() {
      offObserver();
      offChanges();
    },
  };
}
