/**
 * Input checks and small guards of the engine's public methods.
 */
import { BusError, describeValue } from '../errors.js';
import type { DispatcherOptions } from './dispatcher.js';

/** Wraps an error callback so that one that throws cannot crash the process from a timer. */
export function safe(report: (err: unknown) => void): (err: unknown) => void {
  return (err) => {
    try {
      report(err);
    } catch {
      // Nothing sensible is left to tell.
    }
  };
}

/** Validates `consume` options: a lease must outlive the attempt's timeout, or deliveries would run twice. */
export function checkConsumerOptions(options: DispatcherOptions, timeoutMs: number): void {
  if (typeof options !== 'object' || options === null) {
    throw new BusError('INVALID_ARGUMENT', `Expected consumer options to be an object, got ${describeValue(options)}`);
  }
  const { concurrency, leaseMs } = options;
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000)) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`concurrency\` to be an integer from 1 to 10000, got ${describeValue(concurrency)}`,
    );
  }
  if (leaseMs !== undefined && (!Number.isInteger(leaseMs) || leaseMs < timeoutMs + 1_000)) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Expected \`leaseMs\` to be an integer of at least the subscription's timeoutMs + 1000 (${timeoutMs + 1_000}), got ${describeValue(leaseMs)}`,
    );
  }
}

/** Events given as JSON text: one event or an array of them. */
export function parseEventText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BusError(
      'INVALID_JSON',
      `Expected the events to be JSON text, got invalid JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
