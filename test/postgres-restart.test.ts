/**
 * PostgreSQL restarting under load: two `busbar start` nodes on a PostgreSQL server of this test's own,
 * producers and pull consumers on both; the server is stopped (`immediate`: a crash, recovered from its
 * WAL at start) and started again. While it is down, publishes answer 503 and /readyz says not ready;
 * afterwards, delivery resumes by itself, no acknowledged event is lost, and nothing stays stuck.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privatePostgres, privatePostgresUnavailable, type PrivatePostgres } from './support/private-postgres.js';
import { consume, json, newTally, produce, sleep, startBusbar, verdict } from './support/process.js';

const unavailable = privatePostgresUnavailable();
if (unavailable !== null && process.env['CI'] === 'true') {
  throw new Error(`cannot run the PostgreSQL restart test in CI: ${unavailable}`);
}

describe.skipIf(unavailable !== null)('PostgreSQL restarting under load', () => {
  let server: PrivatePostgres;

  beforeAll(async () => {
    server = await privatePostgres();
  }, 60_000);

  afterAll(async () => {
    await server.destroy();
  });

  it('answers 503 while it is down and loses nothing acknowledged', async () => {
    const storage = `${server.url}?schema=restart`;
    const nodes = [startBusbar(storage), startBusbar(storage)];
    const urls = await Promise.all(nodes.map((n) => n.url));
    expect((await json(`${urls[0]!}/v1/buses/restart`, 'PUT', {}))[0]).toBe(200);
    expect(
      (await json(`${urls[0]!}/v1/subscriptions/sink`, 'PUT', { bus: 'restart', pattern: { type: ['tick'] } }))[0],
    ).toBe(200);
    for (let i = 0; i < 100; i++) {
      const [, body] = await json(`${urls[1]!}/v1/subscriptions`, 'GET');
      if ((body as { subscriptions: unknown[] }).subscriptions.length === 1) break;
      await sleep(20);
    }

    const tally = newTally();
    let producing = true;
    const on = (i: number) => () => urls[i]!;
    const producers = [0, 1].map((i) => produce(tally, 'restart', on(i), () => producing, `r${i}`));
    const consumers = [0, 1].map((i) => consume(tally, 'sink', on(i), () => producing));

    await sleep(1_000);
    await server.stop('immediate');
    const ackedBefore = tally.acked.size;
    await sleep(500);
    const [readyDown] = await json(`${urls[0]!}/readyz`, 'GET');
    await sleep(1_000);
    const ackedWhileDown = tally.acked.size - ackedBefore;
    await server.start();
    const restartedAt = tally.acked.size;
    await sleep(2_000);
    const ackedAfter = tally.acked.size - restartedAt;
    producing = false;
    await Promise.all(producers);
    await Promise.all(consumers);
    const [readyUp] = await json(`${urls[0]!}/readyz`, 'GET');
    const [, stats] = await json(`${urls[0]!}/v1/subscriptions/sink`, 'GET');

    for (const node of nodes) node.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));

    const { lost, duplicates, unique } = verdict(tally);
    console.log(
      `postgres restart test: ${tally.acked.size} acknowledged events (${ackedBefore} before the stop, ` +
        `${ackedAfter} in 2 s after the start), ${unique} received, ${duplicates} duplicates, ${lost.length} lost; ` +
        `publish failures: ${JSON.stringify(Object.fromEntries(tally.failures))}`,
    );
    expect(readyDown).toBe(503);
    expect(readyUp).toBe(200);
    // A stop may land while a commit is on its way; only what was answered 200 before it counts.
    expect(ackedWhileDown).toBeLessThanOrEqual(10);
    expect(tally.failures.get('503') ?? 0).toBeGreaterThan(0);
    expect(ackedAfter).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    expect((stats as { stats: unknown }).stats).toMatchObject({ backlog: 0, inFlight: 0 });
  }, 90_000);
});
