/**
 * Crash safety on SQLite: a Busbar process publishes and consumes under load and is killed with
 * SIGKILL at random moments, then restarted, many times. Afterwards no acknowledged event is lost:
 * every one was handled by each subscription or, for the failing one, dead-lettered. Duplicates
 * (at-least-once redeliveries after a kill) are counted and reported.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const WORKER = fileURLToPath(new URL('./fixtures/crash-worker.mjs', import.meta.url));
const KILLS = 20;
const dir = mkdtempSync(join(tmpdir(), 'busbar-crash-'));
const db = join(dir, 'bus.db');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lines(file: string): string[] {
  const path = join(dir, file);
  if (!existsSync(path)) return [];
  // A kill can cut the last line short; complete lines end with a newline.
  const text = readFileSync(path, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l !== '');
}

function startWorker(run: number, mode: 'load' | 'drain') {
  const child = spawn(process.execPath, [WORKER, db, dir, String(run), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it(`loses no acknowledged event across ${KILLS} SIGKILLs`, async () => {
  for (let run = 0; run < KILLS; run++) {
    const worker = startWorker(run, 'load');
    await sleep(300 + Math.random() * 700);
    worker.child.kill('SIGKILL');
    const code = await worker.exited;
    expect(code, worker.output().stderr).toBeNull();
  }
  const drain = startWorker(KILLS, 'drain');
  const code = await drain.exited;
  const { stdout, stderr } = drain.output();
  expect(code, stderr).toBe(0);
  const { dead } = JSON.parse(stdout) as { dead: string[] };

  const acked = new Set(lines('acked.log'));
  const ok = lines('ok.log');
  const flaky = lines('flaky.log');
  const okSet = new Set(ok);
  const settled = new Set([...flaky, ...dead]);
  const lostOk = [...acked].filter((id) => !okSet.has(id));
  const lostFlaky = [...acked].filter((id) => !settled.has(id));
  const duplicates = ok.length - okSet.size + (flaky.length - new Set(flaky).size);
  console.log(
    `crash test: ${KILLS} kills, ${acked.size} acknowledged events, ok handled ${okSet.size} (${ok.length - okSet.size} duplicates), ` +
      `flaky handled ${new Set(flaky).size} + ${dead.length} dead letters (${flaky.length - new Set(flaky).size} duplicates), ` +
      `lost: ${lostOk.length + lostFlaky.length}, total duplicates ${duplicates}`,
  );
  expect(acked.size).toBeGreaterThan(500);
  expect(lostOk).toEqual([]);
  expect(lostFlaky).toEqual([]);
}, 120_000);
