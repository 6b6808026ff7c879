/**
 * The error paths of the built `busbar` binary's client commands, run as subprocesses: a server that
 * is down, 401 and 403 with API keys, 404 and other 4xx answers with their codes, a server that is not
 * Busbar, invalid input (exit 2, nothing sent), and `--help` and shell completion.
 * `npm test` builds first; after changing src/, run `npm run build` before `npx vitest`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN, runBusbar, type Run } from './support/process.js';
import { event, harness, type Harness } from './support/server.js';

// Each test starts the binary several times, about half a second each on a busy machine.
vi.setConfig({ testTimeout: 60_000 });
const ADMIN_KEY = 'admin-key-0123456789';
const PUBLISH_KEY = 'publish-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'busbar-cli-errors-'));

let h: Harness;
let url: string;

function busbar(args: readonly string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return runBusbar(args, { ...options, env: { BUSBAR_URL: url, BUSBAR_API_KEY: ADMIN_KEY, ...options.env } });
}

/** Listens on a free port of 127.0.0.1 and returns its URL. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A URL where nothing listens: a port that was just free. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  const address = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return address;
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first (npm test does).`);
  h = await harness('memory', {
    server: {
      apiKeys: [
        { key: ADMIN_KEY, scopes: ['admin'] },
        { key: PUBLISH_KEY, scopes: ['publish:orders'] },
      ],
    },
  });
  await h.bus.putBus('orders');
  await h.bus.putSubscription('inventory', { bus: 'orders', pattern: { source: ['/dead'] }, target: { type: 'pull' } });
  url = await h.app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a server that cannot be reached', () => {
  it('fails fast with one line naming the URL, exit 1, no stack trace', async () => {
    const down = await deadUrl();
    const started = Date.now();
    const run = await busbar(['subs', 'ls', '--url', down]);
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `busbar: cannot reach ${down} (connection refused) — is \`busbar start\` running?\n`,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    // BUSBAR_URL works the same; --url wins over it.
    const fromEnv = await busbar(['buses', 'ls'], { env: { BUSBAR_URL: down } });
    expect(fromEnv.stderr).toBe(`busbar: cannot reach ${down} (connection refused) — is \`busbar start\` running?\n`);
    expect((await busbar(['buses', 'ls', '--url', url], { env: { BUSBAR_URL: down } })).code).toBe(0);
  });

  it('prints the stack trace and its cause with --debug', async () => {
    const down = await deadUrl();
    const run = await busbar(['events', 'ls', 'orders', '--url', down, '--debug']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`busbar: cannot reach ${down} (connection refused)`);
    expect(run.stderr).toMatch(/\n\s+at /);
    expect(run.stderr).toContain('ECONNREFUSED');
  });

  it('rejects a URL that is not http(s) with exit 2', async () => {
    const run = await busbar(['buses', 'ls', '--url', 'ftp://example.com']);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: 'Expected --url to be an http or https URL without a query, got "ftp://example.com" (string)\n',
    });
  });
});

describe('API keys', () => {
  it('answers 401 without a key or with a wrong one, saying how to set one', async () => {
    expect(await busbar(['subs', 'ls'], { env: { BUSBAR_API_KEY: '' } })).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'busbar: 401 UNAUTHORIZED: Expected an API key as `Authorization: Bearer <key>`, got none ' +
        '(set --api-key or BUSBAR_API_KEY)\n',
    });
    expect(await busbar(['subs', 'ls', '--api-key', 'wrong-key-0123456789'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'busbar: 401 UNAUTHORIZED: The API key is not valid (set --api-key or BUSBAR_API_KEY)\n',
    });
  });

  it('answers 403 for a key without the scope, and works within it', async () => {
    const env = { BUSBAR_API_KEY: PUBLISH_KEY };
    expect(await busbar(['subs', 'ls'], { env })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'busbar: 403 FORBIDDEN: The API key lacks the scope "admin" (use an API key with that scope)\n',
    });
    const published = await busbar(['publish', 'orders', '--type', 't', '--id', 'k-1'], { env });
    expect(published).toEqual({ code: 0, stdout: 'accepted k-1\n', stderr: '' });
    // --api-key wins over BUSBAR_API_KEY.
    expect((await busbar(['subs', 'ls', '--api-key', ADMIN_KEY], { env })).code).toBe(0);
  });
});

describe('a stream that ends', () => {
  it('fails tail with exit 1 when the server stops', async () => {
    const other = await harness('memory');
    await other.bus.putBus('orders');
    let stream: ServerResponse | undefined;
    other.app.addHook('onRequest', (request, reply, done) => {
      if (request.url.startsWith('/v1/buses/orders/tail')) stream = reply.raw;
      done();
    });
    const otherUrl = await other.app.listen({ port: 0, host: '127.0.0.1' });
    const run = busbar(['tail', 'orders', '--url', otherUrl]);
    // The route subscribes to the bus before it sends its headers, in one synchronous step.
    for (let waited = 0; stream?.headersSent !== true; waited += 10) {
      if (waited > 10_000) throw new Error('busbar tail did not connect');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await other.close();
    expect(await run).toEqual({
      code: 1,
      stdout: '',
      stderr: `busbar: ${otherUrl} ended the stream of orders (did the server stop?)\n`,
    });
  });
});

describe('4xx answers', () => {
  it('prints 404 with its code and message, exit 1', async () => {
    expect(await busbar(['subs', 'get', 'nope'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'busbar: 404 NOT_FOUND: No subscription named "nope" (string)\n',
    });
    expect(await busbar(['dlq', 'ls', 'nope', '--json'])).toMatchObject({ code: 1, stdout: '' });
    expect((await busbar(['events', 'get', 'orders', 'no-such-id'])).stderr).toBe(
      'busbar: 404 NOT_FOUND: No event with id "no-such-id" (string) in the archive of bus "orders"\n',
    );
    expect((await busbar(['replay', 'start', '--bus', 'nobus', '--from', '1h'])).stderr).toBe(
      'busbar: 404 NOT_FOUND: No bus named "nobus" (string)\n',
    );
  });

  it('prints a 400 from the server with the field it names', async () => {
    const run = await busbar([
      'subs',
      'put',
      'bad',
      '--bus',
      'orders',
      '--pattern',
      '{"type":["x"]}',
      '--concurrency',
      '5000',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^busbar: 400 INVALID_ARGUMENT: Expected `delivery\.concurrency` to be .*5000.*\n$/);
    expect(h.bus.listSubscriptions().map((s) => s.name)).not.toContain('bad');
  });

  it('reports a rejected stdin batch with the line of the bad event; nothing of it is stored', async () => {
    await h.bus.putBus('rejected');
    const stdin = ['{"type":"a","id":"1"}', '{"id":"2","data":{}}', '{"type":"c","id":"3"}'].join('\n');
    const run = await busbar(['publish', 'rejected'], { stdin });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^busbar: 400 INVALID_EVENT: Event 2 of 2 \(index 1\): Expected `type` .* \(line 2 of stdin; its batch was rejected whole; 0 events published before it\)\n$/,
    );
    expect((await h.bus.queryArchive('rejected', {})).events).toEqual([]);
  });
});

describe('a server that is not Busbar', () => {
  let other: Server;
  let otherUrl: string;
  beforeAll(async () => {
    other = createServer((req, res) => {
      if (req.url === '/v1/buses')
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>');
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'INTERNAL', message: 'An unexpected error occurred' } }));
    });
    otherUrl = await listen(other);
  });
  afterAll(() => new Promise((resolve) => other.close(resolve)));

  it('says so for an answer that is not the API, and prints a 5xx with its code', async () => {
    const html = await busbar(['buses', 'ls', '--url', otherUrl]);
    expect(html.code).toBe(1);
    expect(html.stderr).toBe(
      `busbar: ${otherUrl} answered with something that is not the Busbar API (INVALID_RESPONSE): ` +
        'GET /v1/buses answered 200 with invalid JSON — check --url\n',
    );
    expect(await busbar(['subs', 'ls', '--url', otherUrl])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'busbar: 500 INTERNAL: An unexpected error occurred\n',
    });
  });
});

describe('invalid input: exit 2, nothing sent', () => {
  it('rejects --data that is not JSON, publishing nothing', async () => {
    await h.bus.putBus('invalid-data');
    const run = await busbar(['publish', 'invalid-data', '--type', 't', '--data', '{"total": 30']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^Expected --data to be JSON, got invalid JSON: [^\n]+\n$/);
    expect((await busbar(['publish', 'invalid-data', '--data', '{}'])).stderr).toBe(
      'Expected --type with --data or --id, got no --type\n',
    );
    expect((await h.bus.queryArchive('invalid-data', {})).events).toEqual([]);
  });

  it('stops at a stdin line that is not JSON, saying how many events were published before it', async () => {
    await h.bus.putBus('invalid-line');
    const lines = Array.from({ length: 150 }, (_, i) => JSON.stringify({ type: 't', id: `l-${i}` }));
    lines.push('not json', JSON.stringify({ type: 't', id: 'after' }));
    const run = await busbar(['publish', 'invalid-line'], { stdin: lines.join('\n') });
    expect(run.code).toBe(2);
    const m =
      /^Expected line 151 of stdin to be JSON, got invalid JSON: .* \((\d+) events published before it\)\n$/.exec(
        run.stderr,
      );
    expect(m).not.toBeNull();
    const stored = (await h.bus.queryArchive('invalid-line', { limit: 1000 })).events;
    expect(stored).toHaveLength(Number(m![1]));
    expect(stored.length).toBeLessThan(151);
  });

  it('refuses dlq purge without --yes, deleting nothing', async () => {
    await h.bus.publish('orders', event('x', {}, { source: '/dead', id: 'dead-1' }));
    const [message] = await h.bus.pull.receive('inventory');
    await h.bus.pull.nack('inventory', [message!.receipt], { deadLetter: true });
    const run = await busbar(['dlq', 'purge', 'inventory']);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'Refusing to delete every dead letter of "inventory" without --yes (see them first: busbar dlq ls inventory)\n',
    });
    expect(await h.bus.deadLetters.count('inventory')).toBe(1);
  });

  it('checks patterns, times and numbers before sending anything', async () => {
    const down = await deadUrl();
    const cases: Array<[string[], RegExp]> = [
      [['tail', 'orders', '--pattern', '{"type":"x"}'], /^.*type.*\n$/],
      [
        ['subs', 'put', 's', '--bus', 'orders', '--pattern', '[1]'],
        /^Expected --pattern to be a JSON object, got an array\n$/,
      ],
      [['subs', 'put', 's', '--pattern', '{"a":[1]}'], /^Expected --bus \(or `bus` in --file\), got undefined\n$/],
      [['subs', 'put', 's', '--bus', 'b', '--pattern', '{"a":[1]}', '--target', 'ftp://x'], /--target/],
      [['subs', 'put', 's', '--bus', 'b', '--pattern', '{"a":[1]}', '--secret', 'whsec_x'], /--secret/],
      [['replay', 'start', '--bus', 'orders', '--from', 'yesterday'], /^Expected --from to be an ISO 8601 time/],
      [['dlq', 'redrive', 'inventory', '--ids', '1,two'], /^Expected --ids to be a comma-separated list/],
      [['dlq', 'ls', 'inventory', '--limit', '0'], /^Expected --limit to be an integer from 1 to 1000/],
      [['buses', 'put', 'b', '--max-age', 'forever'], /^Expected --max-age to be a duration/],
      [['completion', 'fish'], /^Expected <shell> to be bash or zsh, got "fish"\n$/],
    ];
    for (const [args, stderr] of cases) {
      const run = await busbar([...args, '--url', down]);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr).toMatch(stderr);
    }
  });

  it('exits 2 with a usage hint for a missing option or argument', async () => {
    const run = await busbar(['replay', 'start', '--from', '1h']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: required option '--bus <bus>' not specified");
    expect((await busbar(['subs', 'get'])).stderr).toContain("error: missing required argument 'name'");
  });
});

describe('help and completion', () => {
  it('lists the commands, the connection options and the exit codes', async () => {
    const top = await busbar(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['start', 'publish', 'tail', 'buses', 'subs', 'dlq', 'replay', 'events', 'pattern']) {
      expect(top.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(top.stdout).toContain('--url <url>');
    expect(top.stdout).toMatch(/env BUSBAR_URL; default:\s+"http:\/\/127\.0\.0\.1:4080"/);
    expect(top.stdout).toContain('BUSBAR_API_KEY');
    expect(top.stdout).toMatch(/Exit codes:\n {2}0 +success\n {2}1 .*\n {2}2 +invalid input/);
  });

  it("lists each subcommand's options with their defaults, and the global options", async () => {
    const put = await busbar(['subs', 'put', '--help']);
    expect(put.stdout).toContain('Usage: busbar subs put [options] <name>');
    expect(put.stdout).toMatch(/--max-attempts <n> +attempts before dead-lettering \(default:\s+8\)/);
    expect(put.stdout).toMatch(/Global Options:[\s\S]*--url <url>[\s\S]*--json/);
    expect((await busbar(['dlq', 'ls', '--help'])).stdout).toContain('(default: "50")');
    expect((await busbar(['publish', '--help'])).stdout).toContain('(default: "/cli")');
    expect((await busbar(['replay', 'start', '--help'])).stdout).toContain('--no-wait');
  });

  it('prints bash and zsh completion scripts that complete subcommands and options', async () => {
    const bash = await busbar(['completion', 'bash']);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -o default -F _busbar busbar');
    const zsh = await busbar(['completion', 'zsh']);
    expect(zsh.stdout.startsWith('#compdef busbar\n')).toBe(true);
    const script = join(dir, 'busbar.bash');
    writeFileSync(script, bash.stdout);
    const complete = (words: string[]): string =>
      execFileSync(
        'bash',
        [
          '-c',
          `source "$0"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; ` +
            '_busbar; echo "${COMPREPLY[*]}"',
          script,
        ],
        { encoding: 'utf8' },
      ).trim();
    expect(complete(['busbar', 'su'])).toBe('subs');
    expect(complete(['busbar', 'subs', 'p'])).toBe('put pause');
    expect(complete(['busbar', 'dlq', 'redrive', 'inventory', '--d'])).toBe('--dry-run --debug');
    expect(complete(['busbar', '--json', 'replay', 'start', '--no'])).toBe('--no-wait');
  });
});
