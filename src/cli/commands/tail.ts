/**
 * `busbar tail <bus>`: the events a bus stores, live, one line each, until SIGINT (Ctrl-C) or SIGTERM,
 * which end it with exit code 0.
 */
import type { Command } from 'commander';
import type { CloudEvent } from '../../core/events.js';
import { validatePattern } from '../../patterns/index.js';
import { CliFailure } from '../failure.js';
import { parseJsonObject } from '../input.js';
import { clientAction, print } from '../session.js';

/** One event as `tail` prints it: time, type, source and id, two spaces apart. */
export function tailLine(event: CloudEvent): string {
  return `${event.time ?? '-'}  ${event.type}  ${event.source}  ${event.id}\n`;
}

/** Registers `tail` on `program`. @example `busbar tail orders --pattern '{"type":["order.placed"]}'` */
export function registerTailCommand(program: Command): void {
  program
    .command('tail <bus>')
    .description(
      'print the events the bus stores from now on, one line each (time, type, source, id), until Ctrl-C; ' +
        'with --json, each event as one line of JSON',
    )
    .option('--pattern <json>', 'only events matching this EventBridge pattern')
    .action(
      clientAction<{ pattern?: string }>(async (s, [bus], options) => {
        const pattern = options.pattern === undefined ? undefined : parseJsonObject('--pattern', options.pattern);
        if (pattern !== undefined) validatePattern(pattern);
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const events = s.client.tail(bus!, { ...(pattern === undefined ? {} : { pattern }), signal: stop.signal });
          if (process.stderr.isTTY) process.stderr.write(`tailing ${bus} on ${s.url} (Ctrl-C to stop)\n`);
          for await (const event of events) {
            print(s.json ? `${JSON.stringify(event)}\n` : tailLine(event));
          }
        } catch (err) {
          if (stop.signal.aborted) return;
          throw err;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        if (!stop.signal.aborted)
          throw new CliFailure(`busbar: ${s.url} ended the stream of ${bus} (did the server stop?)`);
      }),
    );
}
