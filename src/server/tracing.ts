/**
 * The tracer provider of `busbar start`, configured by the standard OpenTelemetry environment
 * variables: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans go
 * to that collector over OTLP/HTTP with protobuf, in batches; otherwise nothing is registered, every span
 * stays a no-op and nothing is exported. The provider is Busbar's own (./tracer.ts, ./otlp.ts): it
 * costs a traced publish a fraction of what the SDK's does.
 *
 * Read here: `OTEL_SERVICE_NAME` (default `busbar`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_EXPORTER`
 * (`otlp`, or `none` to turn exporting off), `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`,
 * `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, and
 * `OTEL_EXPORTER_OTLP_{HEADERS,TIMEOUT,COMPRESSION,PROTOCOL}` with their `_TRACES_` forms (which win).
 * A value that is not valid is an error at start, naming the variable.
 */
import { trace, type Attributes } from '@opentelemetry/api';
import { BusError, describeValue } from '../core/errors.js';
import { packageVersion } from '../version.js';
import { ThreadedSender, type ExporterSettings } from './otlp.js';
import { BusbarTracerProvider, type BatchSettings, type SamplerSettings, type TracingStats } from './tracer.js';

/** A registered tracer provider: `shutdown()` exports what is still buffered and unregisters it. */
export interface Tracing {
  /** Where spans go, for the start-up line. */
  readonly endpoint: string;
  /** Spans exported and dropped so far. */
  readonly stats: Readonly<TracingStats>;
  /** Sends every queued span and waits for it. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

type Env = Record<string, string | undefined>;

function fail(name: string, what: string, got: unknown): never {
  throw new BusError('INVALID_ARGUMENT', `Expected ${name} to be ${what}, got ${describeValue(got)}`);
}

/** Reads a variable; an empty one counts as unset. */
const reader =
  (env: Env) =>
  (name: string): string | undefined =>
    env[name] === '' ? undefined : env[name]?.trim();

/** An integer variable of at least `min`, or `fallback` when unset. */
function integer(value: (name: string) => string | undefined, name: string, min: number, fallback: number): number {
  const text = value(name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    fail(name, `an integer of at least ${min}`, text);
  }
  return Number(text);
}

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** `OTEL_TRACES_SAMPLER` and its argument (the default, as the specification says: parentbased_always_on). */
export function samplerSettings(env: Env): SamplerSettings {
  const value = reader(env);
  const name = value('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  if (!(SAMPLERS as readonly string[]).includes(name))
    fail('OTEL_TRACES_SAMPLER', `one of ${SAMPLERS.join(', ')}`, name);
  const parentBased = name.startsWith('parentbased_');
  if (name.endsWith('always_on')) return { parentBased, ratio: 1 };
  if (name.endsWith('always_off')) return { parentBased, ratio: 0 };
  const arg = value('OTEL_TRACES_SAMPLER_ARG');
  const ratio = arg === undefined ? 1 : Number(arg);
  if (arg !== undefined && (!/^\s*[\d.eE+-]+\s*$/.test(arg) || !(ratio >= 0 && ratio <= 1))) {
    fail('OTEL_TRACES_SAMPLER_ARG', 'a number from 0 to 1', arg);
  }
  return { parentBased, ratio };
}

/** The `OTEL_BSP_*` batch settings. */
export function batchSettings(env: Env): BatchSettings {
  const value = reader(env);
  const maxQueueSize = integer(value, 'OTEL_BSP_MAX_QUEUE_SIZE', 1, 2048);
  const maxExportBatchSize = integer(value, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 1, Math.min(512, maxQueueSize));
  if (maxExportBatchSize > maxQueueSize) {
    fail(
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
      `at most OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`,
      String(maxExportBatchSize),
    );
  }
  return { scheduledDelayMs: integer(value, 'OTEL_BSP_SCHEDULE_DELAY', 0, 5000), maxQueueSize, maxExportBatchSize };
}

/** `key=value` pairs separated by commas, values percent-decoded (`OTEL_EXPORTER_OTLP_HEADERS` and the like). */
function pairs(name: string, text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (text === undefined) return out;
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const at = item.indexOf('=');
    const key = item.slice(0, at).trim();
    if (at < 1 || key === '') fail(name, 'comma-separated key=value pairs', text);
    try {
      out[key] = decodeURIComponent(item.slice(at + 1).trim());
    } catch {
      fail(name, 'comma-separated key=value pairs, values percent-encoded', text);
    }
  }
  return out;
}

/** HTTP headers from a `key=value,...` variable: RFC 9110 names (tokens), values without controls but tab. */
function headersOf(value: (name: string) => string | undefined, name: string): Record<string, string> {
  const headers = pairs(name, value(name));
  for (const [key, text] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key) || /[^\t\x20-\x7e\x80-\xff]/.test(text)) {
      fail(name, 'HTTP headers, valid names and values', `${key}=${text}`);
    }
  }
  return headers;
}

/** The exporter settings, or null when no endpoint is set or `OTEL_TRACES_EXPORTER=none`. */
export function exporterSettings(env: Env): ExporterSettings | null {
  const value = reader(env);
  const exporter = value('OTEL_TRACES_EXPORTER') ?? 'otlp';
  if (exporter === 'none') return null;
  if (exporter !== 'otlp') fail('OTEL_TRACES_EXPORTER', 'otlp or none', exporter);
  const traces = value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = value('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (traces === undefined && base === undefined) return null;
  // The signal's own variable is the whole URL; the shared one gets the signal's path.
  const name = traces !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const text = traces ?? `${base!.replace(/\/+$/, '')}/v1/traces`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(name, 'an http:// or https:// URL', traces ?? base);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(name, 'an http:// or https:// URL', traces ?? base);
  const either = (key: string): [string, string | undefined] => {
    const own = `OTEL_EXPORTER_OTLP_TRACES_${key}`;
    return value(own) !== undefined
      ? [own, value(own)]
      : [`OTEL_EXPORTER_OTLP_${key}`, value(`OTEL_EXPORTER_OTLP_${key}`)];
  };
  const [protocolName, protocol] = either('PROTOCOL');
  if (protocol !== undefined && protocol !== 'http/protobuf') {
    fail(protocolName, 'http/protobuf (Busbar exports OTLP over HTTP with protobuf)', protocol);
  }
  const [compressionName, compression = 'none'] = either('COMPRESSION');
  if (compression !== 'gzip' && compression !== 'none') fail(compressionName, 'gzip or none', compression);
  const [timeoutName] = either('TIMEOUT');
  const headers = {
    ...headersOf(value, 'OTEL_EXPORTER_OTLP_HEADERS'),
    ...headersOf(value, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'),
  };
  return {
    url,
    headers,
    timeoutMs: integer(value, timeoutName, 1, 10_000),
    compression,
  };
}

/** The resource: `OTEL_RESOURCE_ATTRIBUTES`, then the service's name and version. */
function resource(env: Env): Attributes {
  const value = reader(env);
  const attributes: Attributes = pairs('OTEL_RESOURCE_ATTRIBUTES', value('OTEL_RESOURCE_ATTRIBUTES'));
  attributes['service.name'] = value('OTEL_SERVICE_NAME') ?? attributes['service.name'] ?? 'busbar';
  attributes['service.version'] ??= packageVersion();
  return attributes;
}

/**
 * Registers the OTLP/HTTP tracer provider when the environment asks for one; null otherwise. Throws a
 * `BusError` naming the variable when a setting is not valid (nothing is registered then).
 * @example
 * ```ts
 * const tracing = startTracing(process.env); // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
 * await tracing?.shutdown();
 * ```
 */
export function startTracing(env: Env, options: { onError?: (error: Error) => void } = {}): Tracing | null {
  const exporter = exporterSettings(env);
  if (exporter === null) return null;
  const sampler = samplerSettings(env);
  const batch = batchSettings(env);
  const sender = new ThreadedSender(exporter);
  const provider = new BusbarTracerProvider({
    resource: resource(env),
    sampler,
    batch,
    send: (body) => sender.send(body),
    onError: options.onError,
  });
  trace.setGlobalTracerProvider(provider);
  return {
    endpoint: exporter.url.href,
    stats: provider.stats,
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      await sender.close();
      trace.disable();
    },
  };
}
