/**
 * `busbar replay start | status | ls | cancel`: re-deliver archived events. `start` waits for the replay
 * to end, showing its progress on stderr, unless `--no-wait`.
 */
import type { Command } from 'commander';
import { validatePattern } from '../../patterns/index.js';
import type { Replay, ReplayInput } from '../../client/index.js';
import { CliFailure } from '../failure.js';
import { details, formatTime, json, plural, table } from '../format.js';
import { parseJsonObject, parseList, parsePositive, parseTime } from '../input.js';
import { ProgressReporter } from '../progress.js';
import { clientAction, print, type Session } from '../session.js';

/** How often a waiting `replay start` asks for progress. */
const POLL_MS = 500;
/** The progress bar counts the events in range up to this many pages of 1000; past that it shows counts only. */
const COUNT_PAGES = 10;

interface StartOptions {
  bus: string;
  from: string;
  to?: string;
  pattern?: string;
  subscriptions?: string;
  skipDelivered?: boolean;
  rate?: string;
  wait: boolean;
}

/** The `POST /v1/replays` body from the options. */
export function replayBody(options: StartOptions, now: number): ReplayInput {
  const body: ReplayInput = { bus: options.bus, from: parseTime('--from', options.from, now) };
  if (options.to !== undefined) body.to = parseTime('--to', options.to, now);
  if (options.pattern !== undefined) {
    const pattern = parseJsonObject('--pattern', options.pattern);
    validatePattern(pattern);
    body.pattern = pattern;
  }
  if (options.subscriptions !== undefined) body.subscriptions = parseList('--subscriptions', options.subscriptions);
  if (options.skipDelivered === true) body.skipDelivered = true;
  if (options.rate !== undefined) body.ratePerSec = parsePositive('--rate', options.rate);
  return body;
}

function summary(r: Replay): string {
  return `scanned ${plural(r.scanned, 'event')}, enqueued ${plural(r.enqueued, 'delivery', 'deliveries')}`;
}

function replayDetails(r: Replay): string {
  return details([
    ['id', r.id],
    ['bus', r.bus],
    ['state', r.state],
    ['range', `${formatTime(r.from)} to ${formatTime(r.to)}`],
    ['pattern', r.pattern ?? '-'],
    ['subscriptions', r.subscriptions === null ? 'every matching subscription' : r.subscriptions.join(', ')],
    ['skip delivered', r.skipDelivered ? 'yes' : 'no'],
    ['rate', r.ratePerSec === null ? 'unlimited' : `${r.ratePerSec} events/s`],
    ['progress', summary(r)],
    ...(r.error === null ? [] : [['error', r.error] as const]),
    ['created', formatTime(r.createdAt)],
    ['updated', formatTime(r.updatedAt)],
  ]);
}

/** The events in the replay's range, counted page by page; null past {@link COUNT_PAGES} pages or on any error. */
async function countInRange(s: Session, r: Replay, signal: AbortSignal): Promise<number | null> {
  let total = 0;
  let cursor: string | null = null;
  for (let page = 0; page < COUNT_PAGES && !signal.aborted; page++) {
    const result = await s.client.events.list(r.bus, {
      from: r.from,
      to: r.to,
      limit: 1000,
      ...(cursor === null ? {} : { cursor }),
    });
    total += result.events.length;
    cursor = result.cursor;
    if (cursor === null) return total;
  }
  return null;
}

/**
 * Polls the replay until it is no longer running, drawing progress. Resolves to the final record, or
 * to null when SIGINT/SIGTERM stopped the waiting (the replay goes on).
 */
async function waitFor(s: Session, started: Replay): Promise<Replay | null> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = new ProgressReporter(process.stderr);
  let total: number | null = null;
  void countInRange(s, started, stop.signal).then(
    (n) => (total = n),
    () => undefined,
  );
  try {
    let record = started;
    for (;;) {
      record = await s.client.replays.get(record.id);
      if (record.state !== 'running') return record;
      progress.update(record, total);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        stop.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      if (stop.signal.aborted) return null;
    }
  } finally {
    stop.abort();
    progress.finish();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Registers `replay start | status | ls | cancel` on `program`. @example `busbar replay start --bus orders --from 1h` */
export function registerReplayCommands(program: Command): void {
  const replay = program.command('replay').description('re-deliver archived events, marked with a replayid');

  replay
    .command('start')
    .description(
      'start a replay and wait for it to end, with its progress on stderr (a bar on a terminal); ' +
        'exits 1 if it fails. Ctrl-C stops the waiting, not the replay.',
    )
    .requiredOption('--bus <bus>', 'the bus whose archive to replay')
    .requiredOption('--from <time>', 'events published at or after: ISO 8601 time, or a time ago such as 5m, 1h, 2d')
    .option('--to <time>', 'events published at or before (default: now)')
    .option('--pattern <json>', 'only events that also match this EventBridge pattern')
    .option(
      '--subscriptions <names>',
      'only to these subscriptions, e.g. a,b (default: every one whose pattern matches)',
    )
    .option('--skip-delivered', 'skip events a subscription already processed successfully')
    .option('--rate <n>', 'at most n events per second (default: unlimited)')
    .option('--no-wait', 'print the started replay and return at once')
    .action(
      clientAction<StartOptions>(async (s, _args, options) => {
        const started = await s.client.replays.start(replayBody(options, Date.now()));
        if (!options.wait) {
          return print(
            s.json
              ? json(started)
              : `replay ${started.id} started on ${started.bus} (${formatTime(started.from)} to ${formatTime(started.to)}); ` +
                  `follow it with: busbar replay status ${started.id}\n`,
          );
        }
        const ended = await waitFor(s, started);
        if (ended === null) {
          process.stderr.write(
            `stopped waiting; replay ${started.id} goes on (busbar replay status ${started.id}, busbar replay cancel ${started.id})\n`,
          );
          process.exitCode = 130;
          return;
        }
        if (s.json) print(json(ended));
        else print(`replay ${ended.id} ${ended.state}: ${summary(ended)}\n`);
        if (ended.state === 'failed') {
          throw new CliFailure(`busbar: replay ${ended.id} failed: ${ended.error ?? 'no reason given'}`);
        }
      }),
    );

  replay
    .command('status <id>')
    .description("a replay's state and progress")
    .action(
      clientAction(async (s, [id]) => {
        const result = await s.client.replays.get(id!);
        print(s.json ? json(result) : replayDetails(result));
      }),
    );

  replay
    .command('ls')
    .description('list replays, oldest first')
    .option('--bus <bus>', 'only the replays of this bus')
    .action(
      clientAction<{ bus?: string }>(async (s, _args, options) => {
        const result = await s.client.replays.list(options.bus === undefined ? {} : { bus: options.bus });
        if (s.json) return print(json(result));
        const list = result.replays;
        if (list.length === 0) return print('no replays\n');
        print(
          table(
            [
              { title: 'ID' },
              { title: 'BUS' },
              { title: 'STATE' },
              { title: 'FROM' },
              { title: 'TO' },
              { title: 'SCANNED', right: true },
              { title: 'ENQUEUED', right: true },
            ],
            list.map((r) => [
              r.id,
              r.bus,
              r.state,
              formatTime(r.from),
              formatTime(r.to),
              String(r.scanned),
              String(r.enqueued),
            ]),
          ),
        );
      }),
    );

  replay
    .command('cancel <id>')
    .description('stop a running replay; deliveries it enqueued already stay')
    .action(
      clientAction(async (s, [id]) => {
        const result = await s.client.replays.cancel(id!);
        print(s.json ? json(result) : `replay ${result.id} ${result.state}: ${summary(result)}\n`);
      }),
    );
}
