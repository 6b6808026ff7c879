/**
 * Scale-out on PostgreSQL: three `busbar start` processes on one database schema, producers and pull
 * consumers spread across them, a webhook subscription that every node delivers; one node is killed
 * with SIGKILL mid-load and started again. Afterwards: no acknowledged event is lost, every event
 * reached the pull consumers, and every event was delivered to the webhook or dead-lettered there.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, freshSchema, postgresUnavailable, testUrl } from '../src/storage/postgres/testing.js';
import {
  consume,
  json,
  newTally,
  produce,
  sleep,
  startBusbar,
  verdict,
  type BusbarProcess,
} from './support/process.js';

const unavailable = await postgresUnavailable();

describe.skipIf(unavailable !== null)('three nodes on one PostgreSQL', () => {
  const schema = freshSchema('busbar_nodes');
  let receiver: Server;
  let hookUrl: string;
  /** Webhook deliveries answered 2xx, by event id (with repeats counted). */
  const hooked = new Map<string, number>();

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const id = String(req.headers['ce-id']);
        // Every 50th event fails for good: it must end as a dead letter, not vanish.
        if (Number(id.split('-')[1]) % 50 === 0) {
          res.writeHead(500).end('declined');
          return;
        }
        hooked.set(id, (hooked.get(id) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });

  afterAll(async () => {
    await new Promise((resolve) => receiver.close(resolve));
    await dropSchema(schema);
  });

  it('loses no acknowledged event when a node is SIGKILLed mid-load and restarted', async () => {
    const storage = testUrl(schema);
    const nodes: Array<BusbarProcess | null> = [startBusbar(storage), startBusbar(storage), startBusbar(storage)];
    const urls: Array<string | null> = await Promise.all(nodes.map((n) => n!.url));
    const first = urls[0]!;
    expect((await json(`${first}/v1/buses/nodes`, 'PUT', {}))[0]).toBe(200);
    expect(
      (await json(`${first}/v1/subscriptions/sink`, 'PUT', { bus: 'nodes', pattern: { type: ['tick'] } }))[0],
    ).toBe(200);
    const [hookStatus, hookBody] = await json(`${first}/v1/subscriptions/hook`, 'PUT', {
      bus: 'nodes',
      pattern: { type: ['tick'] },
      target: { type: 'webhook', url: hookUrl, timeoutMs: 1_000 },
      delivery: { maxAttempts: 2, backoff: { initialMs: 50, maxMs: 200, multiplier: 2 }, timeoutMs: 1_000 },
    });
    expect(hookStatus, JSON.stringify(hookBody)).toBe(200);
    // Every node learns of the subscriptions (LISTEN/NOTIFY) before it takes publishes.
    for (const url of urls) {
      for (let i = 0; i < 100; i++) {
        const [, body] = await json(`${url!}/v1/subscriptions`, 'GET');
        if ((body as { subscriptions: unknown[] }).subscriptions.length === 2) break;
        await sleep(20);
      }
    }

    const tally = newTally();
    let producing = true;
    const on = (i: number) => () => urls[i] ?? null;
    const producers = [0, 1, 2].map((i) => produce(tally, 'nodes', on(i), () => producing, `n${i}`));
    const consumers = [0, 1, 2].map((i) => consume(tally, 'sink', on(i), () => producing));

    await sleep(1_500);
    nodes[1]!.child.kill('SIGKILL');
    urls[1] = null;
    await nodes[1]!.exited;
    await sleep(1_500);
    nodes[1] = startBusbar(storage);
    urls[1] = await nodes[1].url;
    await sleep(1_500);
    producing = false;
    await Promise.all(producers);
    await Promise.all(consumers);

    // The webhook: every acknowledged event delivered (2xx) or dead-lettered, once the leases the
    // killed node held have run out (webhook lease: timeoutMs + 5 s).
    const dead = new Set<string>();
    const settled = () => [...tally.acked].every((id) => hooked.has(id) || dead.has(id));
    for (let i = 0; i < 300 && !settled(); i++) {
      await sleep(100);
      let cursor: string | undefined;
      do {
        const [, body] = await json(
          `${first}/v1/subscriptions/hook/dead-letters?limit=500${cursor === undefined ? '' : `&cursor=${cursor}`}`,
          'GET',
        );
        const page = body as { deadLetters: Array<{ event: { id: string } }>; cursor: string | null };
        for (const d of page.deadLetters) dead.add(d.event.id);
        cursor = page.cursor ?? undefined;
      } while (cursor !== undefined);
    }
    const [, hookStats] = await json(`${first}/v1/subscriptions/hook`, 'GET');

    for (const node of nodes) node?.child.kill('SIGTERM');
    await Promise.all(nodes.flatMap((node) => (node === null ? [] : [node.exited])));

    const { lost, duplicates, unique } = verdict(tally);
    const undelivered = [...tally.acked].filter((id) => !hooked.has(id) && !dead.has(id));
    const hookRepeats = [...hooked.values()].reduce((n, count) => n + count - 1, 0);
    console.log(
      `multi-node test: 3 nodes, 1 SIGKILLed and restarted; ${tally.acked.size} acknowledged events, ` +
        `pull: ${unique} received, ${duplicates} duplicates, ${lost.length} lost; webhook: ${hooked.size} delivered, ` +
        `${dead.size} dead-lettered, ${hookRepeats} duplicates, ${undelivered.length} neither; ` +
        `publish failures: ${JSON.stringify(Object.fromEntries(tally.failures))}`,
    );
    expect(tally.acked.size).toBeGreaterThan(300);
    expect(lost).toEqual([]);
    expect(undelivered, JSON.stringify(hookStats)).toEqual([]);
    expect([...dead].every((id) => Number(id.split('-')[1]) % 50 === 0)).toBe(true);
  }, 90_000);
});
