/**
 * Crash safety through the HTTP API: `busbar start` on a SQLite file is killed with SIGKILL again and
 * again while clients publish and pull; afterwards every publish the server acknowledged (a 200) has
 * been received by the pull consumer, and duplicates are counted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { json, sleep, startBusbar } from './support/process.js';

const KILLS = 10;
const dir = mkdtempSync(join(tmpdir(), 'busbar-http-crash-'));
const db = join(dir, 'bus.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Pulled {
  messages: Array<{ receipt: string; event: { id: string } }>;
}

it(`acknowledged publishes survive ${KILLS} SIGKILLs of the server`, async () => {
  const acked = new Set<string>();
  const received: string[] = [];
  let n = 0;
  for (let round = 0; round <= KILLS; round++) {
    const server = startBusbar(db);
    const url = await server.url;
    if (round === 0) {
      expect((await json(`${url}/v1/buses/crash`, 'PUT', {}))[0]).toBe(200);
      expect(
        (await json(`${url}/v1/subscriptions/sink`, 'PUT', { bus: 'crash', pattern: { type: ['tick'] } }))[0],
      ).toBe(200);
    }
    const last = round === KILLS;
    let running = true;
    const publisher = (async () => {
      while (running && !last) {
        const batch = Array.from({ length: 1 + (n % 10) }, () => ({
          specversion: '1.0',
          source: '/crash',
          id: `e-${n++}`,
          type: 'tick',
        }));
        try {
          const [status] = await json(
            `${url}/v1/buses/crash/events`,
            'POST',
            batch,
            'application/cloudevents-batch+json',
          );
          if (status === 200) for (const e of batch) acked.add(e.id);
        } catch {
          return; // the server died mid-request: not acknowledged
        }
      }
    })();
    const consumer = (async () => {
      let idle = 0;
      while (running || last) {
        try {
          const [, body] = await json(`${url}/v1/subscriptions/sink/pull`, 'POST', {
            max: 100,
            waitMs: 200,
            leaseMs: 1_000,
          });
          const { messages } = body as Pulled;
          for (const m of messages) received.push(m.event.id);
          if (messages.length > 0)
            await json(`${url}/v1/subscriptions/sink/ack`, 'POST', { receipts: messages.map((m) => m.receipt) });
          // The last round drains: done once several long-polls in a row (past every lease) came back empty.
          idle = messages.length === 0 ? idle + 1 : 0;
          if (last && idle >= 8) return;
        } catch {
          return;
        }
      }
    })();
    if (!last) {
      await sleep(300 + Math.random() * 500);
      server.child.kill('SIGKILL');
      running = false;
      await server.exited;
      await Promise.allSettled([publisher, consumer]);
    } else {
      await consumer;
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }
  const got = new Set(received);
  const lost = [...acked].filter((id) => !got.has(id));
  console.log(
    `http crash test: ${KILLS} kills, ${acked.size} acknowledged events, ${got.size} received, ` +
      `${received.length - got.size} duplicates, ${lost.length} lost`,
  );
  expect(acked.size).toBeGreaterThan(200);
  expect(lost).toEqual([]);
}, 120_000);
