/**
 * `busbar events ls <bus>` (the archive) and `busbar events get <bus> <id>` (an event's lineage: which
 * subscriptions it was owed to, every attempt, and where each delivery is now).
 */
import type { Command } from 'commander';
import { validatePattern } from '../../patterns/index.js';
import type { DeliveryTrace, EventLineage } from '../../client/index.js';
import { attemptLines, details, formatTime, json, table } from '../format.js';
import { parseInteger, parseJsonObject, parseTime } from '../input.js';
import { clientAction, print } from '../session.js';

interface ListOptions {
  from?: string;
  to?: string;
  type?: string;
  source?: string;
  pattern?: string;
  limit: string;
  cursor?: string;
}

function deliveryState(d: DeliveryTrace): string {
  switch (d.state) {
    case 'dead':
      return `dead (${d.deadReason ?? 'unknown reason'})`;
    case 'pending':
      return `pending, ${d.attempts.length === 0 ? 'due' : 'next attempt'} at ${formatTime(d.availableAt)}`;
    case 'leased':
      return 'in flight';
    default:
      return d.state;
  }
}

/** The lineage of one stored event: its header, then each subscription's deliveries with their attempts. */
export function lineageText(l: EventLineage): string {
  const e = l.event;
  let out = details([
    ['event', `${e.type} from ${e.source}, id ${e.id}`],
    ['time', `${e.time ?? '-'} (published ${formatTime(l.publishedAt)})`],
    ['matches now', l.matchesNow.length === 0 ? 'no subscription' : [...l.matchesNow].sort().join(', ')],
  ]);
  const bySub = new Map<string, DeliveryTrace[]>();
  for (const d of l.deliveries) bySub.set(d.subscription, [...(bySub.get(d.subscription) ?? []), d]);
  for (const name of l.matchesNow) if (!bySub.has(name)) bySub.set(name, []);
  if (bySub.size === 0) return `${out}\nno deliveries: no subscription matched when it was published (archived only)\n`;
  for (const [name, deliveries] of [...bySub].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const note = l.matchesNow.includes(name) ? '' : ' (its pattern no longer matches)';
    out += `\n${name}${note}\n`;
    if (deliveries.length === 0) {
      out += '  no delivery: it matches now, but not when the event was published (or it is newer)\n';
      continue;
    }
    for (const d of deliveries) {
      const marks = [
        ...(d.replayId === null ? [] : [`replay ${d.replayId}`]),
        ...(d.redriveOf === null ? [] : [`redrive of ${d.redriveOf}`]),
      ];
      out += `  delivery ${d.deliveryId}${marks.length === 0 ? '' : ` (${marks.join(', ')})`}: ${deliveryState(d)}\n`;
      out += attemptLines(d.attempts, '    ');
    }
  }
  return out;
}

/** Registers `events ls | get` on `program`. @example `busbar events get orders o-1` */
export function registerEventCommands(program: Command): void {
  const events = program.command('events').description("a bus's archive, and the lineage of one event");

  events
    .command('ls <bus>')
    .description('list archived events, oldest first')
    .option('--from <time>', 'published at or after: ISO 8601 time or a time ago such as 1h')
    .option('--to <time>', 'published at or before')
    .option('--type <type>', 'only events of this type')
    .option('--source <source>', 'only events from this source')
    .option('--pattern <json>', 'only events matching this EventBridge pattern')
    .option('--limit <n>', 'events per page, 1 to 1000', '100')
    .option('--cursor <cursor>', 'the next page, as printed after the previous one')
    .action(
      clientAction<ListOptions>(async (s, [bus], options) => {
        const now = Date.now();
        if (options.pattern !== undefined) validatePattern(parseJsonObject('--pattern', options.pattern));
        const result = await s.client.events.list(bus!, {
          limit: parseInteger('--limit', options.limit, 1, 1000),
          ...(options.from === undefined ? {} : { from: parseTime('--from', options.from, now) }),
          ...(options.to === undefined ? {} : { to: parseTime('--to', options.to, now) }),
          ...(options.type === undefined ? {} : { type: options.type }),
          ...(options.source === undefined ? {} : { source: options.source }),
          ...(options.pattern === undefined ? {} : { pattern: options.pattern }),
          ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
        });
        if (s.json) return print(json(result));
        const page = result;
        if (page.events.length === 0) print(`no events in the archive of ${bus} that match\n`);
        else {
          print(
            table(
              [{ title: 'TIME' }, { title: 'TYPE' }, { title: 'SOURCE' }, { title: 'ID' }],
              page.events.map((e) => [e.time ?? '-', e.type, e.source, e.id]),
            ),
          );
        }
        if (page.cursor !== null) process.stderr.write(`more: repeat with --cursor ${page.cursor}\n`);
      }),
    );

  events
    .command('get <bus> <id>')
    .description(
      "an event's lineage: the subscriptions it was owed to, every attempt, where each delivery is now, " +
        'and which subscriptions match it today ("why did my event not arrive?")',
    )
    .action(
      clientAction(async (s, [bus, id]) => {
        const result = await s.client.events.get(bus!, id!);
        if (s.json) return print(json(result));
        // Events from different sources may share an id: each has its own lineage.
        print(result.map(lineageText).join('\n'));
      }),
    );
}
