/**
 * The tracer provider of `busbar start`, wired by hand (no sdk-node): when the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) variable is set, spans go to
 * that collector with OTLP/HTTP in batches; otherwise nothing is registered, every span stays a no-op
 * and nothing is exported. `OTEL_SERVICE_NAME` names the service (default `busbar`);
 * `OTEL_TRACES_EXPORTER=none` turns exporting off. The exporter reads the other standard variables
 * (headers, timeout, compression) itself.
 */
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { packageVersion } from '../version.js';

/** A registered tracer provider: `shutdown()` exports what is still buffered and unregisters it. */
export interface Tracing {
  /** Where spans go, for the start-up line. */
  readonly endpoint: string;
  shutdown(): Promise<void>;
}

/**
 * Registers the OTLP/HTTP tracer provider when the environment asks for one; null otherwise.
 * @example
 * ```ts
 * const tracing = startTracing(process.env); // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
 * await tracing?.shutdown();
 * ```
 */
export function startTracing(env: Record<string, string | undefined>): Tracing | null {
  const value = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const traces = value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = value('OTEL_EXPORTER_OTLP_ENDPOINT');
  if ((traces === undefined && base === undefined) || value('OTEL_TRACES_EXPORTER') === 'none') return null;
  const endpoint = traces ?? `${base!.replace(/\/+$/, '')}/v1/traces`;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': value('OTEL_SERVICE_NAME') ?? 'busbar',
      'service.version': packageVersion(),
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }))],
  });
  trace.setGlobalTracerProvider(provider);
  return {
    endpoint,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
    },
  };
}
