/**
 * `busbar dlq ls | show | redrive | rm | purge <subscription>`: a subscription's dead-letter queue.
 */
import type { Command } from 'commander';
import { BusError } from '../../core/errors.js';
import type { DeadLetter, RedriveSelection } from '../../client/index.js';
import { validatePattern } from '../../patterns/index.js';
import { attemptError, attemptLines, details, formatTime, json, plural, table } from '../format.js';
import { parseIds, parseInteger, parseJsonObject, parseTime } from '../input.js';
import { clientAction, print } from '../session.js';

interface ListOptions {
  limit: string;
  cursor?: string;
  from?: string;
  to?: string;
}

interface RedriveOptions {
  ids?: string;
  pattern?: string;
  from?: string;
  to?: string;
  dryRun?: boolean;
}

/** The redrive body from the options; nothing selected means every dead letter. */
export function redriveSelection(options: RedriveOptions, now: number): RedriveSelection {
  const selection: RedriveSelection = {};
  if (options.ids !== undefined) selection.ids = parseIds('--ids', options.ids);
  if (options.pattern !== undefined) {
    const pattern = parseJsonObject('--pattern', options.pattern);
    validatePattern(pattern);
    selection.pattern = pattern;
  }
  if (options.from !== undefined) selection.from = parseTime('--from', options.from, now);
  if (options.to !== undefined) selection.to = parseTime('--to', options.to, now);
  if (options.dryRun === true) selection.dryRun = true;
  return selection;
}

function deadLetterDetails(d: DeadLetter): string {
  return (
    details([
      ['id', String(d.id)],
      ['subscription', d.subscription],
      ['reason', d.reason],
      ['dead at', formatTime(d.deadAt)],
      ['enqueued', formatTime(d.enqueuedAt)],
      ...(d.replayId === null ? [] : [['replay', d.replayId] as const]),
      ['event', `${d.event.type} from ${d.event.source}, id ${d.event.id}`],
    ]) +
    `attempts:\n${attemptLines(d.attempts, '  ')}` +
    `event:\n${JSON.stringify(d.event, null, 2)
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n')}\n`
  );
}

/** Registers `dlq ls | show | redrive | rm | purge` on `program`. @example `busbar dlq redrive inventory --dry-run` */
export function registerDeadLetterCommands(program: Command): void {
  const dlq = program.command('dlq').description("browse, inspect, redrive and delete a subscription's dead letters");

  dlq
    .command('ls <subscription>')
    .description('list dead letters, oldest first, with their reason, attempts and last error')
    .option('--limit <n>', 'dead letters per page, 1 to 1000', '50')
    .option('--cursor <cursor>', 'the next page, as printed after the previous one')
    .option('--from <time>', 'died at or after: ISO 8601 time or a time ago such as 1h')
    .option('--to <time>', 'died at or before: ISO 8601 time or a time ago')
    .action(
      clientAction<ListOptions>(async (s, [sub], options) => {
        const now = Date.now();
        const result = await s.client.deadLetters.list(sub!, {
          limit: parseInteger('--limit', options.limit, 1, 1000),
          ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
          ...(options.from === undefined ? {} : { from: parseTime('--from', options.from, now) }),
          ...(options.to === undefined ? {} : { to: parseTime('--to', options.to, now) }),
        });
        if (s.json) return print(json(result));
        const page = result;
        if (page.deadLetters.length === 0) print(`no dead letters in ${sub}\n`);
        else {
          print(
            table(
              [
                { title: 'ID', right: true },
                { title: 'SUBSCRIPTION' },
                { title: 'EVENT' },
                { title: 'REASON' },
                { title: 'ATTEMPTS', right: true },
                { title: 'DEAD AT' },
                { title: 'LAST ERROR' },
              ],
              page.deadLetters.map((d) => {
                const last = d.attempts[d.attempts.length - 1];
                return [
                  String(d.id),
                  d.subscription,
                  `${d.event.type} ${d.event.id}`,
                  d.reason,
                  String(d.attempts.length),
                  formatTime(d.deadAt),
                  last === undefined ? '-' : attemptError(last),
                ];
              }),
            ),
          );
        }
        if (page.cursor !== null) process.stderr.write(`more: repeat with --cursor ${page.cursor}\n`);
      }),
    );

  dlq
    .command('show <subscription> <id>')
    .description('show one dead letter: its event and every attempt')
    .action(
      clientAction(async (s, [sub, id]) => {
        const result = await s.client.deadLetters.get(sub!, parseInteger('<id>', id!, 1, Number.MAX_SAFE_INTEGER));
        print(s.json ? json(result) : deadLetterDetails(result));
      }),
    );

  dlq
    .command('redrive <subscription>')
    .description('put dead letters back into the queue (all of them unless selected); attempts start over')
    .option('--ids <ids>', 'only these dead letters, e.g. 1,2,3')
    .option('--pattern <json>', 'only dead letters whose event matches this EventBridge pattern')
    .option('--from <time>', 'only those that died at or after: ISO 8601 time or a time ago such as 1h')
    .option('--to <time>', 'only those that died at or before')
    .option('--dry-run', 'count what would be redriven, change nothing')
    .action(
      clientAction<RedriveOptions>(async (s, [sub], options) => {
        const result = await s.client.deadLetters.redrive(sub!, redriveSelection(options, Date.now()));
        if (s.json) return print(json(result));
        const { count, dryRun } = result;
        print(
          dryRun
            ? `would redrive ${plural(count, 'dead letter')} of ${sub} (dry run: nothing changed)\n`
            : `redrove ${plural(count, 'dead letter')} of ${sub} back into its queue\n`,
        );
      }),
    );

  dlq
    .command('rm <subscription> <id>')
    .description('delete one dead letter for good')
    .action(
      clientAction(async (s, [sub, id]) => {
        await s.client.deadLetters.delete(sub!, parseInteger('<id>', id!, 1, Number.MAX_SAFE_INTEGER));
        print(s.json ? json({ deleted: 1 }) : `deleted dead letter ${id} of ${sub}\n`);
      }),
    );

  dlq
    .command('purge <subscription>')
    .description('delete every dead letter of the subscription for good (needs --yes)')
    .option('--yes', 'really delete them')
    .action(
      clientAction<{ yes?: boolean }>(async (s, [sub], options) => {
        if (options.yes !== true) {
          throw new BusError(
            'INVALID_ARGUMENT',
            `Refusing to delete every dead letter of "${sub}" without --yes (see them first: busbar dlq ls ${sub})`,
          );
        }
        const result = await s.client.deadLetters.purge(sub!);
        print(s.json ? json(result) : `deleted ${plural(result.deleted, 'dead letter')} of ${sub}\n`);
      }),
    );
}
