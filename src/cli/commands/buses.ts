/**
 * `busbar buses ls | put | rm`: the buses of a server and their archive retention.
 */
import type { Command } from 'commander';
import type { Bus } from '../../client/index.js';
import { formatBytes, formatDuration, formatTime, json, table } from '../format.js';
import { parseDuration, parseInteger } from '../input.js';
import { clientAction, print } from '../session.js';

function busTable(buses: readonly Bus[]): string {
  return table(
    [{ title: 'NAME' }, { title: 'MAX AGE', right: true }, { title: 'MAX SIZE', right: true }, { title: 'CREATED' }],
    buses.map((b) => [
      b.name,
      formatDuration(b.retention.maxAgeMs),
      formatBytes(b.retention.maxBytes),
      formatTime(b.createdAt),
    ]),
  );
}

/** `none` (no limit) or the value. */
function limitOf<T>(text: string | undefined, parse: (t: string) => T): T | null | undefined {
  if (text === undefined) return undefined;
  return text === 'none' ? null : parse(text);
}

/** Registers `buses ls | put | rm` on `program`. @example `busbar buses put audit --max-age 30d` */
export function registerBusCommands(program: Command): void {
  const buses = program.command('buses').description('list, create, update and delete buses');

  buses
    .command('ls')
    .description('list the buses with their archive retention')
    .action(
      clientAction(async (s) => {
        const result = await s.client.buses.list();
        if (s.json) return print(json(result));
        print(result.buses.length === 0 ? 'no buses (create one: busbar buses put <name>)\n' : busTable(result.buses));
      }),
    );

  buses
    .command('put <name>')
    .description('create a bus, or update its retention (unset limits keep their current value)')
    .option(
      '--max-age <duration>',
      'keep archived events this long: 7d, 24h, ... or "none" (default for a new bus: 7d)',
    )
    .option('--max-bytes <bytes>', 'keep at most this many bytes of archive, or "none" (default for a new bus: none)')
    .action(
      clientAction<{ maxAge?: string; maxBytes?: string }>(async (s, [name], options) => {
        const maxAgeMs = limitOf(options.maxAge, (t) => parseDuration('--max-age', t));
        const maxBytes = limitOf(options.maxBytes, (t) => parseInteger('--max-bytes', t, 1, Number.MAX_SAFE_INTEGER));
        const retention = {
          ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
          ...(maxBytes === undefined ? {} : { maxBytes }),
        };
        const result = await s.client.buses.put(name!, Object.keys(retention).length === 0 ? {} : { retention });
        print(s.json ? json(result) : busTable([result]));
      }),
    );

  buses
    .command('rm <name>')
    .description('delete a bus with its archive and its subscriptions')
    .action(
      clientAction(async (s, [name]) => {
        await s.client.buses.delete(name!);
        print(s.json ? json({ deleted: true, name }) : `deleted bus ${name}\n`);
      }),
    );
}
