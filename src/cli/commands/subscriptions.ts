/**
 * `busbar subs ls | get | put | rm | pause | resume`: subscriptions, their targets and delivery
 * policies, with backlog, in-flight and dead-letter counts.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { BusError, describeValue } from '../../core/errors.js';
import { validatePattern, type PatternInput } from '../../patterns/index.js';
import type { Subscription, SubscriptionInput, SubscriptionStats } from '../../client/index.js';
import { details, formatDuration, formatTime, json, table } from '../format.js';
import { parseDuration, parseInteger, parseJsonObject, parsePositive } from '../input.js';
import { clientAction, print, type Session } from '../session.js';

/** A subscription, with its counts when `GET /v1/subscriptions/{name}` answered it. */
type SubscriptionView = Subscription & { stats?: SubscriptionStats };

/** Stats are fetched this many subscriptions at a time for `subs ls`. */
const STATS_CONCURRENCY = 8;

/** `pull`, `webhook https://...`, `handler`. */
export function describeTarget(target: Readonly<Record<string, unknown>>): string {
  return target['type'] === 'webhook' ? `webhook ${String(target['url'])}` : String(target['type']);
}

function describeDelivery(d: Subscription['delivery']): string {
  return [
    `maxAttempts ${d.maxAttempts}`,
    `maxAge ${d.maxAgeMs === null ? 'none' : formatDuration(d.maxAgeMs)}`,
    `backoff ${formatDuration(d.backoff.initialMs)}×${d.backoff.multiplier} up to ${formatDuration(d.backoff.maxMs)}`,
    `timeout ${formatDuration(d.timeoutMs)}`,
    `concurrency ${d.concurrency}`,
    d.ordered ? 'ordered by partitionkey' : 'unordered',
  ].join(', ');
}

function subscriptionDetails(sub: SubscriptionView): string {
  const stats = sub.stats;
  return details([
    ['name', sub.name],
    ['bus', sub.bus],
    ['pattern', sub.pattern],
    ['target', describeTarget(sub.target)],
    ['state', sub.paused ? 'paused' : 'active'],
    ['delivery', describeDelivery(sub.delivery)],
    ...(stats === undefined
      ? []
      : ([
          [
            'backlog',
            `${stats.backlog}${stats.oldestPendingAt === null ? '' : ` (oldest ${formatTime(stats.oldestPendingAt)})`}`,
          ],
          ['in flight', String(stats.inFlight)],
          ['dead letters', String(stats.dead)],
        ] as const)),
    ['created', formatTime(sub.createdAt)],
    ['updated', formatTime(sub.updatedAt)],
  ]);
}

/** The counts of each subscription, fetched a few at a time; `null` for one deleted meanwhile. */
async function statsOf(s: Session, names: readonly string[]): Promise<Map<string, SubscriptionStats | null>> {
  const out = new Map<string, SubscriptionStats | null>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++]!;
      try {
        out.set(name, (await s.client.subscriptions.get(name)).stats);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'NOT_FOUND') throw err;
        out.set(name, null);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STATS_CONCURRENCY, names.length) }, worker));
  return out;
}

/** What `subs put` takes besides the name (Commander's camel-cased options). */
interface PutOptions {
  file?: string;
  bus?: string;
  pattern?: string;
  target?: string;
  secret?: string[];
  mode?: string;
  maxAttempts?: string;
  maxAge?: string;
  backoff?: string;
  timeout?: string;
  concurrency?: string;
  ordered?: boolean;
}

function readBodyFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    const reason = (err as Error).message;
    throw new BusError('INVALID_ARGUMENT', `Expected --file to be a readable file, got ${path}: ${reason}`, {
      cause: err,
    });
  }
  return parseJsonObject(`--file ${path}`, text);
}

/**
 * The `PUT /v1/subscriptions/{name}` body: `--file` (if any), with each option given on top of it.
 *
 * @throws {BusError} for invalid option values, detected before anything is sent
 */
export function subscriptionBody(options: PutOptions): SubscriptionInput {
  const body: Record<string, unknown> = options.file === undefined ? {} : readBodyFile(options.file);
  if (options.bus !== undefined) body['bus'] = options.bus;
  if (options.pattern !== undefined) body['pattern'] = parseJsonObject('--pattern', options.pattern);
  if (body['pattern'] !== undefined) validatePattern(body['pattern'] as PatternInput);

  const given = body['target'];
  let target: Record<string, unknown> | undefined =
    typeof given === 'object' && given !== null ? { ...(given as Record<string, unknown>) } : undefined;
  if (options.target === 'pull') target = { type: 'pull' };
  else if (options.target !== undefined) {
    if (!/^https?:\/\//.test(options.target)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected --target to be "pull" or a webhook http(s) URL, got "${options.target}"`,
      );
    }
    target = { ...(target?.['type'] === 'webhook' ? target : {}), type: 'webhook', url: options.target };
  }
  if (options.secret !== undefined || options.mode !== undefined) {
    if (target?.['type'] !== 'webhook') {
      throw new BusError(
        'INVALID_ARGUMENT',
        'Expected --target <webhook URL> with --secret and --mode, got no webhook target',
      );
    }
    if (options.secret !== undefined)
      target['secret'] = options.secret.length === 1 ? options.secret[0] : options.secret;
    if (options.mode !== undefined) target['mode'] = options.mode;
  }
  if (target !== undefined) body['target'] = target;

  const delivery: Record<string, unknown> =
    typeof body['delivery'] === 'object' && body['delivery'] !== null ? { ...body['delivery'] } : {};
  if (options.maxAttempts !== undefined)
    delivery['maxAttempts'] = parseInteger('--max-attempts', options.maxAttempts, 1, 1_000_000);
  if (options.maxAge !== undefined) {
    delivery['maxAgeMs'] = options.maxAge === 'none' ? null : parseDuration('--max-age', options.maxAge);
  }
  if (options.timeout !== undefined) delivery['timeoutMs'] = parseDuration('--timeout', options.timeout);
  if (options.concurrency !== undefined) {
    delivery['concurrency'] = parseInteger('--concurrency', options.concurrency, 1, 1_000_000);
  }
  if (options.ordered !== undefined) delivery['ordered'] = options.ordered;
  if (options.backoff !== undefined) {
    const [initial, max, multiplier, ...rest] = options.backoff.split(',');
    if (initial === undefined || max === undefined || rest.length > 0) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected --backoff to be <initial>,<max>[,<multiplier>] such as 1s,5m,2, got "${options.backoff}"`,
      );
    }
    delivery['backoff'] = {
      initialMs: parseDuration('--backoff', initial),
      maxMs: parseDuration('--backoff', max),
      ...(multiplier === undefined ? {} : { multiplier: parsePositive('--backoff', multiplier) }),
    };
  }
  if (Object.keys(delivery).length > 0) body['delivery'] = delivery;
  if (typeof body['bus'] !== 'string') {
    throw new BusError('INVALID_ARGUMENT', `Expected --bus (or \`bus\` in --file), got ${describeValue(body['bus'])}`);
  }
  if (body['pattern'] === undefined) {
    throw new BusError('INVALID_ARGUMENT', 'Expected --pattern (or `pattern` in --file), got none');
  }
  // The server checks the rest (target and delivery fields, ranges) and names what is wrong.
  return body as unknown as SubscriptionInput;
}

/**
 * Registers `subs ls | get | put | rm | pause | resume` on `program`.
 *
 * @example `busbar subs put inventory --bus orders --pattern '{"type":["order.placed"]}'`
 */
export function registerSubscriptionCommands(program: Command): void {
  const subs = program
    .command('subs')
    .description('list, inspect, create, update, delete, pause and resume subscriptions');

  subs
    .command('ls')
    .description('list subscriptions with their bus, pattern, target and backlog, in-flight and dead-letter counts')
    .option('--bus <bus>', 'only the subscriptions of this bus')
    .action(
      clientAction<{ bus?: string }>(async (s, _args, options) => {
        const result = await s.client.subscriptions.list(options.bus === undefined ? {} : { bus: options.bus });
        if (s.json) return print(json(result));
        const list = result.subscriptions;
        if (list.length === 0) return print('no subscriptions\n');
        const stats = await statsOf(
          s,
          list.map((sub) => sub.name),
        );
        const count = (sub: Subscription, key: 'backlog' | 'inFlight' | 'dead'): string =>
          String(stats.get(sub.name)?.[key] ?? '-');
        print(
          table(
            [
              { title: 'NAME' },
              { title: 'BUS' },
              { title: 'PATTERN' },
              { title: 'TARGET' },
              { title: 'STATE' },
              { title: 'BACKLOG', right: true },
              { title: 'IN FLIGHT', right: true },
              { title: 'DEAD', right: true },
            ],
            list.map((sub) => [
              sub.name,
              sub.bus,
              sub.pattern,
              describeTarget(sub.target),
              sub.paused ? 'paused' : 'active',
              count(sub, 'backlog'),
              count(sub, 'inFlight'),
              count(sub, 'dead'),
            ]),
          ),
        );
      }),
    );

  subs
    .command('get <name>')
    .description('show a subscription: pattern, target, delivery policy and counts')
    .action(
      clientAction(async (s, [name]) => {
        const result = await s.client.subscriptions.get(name!);
        print(s.json ? json(result) : subscriptionDetails(result));
      }),
    );

  subs
    .command('put <name>')
    .description(
      'create or replace a subscription. The body is sent whole: an update without --target makes it a pull ' +
        'subscription again. Delivery options left out keep their current values (defaults for a new one).',
    )
    .option('--file <file>', 'the PUT body as a JSON file ("-" for stdin); options given as well override its fields')
    .option('--bus <bus>', 'the bus it subscribes to')
    .option('--pattern <json>', 'EventBridge event pattern, as JSON')
    .option('--target <target>', '"pull", or a webhook URL the server POSTs each event to (default: pull)')
    .option('--secret <whsec>', 'webhook signing secret, whsec_<base64>; repeat during a rotation', collect)
    .option('--mode <mode>', 'webhook mode: binary or structured (default: binary)')
    .option('--max-attempts <n>', 'attempts before dead-lettering (default: 8)')
    .option('--max-age <duration>', 'dead-letter deliveries older than this, or "none" (default: 24h)')
    .option('--backoff <initial,max[,multiplier]>', 'retry backoff with full jitter (default: 1s,5m,2)')
    .option('--timeout <duration>', 'an attempt taking longer fails (default: 30s)')
    .option('--concurrency <n>', 'attempts in flight at once (default: 10)')
    .option('--ordered', 'deliver in publish order per partitionkey, one at a time (default: unordered)')
    .option('--no-ordered', 'deliver without ordering')
    .action(
      clientAction<PutOptions>(async (s, [name], options) => {
        const body = subscriptionBody(options);
        const result = await s.client.subscriptions.put(name!, body);
        print(s.json ? json(result) : subscriptionDetails(result));
      }),
    );

  subs
    .command('rm <name>')
    .description('delete a subscription with its queue and dead letters')
    .action(
      clientAction(async (s, [name]) => {
        await s.client.subscriptions.delete(name!);
        print(s.json ? json({ deleted: true, name }) : `deleted subscription ${name}\n`);
      }),
    );

  for (const [verb, done] of [
    ['pause', 'paused'],
    ['resume', 'resumed'],
  ] as const) {
    subs
      .command(`${verb} <name>`)
      .description(
        verb === 'pause'
          ? 'stop delivering; events keep queueing (the backlog grows) until resume'
          : 'deliver again, starting with the backlog',
      )
      .action(
        clientAction(async (s, [name]) => {
          const result = await (verb === 'pause'
            ? s.client.subscriptions.pause(name!)
            : s.client.subscriptions.resume(name!));
          print(s.json ? json(result) : `${done} subscription ${name}\n`);
        }),
      );
  }
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
