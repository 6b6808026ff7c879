/**
 * The built `busbar` binary as tests run it: commands run to completion, real `busbar start` processes
 * for the crash and multi-node tests, and the HTTP load they put on them:
 * producers that remember which events the server acknowledged, and pull consumers that remember
 * what they received.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built `busbar` binary (`npm test` builds it first). */
export const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** How a `busbar` command ended. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `busbar <args>` to completion with `stdin` as its input and `env` over this process's. */
export function runBusbar(
  args: readonly string[],
  options: { readonly stdin?: string; readonly env?: Record<string, string> } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

export interface BusbarProcess {
  readonly child: ChildProcess;
  /** The server's base URL, once it listens. */
  readonly url: Promise<string>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<unknown>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

/** Starts `busbar start --port 0 --storage <storage>` with no API keys. */
export function startBusbar(storage: string, env: Record<string, string> = {}): BusbarProcess {
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--storage', storage], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BUSBAR_API_KEYS: '', ...env },
  });
  let out = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`server exited early (${String(code)}): ${out}`)));
  });
  url.catch(() => undefined);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { child, url, exited, output: () => out };
}

/** Sends JSON and answers `[status, parsed body]`. */
export async function json(
  url: string,
  method: string,
  body?: unknown,
  type = 'application/json',
): Promise<[number, unknown]> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': type },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return [res.status, text === '' ? undefined : (JSON.parse(text) as unknown)];
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a load run saw. */
export interface LoadTally {
  /** Ids of events the server answered 200 for. */
  readonly acked: Set<string>;
  /** Ids received by pull consumers, with repeats. */
  readonly received: string[];
  /** Publish calls answered with each non-200 status, or `error` (no answer). */
  readonly failures: Map<string, number>;
}

export function newTally(): LoadTally {
  return { acked: new Set(), received: [], failures: new Map() };
}

function fail(tally: LoadTally, what: string): void {
  tally.failures.set(what, (tally.failures.get(what) ?? 0) + 1);
}

let nextId = 0;

/**
 * Publishes batches of 1–10 `tick` events to `bus` through whichever server `target()` names (null:
 * none up, wait) until `running()` is false. Only a 200 counts as acknowledged.
 */
export async function produce(
  tally: LoadTally,
  bus: string,
  target: () => string | null,
  running: () => boolean,
  prefix = 'e',
): Promise<void> {
  while (running()) {
    const url = target();
    if (url === null) {
      await sleep(20);
      continue;
    }
    const batch = Array.from({ length: 1 + (nextId % 10) }, () => ({
      specversion: '1.0',
      source: '/load',
      id: `${prefix}-${nextId++}`,
      type: 'tick',
    }));
    try {
      const [status] = await json(`${url}/v1/buses/${bus}/events`, 'POST', batch, 'application/cloudevents-batch+json');
      if (status === 200) for (const e of batch) tally.acked.add(e.id);
      else {
        fail(tally, String(status));
        await sleep(20);
      }
    } catch {
      fail(tally, 'error');
      await sleep(20);
    }
  }
}

/**
 * Pulls and acks `subscription` through whichever server `target()` names until `running()` is false;
 * then, when `drain`, goes on until `idleRounds` long-polls in a row came back empty.
 */
export async function consume(
  tally: LoadTally,
  subscription: string,
  target: () => string | null,
  running: () => boolean,
  options: { leaseMs?: number; idleRounds?: number } = {},
): Promise<void> {
  let idle = 0;
  const idleRounds = options.idleRounds ?? 8;
  while (running() || idle < idleRounds) {
    const url = target();
    if (url === null) {
      await sleep(20);
      continue;
    }
    try {
      const [status, body] = await json(`${url}/v1/subscriptions/${subscription}/pull`, 'POST', {
        max: 100,
        waitMs: 200,
        leaseMs: options.leaseMs ?? 1_000,
      });
      if (status !== 200) {
        await sleep(50);
        continue;
      }
      const { messages } = body as { messages: Array<{ receipt: string; event: { id: string } }> };
      for (const m of messages) tally.received.push(m.event.id);
      if (messages.length > 0) {
        await json(`${url}/v1/subscriptions/${subscription}/ack`, 'POST', { receipts: messages.map((m) => m.receipt) });
      }
      idle = messages.length === 0 && !running() ? idle + 1 : 0;
    } catch {
      await sleep(50);
    }
  }
}

/** Acknowledged ids never received, and how many receipts were repeats. */
export function verdict(tally: LoadTally): { lost: string[]; duplicates: number; unique: number } {
  const got = new Set(tally.received);
  return {
    lost: [...tally.acked].filter((id) => !got.has(id)),
    duplicates: tally.received.length - got.size,
    unique: got.size,
  };
}
