/**
 * `busbar pattern test` and `busbar pattern check`: the pattern engine from the command line.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { isBusError, describeValue } from '../../core/errors.js';
import { matchesPattern, validatePattern } from '../../patterns/index.js';

/** Output is flushed in chunks of about this many characters: one write per line is slow on big inputs. */
const CHUNK = 64 * 1024;

/** The answer for one `pattern check` line. */
export type CheckResult = { match: boolean } | { error: string };

/**
 * Registers `pattern test` and `pattern check` on `program`.
 *
 * @param reportInternal called with errors that are not `BusError`s (engine bugs), so `--debug` can print them
 */
export function registerPatternCommands(program: Command, reportInternal: (err: unknown) => void): void {
  const pattern = program.command('pattern').description('test events against EventBridge event patterns');

  pattern
    .command('test')
    .description('print true or false: does the event match the pattern? Exits 2 when either is invalid.')
    .requiredOption('--pattern <json>', 'the event pattern, as JSON text')
    .requiredOption('--event <json>', 'the event, as JSON text')
    .action((options: { pattern: string; event: string }) => {
      process.stdout.write(`${String(patternTest(options.pattern, options.event))}\n`);
    });

  pattern
    .command('check')
    .description(
      'read JSON lines {"pattern": "<JSON text>", "event": "<JSON text>"} from stdin and write one line per input, ' +
        'in order: {"match": true|false} or {"error": "<message>"}. Blank lines are skipped.',
    )
    .action(async () => {
      await patternCheck(process.stdin, process.stdout, reportInternal);
    });
}

/**
 * Whether `eventText` matches `patternText`; the pattern is validated first, so a bad pattern is
 * reported as such even when the event is bad too.
 *
 * @throws {BusError} `INVALID_PATTERN`, `INVALID_JSON` or `INVALID_EVENT` from the pattern engine
 */
export function patternTest(patternText: string, eventText: string): boolean {
  validatePattern(patternText);
  return matchesPattern(patternText, eventText);
}

/**
 * Answers one `pattern check` input line. Never throws: every failure becomes `{ error }`.
 *
 * @example
 * ```ts
 * checkLine('{"pattern": "{\\"a\\": [1]}", "event": "{\\"a\\": 1}"}'); // { match: true }
 * ```
 */
export function checkLine(line: string, reportInternal: (err: unknown) => void = () => {}): CheckResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    return { error: `Expected the line to be JSON, got invalid JSON: ${(err as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { error: `Expected the line to be a JSON object with "pattern" and "event", got ${describeValue(parsed)}` };
  }
  const fields = parsed as Record<string, unknown>;
  const pattern = fields['pattern'];
  const event = fields['event'];
  if (typeof pattern !== 'string') return notJsonText('pattern', pattern);
  if (typeof event !== 'string') return notJsonText('event', event);
  try {
    return { match: patternTest(pattern, event) };
  } catch (err) {
    if (isBusError(err)) return { error: err.message };
    reportInternal(err);
    return { error: `Internal error: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function notJsonText(field: string, value: unknown): CheckResult {
  return { error: `Expected \`${field}\` to be a string holding JSON text, got ${describeValue(value)}` };
}

/**
 * Streams `pattern check`: one JSON line out per non-blank line in, in order, until `input` ends.
 * Answers are batched while input is already buffered and flushed as soon as the reader catches up
 * (a driver that writes one line and waits for its answer is served at once); `drain` is awaited when
 * `output` pushes back, so memory stays flat on any input size.
 */
export async function patternCheck(
  input: Readable,
  output: Writable,
  reportInternal: (err: unknown) => void = () => {},
): Promise<void> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let pending = '';
  let scheduled: NodeJS.Immediate | undefined;
  let drained: Promise<unknown> | undefined;
  const flush = (): void => {
    scheduled = undefined;
    if (pending === '') return;
    const ok = output.write(pending);
    pending = '';
    if (!ok) drained ??= once(output, 'drain');
  };
  for await (const line of lines) {
    if (drained !== undefined) {
      await drained;
      drained = undefined;
    }
    if (line.trim() === '') continue;
    pending += `${JSON.stringify(checkLine(line, reportInternal))}\n`;
    // setImmediate runs once the lines already read are answered, before waiting on more input.
    if (pending.length >= CHUNK) flush();
    else scheduled ??= setImmediate(flush);
  }
  if (scheduled !== undefined) clearImmediate(scheduled);
  flush();
  if (drained !== undefined) await drained;
}
