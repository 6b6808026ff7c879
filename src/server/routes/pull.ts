/**
 * Pull consumers over HTTP: long-poll for messages, then ack, nack or extend them by receipt. When any
 * receipt is stale or invalid the answer is 409 `STALE_RECEIPT` with every receipt's result (the
 * others were settled), so a consumer never mistakes a lost lease for a success.
 */
import type { FastifyInstance } from 'fastify';
import { BusError, describeValue } from '../../core/errors.js';
import type { NackOptions, ReceiptResult, ReceiveOptions } from '../../core/engine/pull.js';
import { defined, subscriptionParams, type RouteOptions } from '../schemas.js';

interface Route<B> {
  Params: { name: string };
  Body: B | undefined;
}

function body<T extends object>(value: T | undefined, what: string): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BusError('INVALID_ARGUMENT', `Expected the ${what} body to be an object, got ${describeValue(value)}`);
  }
  return value;
}

function check(fields: readonly string[], value: object, what: string): void {
  const unknown = Object.keys(value).find((k) => !fields.includes(k));
  if (unknown !== undefined) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Unexpected field \`${unknown}\` in the ${what} body; expected ${fields.map((f) => `\`${f}\``).join(', ')}`,
    );
  }
}

/** The response of ack / nack / extend: 200 when every receipt was ok, else 409 with the results. */
function settled(results: ReceiptResult[]): { results: ReceiptResult[] } {
  const bad = results.filter((r) => r.status !== 'ok');
  if (bad.length === 0) return { results };
  const settledCount = results.length - bad.length;
  throw new BusError(
    'STALE_RECEIPT',
    `${bad.length} of ${results.length} receipts are stale or invalid (${bad
      .slice(0, 3)
      .map((r) => `"${r.receipt}": ${r.status}`)
      .join(
        ', ',
      )}${bad.length > 3 ? ', …' : ''}); ${settledCount === 0 ? 'nothing was settled' : `the other ${settledCount} were settled`}`,
    { details: { results } },
  );
}

export function pullRoutes(app: FastifyInstance, { bus }: RouteOptions): void {
  const schema = { params: subscriptionParams };
  // Long-polls waiting right now: a closing server answers them at once (empty) instead of waiting.
  const polls = new Set<AbortController>();
  app.addHook('preClose', (done) => {
    for (const poll of polls) poll.abort();
    done();
  });

  app.post<Route<ReceiveOptions>>('/v1/subscriptions/:name/pull', { schema }, async (request, reply) => {
    const options = body(request.body, 'pull');
    check(['max', 'waitMs', 'leaseMs'], options, 'pull');
    // A client that disconnects during a long-poll stops the wait, so nothing is leased for nobody.
    const poll = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableEnded) poll.abort();
    });
    polls.add(poll);
    try {
      const messages = await bus.pull.receive(request.params.name, { ...options, signal: poll.signal });
      return { messages };
    } finally {
      polls.delete(poll);
    }
  });

  app.post<Route<{ receipts: unknown }>>('/v1/subscriptions/:name/ack', { schema }, async (request) => {
    const input = body(request.body, 'ack');
    check(['receipts'], input, 'ack');
    return settled(await bus.pull.ack(request.params.name, input.receipts));
  });

  app.post<Route<NackOptions & { receipts: unknown }>>('/v1/subscriptions/:name/nack', { schema }, async (request) => {
    const input = body(request.body, 'nack');
    check(['receipts', 'delayMs', 'error', 'deadLetter'], input, 'nack');
    const { receipts, ...options } = input;
    return settled(await bus.pull.nack(request.params.name, receipts, defined(options)));
  });

  app.post<Route<{ receipts: unknown; leaseMs?: unknown }>>(
    '/v1/subscriptions/:name/extend',
    { schema },
    async (request) => {
      const input = body(request.body, 'extend');
      check(['receipts', 'leaseMs'], input, 'extend');
      return settled(await bus.pull.extend(request.params.name, input.receipts, input.leaseMs));
    },
  );
}
