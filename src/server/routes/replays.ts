/**
 * Replays: start one (`POST /v1/buses/{bus}/replays`, as issue 4 specifies, or `POST /v1/replays`
 * with `bus` in the body), list, get, cancel. A replay runs in the background: starting answers 202
 * with its record.
 */
import type { FastifyInstance } from 'fastify';
import { BusError, describeValue } from '../../core/errors.js';
import type { ReplayInput } from '../../core/engine/replays.js';
import { busParams, type RouteOptions } from '../schemas.js';

const FIELDS = ['bus', 'from', 'to', 'pattern', 'subscriptions', 'skipDelivered', 'ratePerSec'];

function replayInput(body: unknown, bus?: string): ReplayInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BusError('INVALID_ARGUMENT', `Expected the replay body to be an object, got ${describeValue(body)}`);
  }
  const input = body as Record<string, unknown>;
  const unknown = Object.keys(input).find((k) => !FIELDS.includes(k));
  if (unknown !== undefined) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `Unexpected field \`${unknown}\` in the replay body; expected ${FIELDS.map((f) => `\`${f}\``).join(', ')}`,
    );
  }
  if (bus !== undefined) {
    if (input['bus'] !== undefined && input['bus'] !== bus) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected \`bus\` in the body to be absent or "${bus}" (the bus in the path), got ${describeValue(input['bus'])}`,
      );
    }
    return { ...input, bus } as unknown as ReplayInput;
  }
  if (typeof input['bus'] !== 'string') {
    throw new BusError('INVALID_ARGUMENT', `Expected \`bus\` in the replay body, got ${describeValue(input['bus'])}`);
  }
  return input as unknown as ReplayInput;
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

export function replayRoutes(app: FastifyInstance, { bus }: RouteOptions): void {
  app.post<{ Params: { bus: string }; Body: unknown }>(
    '/v1/buses/:bus/replays',
    { schema: { params: busParams } },
    async (request, reply) =>
      reply.status(202).send(await bus.replays.start(replayInput(request.body, request.params.bus))),
  );

  app.post<{ Body: unknown }>('/v1/replays', async (request, reply) =>
    reply.status(202).send(await bus.replays.start(replayInput(request.body))),
  );

  app.get<{ Querystring: { bus?: string } }>(
    '/v1/replays',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { bus: { type: 'string', minLength: 1 } },
        },
      },
    },
    async (request) => {
      if (request.query.bus !== undefined) bus.getBus(request.query.bus);
      return { replays: await bus.replays.list(request.query.bus) };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/replays/:id', { schema: { params: idParams } }, (request) =>
    bus.replays.get(request.params.id),
  );

  app.post<{ Params: { id: string } }>('/v1/replays/:id/cancel', { schema: { params: idParams } }, (request) =>
    bus.replays.cancel(request.params.id),
  );
}
