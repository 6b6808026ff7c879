/**
 * The client commands of the built `busbar` binary, run as subprocesses against a real server (the
 * HTTP API over an in-memory engine with a manual clock, listening on a port of 127.0.0.1): human and
 * `--json` output of publish, tail, buses, subs, dlq, replay and events, checked against what the
 * server stored. Error paths are in cli-client-errors.test.ts.
 * `npm test` builds first; after changing src/, run `npm run build` before `npx vitest`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN, runBusbar, type Run } from './support/process.js';
import { event, harness, type Harness } from './support/server.js';

// Each test starts the binary several times, about half a second each on a busy machine.
vi.setConfig({ testTimeout: 60_000 });
const dir = mkdtempSync(join(tmpdir(), 'busbar-cli-client-'));

let h: Harness;
let url: string;
/** Tail requests the server received, with their responses (to know when a stream is open). */
const tails: Array<{ url: string; raw: ServerResponse }> = [];
/** The number of events in each publish request, per bus. */
const batches: Array<{ bus: string; size: number }> = [];

function busbar(args: readonly string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return runBusbar(args, { ...options, env: { BUSBAR_URL: url, BUSBAR_API_KEY: '', ...options.env } });
}

/** Parses the stdout of a `--json` run that exited 0. */
function output<T>(run: Run): T {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/** Resolves once `check` holds, polling (for things another process does). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let counter = 0;
/** A fresh name, so that tests sharing the server do not see each other's buses and subscriptions. */
const unique = (prefix: string): string => `${prefix}-${++counter}`;

/** A bus with a pull subscription on `order.*` events. */
async function busWithSubscription(): Promise<{ bus: string; sub: string }> {
  const bus = unique('orders');
  const sub = unique('inventory');
  await h.bus.putBus(bus);
  await h.bus.putSubscription(sub, { bus, pattern: { type: [{ prefix: 'order.' }] }, target: { type: 'pull' } });
  return { bus, sub };
}

/** Publishes `count` events and dead-letters them all through the pull consumer API. */
async function deadLetters(bus: string, sub: string, count: number): Promise<void> {
  await h.bus.publish(
    bus,
    Array.from({ length: count }, (_, i) => event('order.placed', { n: i }, { id: `dl-${sub}-${i}` })),
  );
  const messages = await h.bus.pull.receive(sub, { max: count });
  await h.bus.pull.nack(
    sub,
    messages.map((m) => m.receipt),
    { deadLetter: true, error: 'payment service down' },
  );
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first (npm test does).`);
  h = await harness('memory');
  h.app.addHook('onRequest', (request, reply, done) => {
    if (request.url.includes('/tail')) tails.push({ url: request.url, raw: reply.raw });
    done();
  });
  h.app.addHook('preHandler', (request, _reply, done) => {
    const m = /^\/v1\/buses\/([^/]+)\/events$/.exec(request.url);
    if (request.method === 'POST' && m !== null) {
      batches.push({ bus: m[1]!, size: Array.isArray(request.body) ? request.body.length : 1 });
    }
    done();
  });
  url = await h.app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('busbar publish', () => {
  it('publishes one event from options, and reports a repeat as a duplicate', async () => {
    const bus = unique('orders');
    await h.bus.putBus(bus);
    const args = ['publish', bus, '--type', 'order.placed', '--data', '{"total": 30}', '--id', 'o-1'];
    expect(await busbar(args)).toEqual({ code: 0, stdout: 'accepted o-1\n', stderr: '' });
    expect(await busbar(args)).toEqual({
      code: 0,
      stdout: 'duplicate o-1 (published before: not stored again)\n',
      stderr: '',
    });
    const stored = (await h.bus.queryArchive(bus, {})).events;
    expect(stored).toEqual([
      expect.objectContaining({ id: 'o-1', type: 'order.placed', source: '/cli', data: { total: 30 } }),
    ]);
  });

  it('prints the server result with --json, the id assigned when none was given', async () => {
    const bus = unique('orders');
    await h.bus.putBus(bus);
    const run = await busbar(['publish', bus, '--type', 't', '--source', '/shop', '--subject', 's-1', '--json']);
    const result = output<{ results: Array<{ id: string; status: string }> }>(run);
    expect(result.results).toEqual([{ id: expect.any(String) as unknown, status: 'accepted' }]);
    const stored = (await h.bus.queryArchive(bus, {})).events;
    expect(stored).toEqual([expect.objectContaining({ id: result.results[0]!.id, source: '/shop', subject: 's-1' })]);
    expect(stored[0]).not.toHaveProperty('data');
  });

  it('publishes JSON lines from stdin in batches of up to 100, skipping blank lines', async () => {
    const bus = unique('orders');
    await h.bus.putBus(bus);
    const lines = Array.from({ length: 250 }, (_, i) =>
      i === 7 ? '' : JSON.stringify({ type: 'order.placed', id: `e-${i}`, data: { i } }),
    );
    // The same event twice: the second is a duplicate.
    lines.push(JSON.stringify({ type: 'order.placed', id: 'e-0', source: '/cli' }));
    const run = await busbar(['publish', bus], { stdin: `${lines.join('\n')}\n` });
    expect(run).toEqual({
      code: 0,
      stdout: `published 250 events to ${bus}: 249 accepted, 1 duplicate\n`,
      stderr: '',
    });
    const stored = (await h.bus.queryArchive(bus, { limit: 1000 })).events;
    expect(stored).toHaveLength(249);
    expect(stored.map((e) => e.id)).toEqual(
      Array.from({ length: 250 }, (_, i) => `e-${i}`).filter((id) => id !== 'e-7'),
    );
    expect(stored.every((e) => e.source === '/cli' && e.specversion === '1.0')).toBe(true);
    const sizes = batches.filter((b) => b.bus === bus).map((b) => b.size);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(250);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
  });

  it('prints every result with --json for stdin input', async () => {
    const bus = unique('orders');
    await h.bus.putBus(bus);
    const stdin = '{"type":"a","id":"1"}\r\n{"type":"b","id":"2","source":"/x"}';
    const result = output<{ results: unknown[] }>(await busbar(['publish', bus, '--json'], { stdin }));
    expect(result).toEqual({
      results: [
        { id: '1', status: 'accepted' },
        { id: '2', status: 'accepted' },
      ],
    });
  });
});

describe('busbar tail', () => {
  /** Starts `busbar tail`, waits until its stream is open on the server, and collects its stdout. */
  async function tail(bus: string, args: string[] = []) {
    const child = spawn(process.execPath, [BIN, 'tail', bus, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BUSBAR_URL: url, BUSBAR_API_KEY: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The route subscribes to the bus before it sends its headers, in one synchronous step.
    await until(
      () => tails.some((t) => t.url.startsWith(`/v1/buses/${bus}/tail`) && t.raw.headersSent),
      `busbar tail ${bus} to connect (stderr: ${stderr})`,
    );
    return { child, exited, output: () => ({ stdout, stderr }) };
  }

  it('prints one line per event as it is published, only those matching --pattern, until SIGINT', async () => {
    const bus = unique('orders');
    await h.bus.putBus(bus);
    const run = await tail(bus, ['--pattern', '{"type":["order.placed"]}']);
    await h.bus.publish(bus, [
      event('order.cancelled', {}, { id: 'skip-1' }),
      event('order.placed', { total: 1 }, { id: 'tail-1' }),
    ]);
    await until(() => run.output().stdout.includes('tail-1'), 'the tailed event');
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    const [stored] = (await h.bus.queryArchive(bus, { type: 'order.placed' })).events;
    expect(run.output()).toEqual({ stdout: `${stored!.time}  order.placed  /shop  tail-1\n`, stderr: '' });
  });

  it('prints each event as one line of JSON with --json', async () => {
    const bus = unique('orders');
    await h.bus.putBus(bus);
    const run = await tail(bus, ['--json']);
    await h.bus.publish(bus, event('order.placed', { total: 2 }, { id: 'tail-2' }));
    await until(() => run.output().stdout.endsWith('\n'), 'the tailed event');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const stored = (await h.bus.queryArchive(bus, {})).events;
    expect(
      run
        .output()
        .stdout.trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual(stored);
  });
});

describe('busbar buses', () => {
  it('creates, updates, lists and deletes buses', async () => {
    const bus = unique('audit');
    const put = await busbar(['buses', 'put', bus]);
    expect(put).toEqual({
      code: 0,
      stdout: `NAME${' '.repeat(bus.length - 4)}  MAX AGE  MAX SIZE  CREATED\n${bus}       7d         -  2026-11-27T00:00:00Z\n`,
      stderr: '',
    });
    const updated = output<{ retention: unknown }>(
      await busbar(['buses', 'put', bus, '--max-age', '24h', '--max-bytes', '1048576', '--json']),
    );
    expect(updated.retention).toEqual({ maxAgeMs: 86_400_000, maxBytes: 1_048_576 });
    expect(h.bus.getBus(bus).retention).toEqual({ maxAgeMs: 86_400_000, maxBytes: 1_048_576 });
    // Unset limits keep their value; "none" lifts one.
    await busbar(['buses', 'put', bus, '--max-age', 'none']);
    expect(h.bus.getBus(bus).retention).toEqual({ maxAgeMs: null, maxBytes: 1_048_576 });

    const ls = await busbar(['buses', 'ls']);
    expect(ls.code).toBe(0);
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME +MAX AGE +MAX SIZE +CREATED$/);
    expect(ls.stdout).toMatch(new RegExp(`^${bus} +- +1 MiB +2026-11-27T00:00:00Z$`, 'm'));
    const json = output<{ buses: Array<{ name: string }> }>(await busbar(['buses', 'ls', '--json']));
    expect(json.buses.map((b) => b.name)).toContain(bus);

    expect(await busbar(['buses', 'rm', bus])).toEqual({ code: 0, stdout: `deleted bus ${bus}\n`, stderr: '' });
    expect(h.bus.listBuses().map((b) => b.name)).not.toContain(bus);
  });
});

describe('busbar subs', () => {
  it('creates a pull subscription from options and shows it', async () => {
    const bus = unique('orders');
    const sub = unique('inventory');
    await h.bus.putBus(bus);
    const put = await busbar([
      'subs',
      'put',
      sub,
      '--bus',
      bus,
      '--pattern',
      '{"type":["order.placed"]}',
      '--max-attempts',
      '5',
      '--backoff',
      '2s,1m',
      '--ordered',
    ]);
    expect(put.code).toBe(0);
    expect(put.stdout).toBe(
      [
        `name      ${sub}`,
        `bus       ${bus}`,
        'pattern   {"type":["order.placed"]}',
        'target    pull',
        'state     active',
        'delivery  maxAttempts 5, maxAge 1d, backoff 2s×2 up to 1m, timeout 30s, concurrency 10, ordered by partitionkey',
        'created   2026-11-27T00:00:00Z',
        'updated   2026-11-27T00:00:00Z',
        '',
      ].join('\n'),
    );
    expect(h.bus.getSubscription(sub)).toMatchObject({
      bus,
      target: { type: 'pull' },
      delivery: { maxAttempts: 5, backoff: { initialMs: 2000, maxMs: 60_000, multiplier: 2 }, ordered: true },
    });

    await h.bus.publish(bus, [event('order.placed', {}, { id: 'a' }), event('order.placed', {}, { id: 'b' })]);
    const get = await busbar(['subs', 'get', sub]);
    expect(get.stdout).toContain('\nbacklog       2 (oldest 2026-11-27T00:00:00Z)\nin flight     0\ndead letters  0\n');
    const json = output<{ name: string; stats: unknown }>(await busbar(['subs', 'get', sub, '--json']));
    expect(json).toMatchObject({ name: sub, stats: { backlog: 2, inFlight: 0, dead: 0 } });
  });

  it('creates a webhook subscription from --file, options overriding the file', async () => {
    const bus = unique('orders');
    const sub = unique('notify');
    await h.bus.putBus(bus);
    const file = join(dir, `${sub}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        bus,
        pattern: { type: ['order.placed'] },
        target: { type: 'webhook', url: 'https://example.com/hook', mode: 'structured' },
        delivery: { maxAttempts: 3, timeoutMs: 5000 },
      }),
    );
    const secret = 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
    const run = await busbar(['subs', 'put', sub, '--file', file, '--secret', secret, '--max-attempts', '4', '--json']);
    const body = output<Record<string, unknown>>(run);
    expect(body).toMatchObject({
      name: sub,
      target: { type: 'webhook', url: 'https://example.com/hook', mode: 'structured', secret },
      delivery: { maxAttempts: 4, timeoutMs: 5000 },
    });
    expect(h.bus.getSubscription(sub).target).toEqual(body['target']);
  });

  it('lists subscriptions with their counts, and pauses, resumes and deletes one', async () => {
    const { bus, sub } = await busWithSubscription();
    await deadLetters(bus, sub, 2);
    await h.bus.publish(bus, event('order.shipped', {}, { id: 'pending-1' }));

    const ls = await busbar(['subs', 'ls', '--bus', bus]);
    expect(ls.code).toBe(0);
    const rows = ls.stdout.trimEnd().split('\n');
    expect(rows.map((r) => r.split(/ {2,}/))).toEqual([
      ['NAME', 'BUS', 'PATTERN', 'TARGET', 'STATE', 'BACKLOG', 'IN FLIGHT', 'DEAD'],
      [sub, bus, '{"type":[{"prefix":"order."}]}', 'pull', 'active', '1', '0', '2'],
    ]);
    // Aligned: the counts are right-aligned under their headings.
    expect(rows[1]!.length).toBe(rows[0]!.length);
    const json = output<{ subscriptions: Array<{ name: string }> }>(
      await busbar(['subs', 'ls', '--bus', bus, '--json']),
    );
    expect(json.subscriptions.map((s) => s.name)).toEqual([sub]);

    expect(await busbar(['subs', 'pause', sub])).toEqual({
      code: 0,
      stdout: `paused subscription ${sub}\n`,
      stderr: '',
    });
    expect(h.bus.getSubscription(sub).paused).toBe(true);
    expect((await busbar(['subs', 'ls', '--bus', bus])).stdout).toContain(' paused ');
    const resumed = output<{ paused: boolean }>(await busbar(['subs', 'resume', sub, '--json']));
    expect(resumed.paused).toBe(false);
    expect(await busbar(['subs', 'rm', sub])).toEqual({ code: 0, stdout: `deleted subscription ${sub}\n`, stderr: '' });
    expect(h.bus.listSubscriptions(bus)).toEqual([]);
    expect(await busbar(['subs', 'ls', '--bus', bus])).toEqual({ code: 0, stdout: 'no subscriptions\n', stderr: '' });
  });
});

describe('busbar dlq', () => {
  it('lists dead letters with reason, attempts and last error, and shows one', async () => {
    const { bus, sub } = await busWithSubscription();
    await deadLetters(bus, sub, 2);
    const [first] = (await h.bus.deadLetters.list(sub)).deadLetters;

    const ls = await busbar(['dlq', 'ls', sub]);
    expect(ls.code).toBe(0);
    const rows = ls.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^ID +SUBSCRIPTION +EVENT +REASON +ATTEMPTS +DEAD AT +LAST ERROR$/);
    expect(rows[1]).toMatch(
      new RegExp(
        `^ +${first!.id}  ${sub} +order\\.placed dl-${sub}-0 +non_retriable +1  2026-11-27T00:00:00Z  payment service down$`,
      ),
    );
    expect(rows).toHaveLength(3);

    const page = output<{ deadLetters: unknown[]; cursor: string | null }>(
      await busbar(['dlq', 'ls', sub, '--limit', '1', '--json']),
    );
    expect(page.deadLetters).toHaveLength(1);
    const human = await busbar(['dlq', 'ls', sub, '--limit', '1']);
    expect(human.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(human.stderr).toBe(`more: repeat with --cursor ${page.cursor}\n`);
    const next = await busbar(['dlq', 'ls', sub, '--limit', '1', '--cursor', page.cursor!]);
    expect(next.stdout).toContain(`dl-${sub}-1`);

    const show = await busbar(['dlq', 'show', sub, String(first!.id)]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`reason        non_retriable\n`);
    expect(show.stdout).toContain(`event         order.placed from /shop, id dl-${sub}-0\n`);
    expect(show.stdout).toMatch(
      /attempts:\n {2}#1 {2}2026-11-27T00:00:00Z {2}0ms {2}non_retriable {2}payment service down\n/,
    );
    expect(show.stdout).toContain(`  "id": "dl-${sub}-0",\n`);
    expect(output<{ id: number }>(await busbar(['dlq', 'show', sub, String(first!.id), '--json'])).id).toBe(first!.id);
  });

  it('redrives with --dry-run (nothing changes), then for real, by ids', async () => {
    const { bus, sub } = await busWithSubscription();
    await deadLetters(bus, sub, 3);
    const ids = (await h.bus.deadLetters.list(sub)).deadLetters.map((d) => d.id);

    const dry = await busbar(['dlq', 'redrive', sub, '--dry-run']);
    expect(dry).toEqual({
      code: 0,
      stdout: `would redrive 3 dead letters of ${sub} (dry run: nothing changed)\n`,
      stderr: '',
    });
    expect(await h.bus.deadLetters.count(sub)).toBe(3);

    const some = await busbar(['dlq', 'redrive', sub, '--ids', `${ids[0]},${ids[2]}`]);
    expect(some).toEqual({ code: 0, stdout: `redrove 2 dead letters of ${sub} back into its queue\n`, stderr: '' });
    expect(await h.bus.deadLetters.count(sub)).toBe(1);
    expect((await h.bus.stats(sub)).backlog).toBe(2);

    const json = output<unknown>(await busbar(['dlq', 'redrive', sub, '--pattern', '{"data":{"n":[1]}}', '--json']));
    expect(json).toEqual({ count: 1, dryRun: false });
    expect(await h.bus.deadLetters.count(sub)).toBe(0);
  });

  it('purges with --yes, and deletes one', async () => {
    const { bus, sub } = await busWithSubscription();
    await deadLetters(bus, sub, 3);
    const [first] = (await h.bus.deadLetters.list(sub)).deadLetters;
    expect(await busbar(['dlq', 'rm', sub, String(first!.id)])).toEqual({
      code: 0,
      stdout: `deleted dead letter ${first!.id} of ${sub}\n`,
      stderr: '',
    });
    expect(await busbar(['dlq', 'purge', sub, '--yes'])).toEqual({
      code: 0,
      stdout: `deleted 2 dead letters of ${sub}\n`,
      stderr: '',
    });
    expect(await h.bus.deadLetters.count(sub)).toBe(0);
    expect(await busbar(['dlq', 'ls', sub])).toEqual({ code: 0, stdout: `no dead letters in ${sub}\n`, stderr: '' });
  });
});

describe('busbar replay', () => {
  it('starts a replay, waits for it with progress on stderr, and prints the outcome', async () => {
    const { bus, sub } = await busWithSubscription();
    await h.bus.publish(bus, [event('order.placed', {}, { id: 'r-1' }), event('other', {}, { id: 'r-2' })]);
    const run = await busbar(['replay', 'start', '--bus', bus, '--from', '2026-11-26T00:00:00Z']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^replay [0-9a-f-]{36} completed: scanned 2 events, enqueued 1 delivery\n$/);
    const id = /^replay (\S+)/.exec(run.stdout)![1]!;
    // Not a terminal: at most plain progress lines, never a redrawn bar.
    expect(run.stderr).not.toContain('\r');
    expect(await h.bus.replays.get(id)).toMatchObject({ state: 'completed', scanned: 2, enqueued: 1 });
    expect((await h.bus.stats(sub)).backlog).toBe(2);

    const status = await busbar(['replay', 'status', id]);
    expect(status.stdout).toContain(`id              ${id}\nbus             ${bus}\nstate           completed\n`);
    expect(status.stdout).toContain('range           2026-11-26T00:00:00Z to 2026-11-27T00:00:00Z\n');
    expect(status.stdout).toContain('progress        scanned 2 events, enqueued 1 delivery\n');
    const ls = await busbar(['replay', 'ls', '--bus', bus]);
    expect(ls.stdout).toMatch(
      new RegExp(`^${id}  ${bus} +completed +2026-11-26T00:00:00Z +2026-11-27T00:00:00Z +2 +1$`, 'm'),
    );
  });

  it('prints the final record with --json, and the started one with --no-wait', async () => {
    const { bus, sub } = await busWithSubscription();
    await h.bus.publish(bus, event('order.placed', {}, { id: 'r-3' }));
    const args = ['replay', 'start', '--bus', bus, '--from', '2026-11-26', '--subscriptions', sub, '--skip-delivered'];
    const done = output<Record<string, unknown>>(await busbar([...args, '--json']));
    expect(done).toMatchObject({ bus, state: 'completed', subscriptions: [sub], skipDelivered: true, scanned: 1 });

    const started = await busbar([...args, '--pattern', '{"type":["order.placed"]}', '--rate', '5', '--no-wait']);
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(
      new RegExp(
        `^replay (\\S+) started on ${bus} \\(2026-11-26T00:00:00Z to 2026-11-27T00:00:00Z\\); follow it with: busbar replay status \\1\\n$`,
      ),
    );
    const id = /^replay (\S+)/.exec(started.stdout)![1]!;
    expect(await h.bus.replays.get(id)).toMatchObject({ pattern: '{"type":["order.placed"]}', ratePerSec: 5 });
    const cancelled = output<{ id: string; state: string }>(await busbar(['replay', 'cancel', id, '--json']));
    expect(cancelled.id).toBe(id);
    expect(['cancelled', 'completed']).toContain(cancelled.state);
  });
  it('stops waiting on SIGINT with exit 130, leaving the replay running', async () => {
    const { bus } = await busWithSubscription();
    await h.bus.publish(
      bus,
      Array.from({ length: 5 }, (_, i) => event('order.placed', {}, { id: `slow-${i}` })),
    );
    // At 1 event per second on the manual clock, the replay waits after its first event until the clock moves.
    const child = spawn(
      process.execPath,
      [BIN, 'replay', 'start', '--bus', bus, '--from', '2026-11-26T00:00:00Z', '--rate', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BUSBAR_URL: url, BUSBAR_API_KEY: '' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Without a terminal, progress is a plain line (the first at once).
    await until(() => stderr.includes('scanned'), 'a progress line');
    expect(stderr).toMatch(
      /^(replay running: scanned \d events?|\[[#-]{24}\] +\d+% {2}scanned \d\/5 events), enqueued/,
    );
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stdout).toBe('');
    const [replay] = await h.bus.replays.list(bus);
    expect(replay!.state).toBe('running');
    expect(stderr).toContain(
      `stopped waiting; replay ${replay!.id} goes on (busbar replay status ${replay!.id}, busbar replay cancel ${replay!.id})\n`,
    );
    const cancel = await busbar(['replay', 'cancel', replay!.id]);
    expect(cancel).toEqual({
      code: 0,
      stdout: `replay ${replay!.id} cancelled: scanned 1 event, enqueued 1 delivery\n`,
      stderr: '',
    });
  });
});

describe('busbar events', () => {
  it('lists the archive', async () => {
    const { bus } = await busWithSubscription();
    await h.bus.publish(bus, [event('order.placed', {}, { id: 'a-1' }), event('user.created', {}, { id: 'a-2' })]);
    const ls = await busbar(['events', 'ls', bus]);
    expect(ls.code).toBe(0);
    const rows = ls.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^TIME +TYPE +SOURCE +ID$/);
    expect(rows.slice(1).map((r) => r.split(/ {2,}/))).toEqual([
      [expect.stringMatching(/^2026-11-27T00:00:00/), 'order.placed', '/shop', 'a-1'],
      [expect.stringMatching(/^2026-11-27T00:00:00/), 'user.created', '/shop', 'a-2'],
    ]);
    const filtered = output<{ events: Array<{ id: string }> }>(
      await busbar(['events', 'ls', bus, '--pattern', '{"type":["user.created"]}', '--json']),
    );
    expect(filtered.events.map((e) => e.id)).toEqual(['a-2']);
  });

  it("shows an event's lineage: each subscription's deliveries and attempts", async () => {
    const { bus, sub } = await busWithSubscription();
    await deadLetters(bus, sub, 1);
    const late = unique('late');
    await h.bus.putSubscription(late, { bus, pattern: { source: ['/shop'] }, target: { type: 'pull' } });
    await h.bus.deadLetters.redrive(sub, {});

    const get = await busbar(['events', 'get', bus, `dl-${sub}-0`]);
    expect(get.code).toBe(0);
    const [trace] = await h.bus.lineage(bus, `dl-${sub}-0`);
    const [dead, redriven] = trace!.deliveries;
    expect(get.stdout).toBe(
      [
        `event        order.placed from /shop, id dl-${sub}-0`,
        `time         ${trace!.event.time} (published 2026-11-27T00:00:00Z)`,
        `matches now  ${sub}, ${late}`,
        '',
        sub,
        `  delivery ${dead!.deliveryId}: redriven`,
        '    #1  2026-11-27T00:00:00Z  0ms  non_retriable  payment service down',
        `  delivery ${redriven!.deliveryId} (redrive of ${dead!.deliveryId}): pending, due at 2026-11-27T00:00:00Z`,
        '    no attempts yet',
        '',
        late,
        '  no delivery: it matches now, but not when the event was published (or it is newer)',
        '',
      ].join('\n'),
    );
    const json = output<unknown[]>(await busbar(['events', 'get', bus, `dl-${sub}-0`, '--json']));
    expect(json).toEqual(JSON.parse(JSON.stringify(await h.bus.lineage(bus, `dl-${sub}-0`))));
  });
});
