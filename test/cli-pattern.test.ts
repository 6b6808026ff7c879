/**
 * The built `busbar` binary, run as a subprocess: `pattern test` and `pattern check`.
 * `npm test` builds first; after changing src/, run `npm run build` before `npx vitest`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, runBusbar, type Run } from './support/process.js';
import { BusError } from '../src/core/errors.js';
import { validatePattern } from '../src/patterns/index.js';

function busbar(args: readonly string[], stdin = ''): Promise<Run> {
  return runBusbar(args, { stdin });
}

/** The message `validatePattern` throws for `pattern`: the CLI must print exactly this. */
function patternError(pattern: string): string {
  try {
    validatePattern(pattern);
  } catch (err) {
    if (err instanceof BusError) return err.message;
    throw err;
  }
  throw new Error(`expected ${pattern} to be an invalid pattern`);
}

const line = (pattern: string, event: string): string => JSON.stringify({ pattern, event });

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first (npm test does).`);
});

describe('busbar pattern test', () => {
  it('prints true for a match and exits 0', async () => {
    const run = await busbar([
      'pattern',
      'test',
      '--pattern',
      '{"source":["aws.ec2"]}',
      '--event',
      '{"source":"aws.ec2"}',
    ]);
    expect(run).toEqual({ code: 0, stdout: 'true\n', stderr: '' });
  });

  it('prints false for no match and exits 0', async () => {
    const run = await busbar([
      'pattern',
      'test',
      '--pattern',
      '{"source":["aws.ec2"]}',
      '--event',
      '{"source":"aws.s3"}',
    ]);
    expect(run).toEqual({ code: 0, stdout: 'false\n', stderr: '' });
  });

  it('passes number spellings through as written', async () => {
    const run = await busbar(['pattern', 'test', '--pattern', '{"n":[300]}', '--event', '{"n":3.0e2}']);
    expect(run).toEqual({ code: 0, stdout: 'true\n', stderr: '' });
  });

  it('reports an invalid pattern on stderr in one line and exits 2', async () => {
    const pattern = '{"source":"aws.ec2"}';
    const run = await busbar(['pattern', 'test', '--pattern', pattern, '--event', '{"source":"aws.ec2"}']);
    expect(run).toEqual({ code: 2, stdout: '', stderr: `${patternError(pattern)}\n` });
  });

  it('reports an event that is not JSON and exits 2', async () => {
    const run = await busbar(['pattern', 'test', '--pattern', '{"source":["a"]}', '--event', '{"source":']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^[^\n]*JSON[^\n]*\n$/);
  });

  it('adds the stack trace with --debug', async () => {
    const run = await busbar(['pattern', 'test', '--pattern', '{"source":"x"}', '--event', '{}', '--debug']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(patternError('{"source":"x"}'));
    expect(run.stderr).toMatch(/\n\s+at /);
  });

  it('exits 2 with a usage hint when an option is missing', async () => {
    const run = await busbar(['pattern', 'test', '--pattern', '{"a":[1]}']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: required option '--event <json>' not specified");
  });
});

describe('busbar pattern check', () => {
  it('answers every line in order, skips blank lines and keeps going past bad lines', async () => {
    const input = [
      line('{"source":["aws.ec2"]}', '{"source":"aws.ec2"}'),
      '',
      'not json',
      line('{"source":"aws.ec2"}', '{"source":"aws.ec2"}'),
      '   ',
      '[1, 2]',
      JSON.stringify({ pattern: { source: ['x'] }, event: '{}' }),
      JSON.stringify({ pattern: '{"source":["x"]}' }),
      line('{"source":["x"]}', '{"source":'),
      line('{"n":[300]}', '{"n":3.0e2}'),
      line('{"source":["aws.ec2"]}', '{"source":"aws.s3"}'),
    ].join('\n');
    const run = await busbar(['pattern', 'check'], `${input}\n`);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const out = run.stdout.split('\n');
    expect(out.pop()).toBe('');
    const results = out.map((text) => JSON.parse(text) as { match?: boolean; error?: string });
    expect(results).toHaveLength(9);
    expect(results[0]).toEqual({ match: true });
    expect(results[1]?.error).toMatch(/^Expected the line to be JSON, got invalid JSON: /);
    expect(results[2]).toEqual({ error: patternError('{"source":"aws.ec2"}') });
    expect(results[3]).toEqual({
      error: 'Expected the line to be a JSON object with "pattern" and "event", got an array',
    });
    expect(results[4]).toEqual({ error: 'Expected `pattern` to be a string holding JSON text, got an object' });
    expect(results[5]).toEqual({ error: 'Expected `event` to be a string holding JSON text, got undefined' });
    expect(results[6]?.error).toMatch(/JSON/);
    expect(results[7]).toEqual({ match: true });
    expect(results[8]).toEqual({ match: false });
  });

  it('writes nothing for empty input and exits 0', async () => {
    expect(await busbar(['pattern', 'check'], '')).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('accepts CRLF line ends and a last line without a newline', async () => {
    const input = `${line('{"a":[1]}', '{"a":1}')}\r\n${line('{"a":[1]}', '{"a":2}')}`;
    const run = await busbar(['pattern', 'check'], input);
    expect(run).toEqual({ code: 0, stdout: '{"match":true}\n{"match":false}\n', stderr: '' });
  });

  it('answers each line as it arrives when the driver waits for the answer (no buffering deadlock)', async () => {
    const child = spawn(process.execPath, [BIN, 'pattern', 'check'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8');
    const answers: string[] = [];
    let buffered = '';
    const next = (): Promise<string> =>
      new Promise((resolve) => {
        const take = (): void => {
          const at = buffered.indexOf('\n');
          if (at < 0) return void child.stdout.once('data', (chunk: string) => ((buffered += chunk), take()));
          const answer = buffered.slice(0, at);
          buffered = buffered.slice(at + 1);
          resolve(answer);
        };
        take();
      });
    child.stdin.write(`${line('{"a":["x"]}', '{"a":"x"}')}\n`);
    answers.push(await next());
    child.stdin.write(`${line('{"a":["x"]}', '{"a":"y"}')}\n`);
    answers.push(await next());
    child.stdin.end();
    await new Promise((resolve) => child.on('close', resolve));
    expect(answers).toEqual(['{"match":true}', '{"match":false}']);
  });

  it('streams large inputs, one answer per line in order', async () => {
    const count = 20_000;
    const lines: string[] = [];
    for (let i = 0; i < count; i++) {
      lines.push(i % 1000 === 500 ? 'oops' : line(`{"i":[${i}]}`, `{"i":${i % 3 === 0 ? i : i + 1}}`));
    }
    const run = await busbar(['pattern', 'check'], `${lines.join('\n')}\n`);
    expect(run.code).toBe(0);
    const out = run.stdout.trimEnd().split('\n');
    expect(out).toHaveLength(count);
    out.forEach((text, i) => {
      const expected = i % 1000 === 500 ? 'error' : i % 3 === 0 ? '{"match":true}' : '{"match":false}';
      if (expected === 'error') expect(text).toMatch(/^\{"error":/);
      else expect(text).toBe(expected);
    });
  });
});

describe('busbar', () => {
  it('prints the package version with --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(await busbar(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('lists commands and options in --help', async () => {
    const top = await busbar(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('pattern');
    expect(top.stdout).toContain('--debug');
    const test = await busbar(['pattern', 'test', '--help']);
    expect(test.stdout).toContain('--pattern <json>');
    expect(test.stdout).toContain('--event <json>');
    const check = await busbar(['pattern', 'check', '--help']);
    expect(check.stdout).toContain('Usage: busbar pattern check');
  });
});
