/**
 * `busbar publish <bus>`: one event from options, or JSON lines on stdin published in batches. A batch
 * is whatever arrived while the previous one was in flight (up to 100 events and 512 KiB), so a pipe
 * of many events takes few requests and a slow trickle is published line by line without waiting.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { BusbarError, type EventInput, type PublishResult as PublishAnswer } from '../../client/index.js';
import { BusError, describeValue } from '../../core/errors.js';
import { CliFailure, describeClientError } from '../failure.js';
import { json, plural } from '../format.js';
import { parseJson } from '../input.js';
import { clientAction, print, type Session } from '../session.js';

/** Most events per request. */
export const BATCH_EVENTS = 100;
/** Most bytes of JSON per request, well under the server's default 1 MiB body limit. */
export const BATCH_BYTES = 512 * 1024;
/** Lines read ahead of the requests before stdin is paused. */
const READ_AHEAD = 10 * BATCH_EVENTS;

interface PublishOptions {
  type?: string;
  source: string;
  data?: string;
  id?: string;
  subject?: string;
}

type PublishResult = PublishAnswer['results'][number];

/** One non-blank stdin line, numbered from 1 among all lines. */
export interface InputLine {
  readonly line: number;
  readonly text: string;
}

/**
 * The event of one stdin line: a JSON object, completed with `specversion` 1.0 and the default source.
 *
 * @throws {BusError} `INVALID_JSON` or `INVALID_EVENT` naming the line
 */
export function eventFromLine(input: InputLine, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(input.text);
  } catch (err) {
    throw new BusError(
      'INVALID_JSON',
      `Expected line ${input.line} of stdin to be JSON, got invalid JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BusError(
      'INVALID_EVENT',
      `Expected line ${input.line} of stdin to be a JSON object (a CloudEvent, or type, source and data), got ${describeValue(value)}`,
    );
  }
  return { specversion: '1.0', source, ...(value as Record<string, unknown>) };
}

/**
 * Takes the next batch off the front of `pending`: at least one line, then more while under
 * {@link BATCH_EVENTS} and {@link BATCH_BYTES}.
 */
export function takeBatch(pending: InputLine[]): InputLine[] {
  let bytes = 0;
  let n = 0;
  while (n < pending.length && n < BATCH_EVENTS) {
    bytes += Buffer.byteLength(pending[n]!.text) + 1;
    if (n > 0 && bytes > BATCH_BYTES) break;
    n++;
  }
  return pending.splice(0, n);
}

/**
 * Publishes the JSON lines of `input` in batches, one request at a time, and returns every result in
 * order. Stops at the first bad line or failed request, saying how many events were published before.
 */
async function publishLines(s: Session, bus: string, input: Readable, source: string): Promise<PublishResult[]> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  const pending: InputLine[] = [];
  let count = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  lines.on('line', (text) => {
    count++;
    if (text.trim() === '') return;
    pending.push({ line: count, text });
    if (pending.length >= READ_AHEAD) lines.pause();
    wake?.();
  });
  lines.on('close', () => {
    ended = true;
    wake?.();
  });
  const results: PublishResult[] = [];
  try {
    for (;;) {
      if (pending.length === 0) {
        if (ended) return results;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const batch = takeBatch(pending);
      if (pending.length < READ_AHEAD / 2) lines.resume();
      const before = `${plural(results.length, 'event')} published before it`;
      let events: Record<string, unknown>[];
      try {
        events = batch.map((l) => eventFromLine(l, source));
      } catch (err) {
        throw new BusError((err as BusError).code, `${(err as BusError).message} (${before})`, { cause: err });
      }
      try {
        const answer = await s.client.publish(bus, events as unknown as EventInput[]);
        results.push(...answer.results);
      } catch (err) {
        if (!(err instanceof BusbarError)) throw err;
        throw new CliFailure(`busbar: ${describeClientError(err, s.url)} (${batchWhere(err, batch)}; ${before})`, {
          cause: err,
        });
      }
    }
  } finally {
    lines.close();
    // Whatever is left unread must not keep the process alive after a failure.
    input.destroy();
  }
}

/** Where a failed batch came from: the line of the first invalid event if the server said, else the lines. */
function batchWhere(err: BusbarError, batch: readonly InputLine[]): string {
  const results = err.details?.['results'];
  if (Array.isArray(results)) {
    const bad = (results as Array<{ index?: unknown; status?: unknown }>).find((r) => r.status === 'invalid');
    const line = typeof bad?.index === 'number' ? batch[bad.index]?.line : undefined;
    if (line !== undefined) return `line ${line} of stdin; its batch was rejected whole`;
  }
  return `the batch of lines ${batch[0]!.line}–${batch[batch.length - 1]!.line} of stdin`;
}

/** Registers `publish` on `program`. @example `busbar publish orders --type order.placed --data '{"total":30}'` */
export function registerPublishCommand(program: Command): void {
  program
    .command('publish <bus>')
    .description(
      'publish one event (--type, --data), or JSON lines from stdin, each a CloudEvent or just type, source and ' +
        'data, in batches of up to 100. Prints what was accepted and what was a duplicate.',
    )
    .option('--type <type>', 'the event type, e.g. order.placed')
    .option('--source <source>', 'the event source, for events that do not name one', '/cli')
    .option('--data <json>', 'the event data, as JSON')
    .option('--id <id>', 'the event id (default: assigned by the server); a repeat is reported as a duplicate')
    .option('--subject <subject>', 'the event subject')
    .addHelpText(
      'after',
      `
Examples:
  busbar publish orders --type order.placed --data '{"total": 30}'
  printf '%s\\n' '{"type":"order.placed","data":{"total":30}}' | busbar publish orders`,
    )
    .action(
      clientAction<PublishOptions>(async (s, [bus], options) => {
        if (options.type === undefined && options.data === undefined && options.id === undefined) {
          if (process.stdin.isTTY) {
            throw new BusError(
              'INVALID_ARGUMENT',
              'Expected --type (and --data) for one event, or JSON lines on stdin, got a terminal on stdin',
            );
          }
          const results = await publishLines(s, bus!, process.stdin, options.source);
          if (s.json) return print(json({ results }));
          const duplicates = results.filter((r) => r.status === 'duplicate').length;
          return print(
            `published ${plural(results.length, 'event')} to ${bus}: ${results.length - duplicates} accepted, ` +
              `${duplicates} duplicate\n`,
          );
        }
        if (options.type === undefined) {
          throw new BusError('INVALID_ARGUMENT', 'Expected --type with --data or --id, got no --type');
        }
        const event: Record<string, unknown> = {
          specversion: '1.0',
          type: options.type,
          source: options.source,
          ...(options.id === undefined ? {} : { id: options.id }),
          ...(options.subject === undefined ? {} : { subject: options.subject }),
          ...(options.data === undefined ? {} : { data: parseJson('--data', options.data) }),
        };
        const result = await s.client.publish(bus!, event as unknown as EventInput);
        if (s.json) return print(json(result));
        for (const r of result.results) {
          print(
            r.status === 'accepted' ? `accepted ${r.id}\n` : `duplicate ${r.id} (published before: not stored again)\n`,
          );
        }
      }),
    );
}
