/** Dead letters of a subscription: browse, inspect, redrive (with a dry-run count), delete, purge. */
import type { FastifyInstance } from 'fastify';
import { BusError, describeValue } from '../../core/errors.js';
import type { RedriveSelection } from '../../core/engine/dead-letters.js';
import { cursor, defined, limit, subscriptionParams, timeMs, type RouteOptions } from '../schemas.js';

interface ListQuery {
  limit?: number;
  cursor?: string;
  from?: number;
  to?: number;
}

interface OneRoute {
  Params: { name: string; id: number };
}

const oneParams = {
  type: 'object',
  required: ['name', 'id'],
  properties: { name: subscriptionParams.properties.name, id: { type: 'integer', minimum: 1 } },
} as const;

const REDRIVE_FIELDS = ['ids', 'pattern', 'from', 'to', 'dryRun'];

export function deadLetterRoutes(app: FastifyInstance, { bus }: RouteOptions): void {
  app.get<{ Params: { name: string }; Querystring: ListQuery }>(
    '/v1/subscriptions/:name/dead-letters',
    {
      schema: {
        params: subscriptionParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit, cursor, from: timeMs, to: timeMs },
        },
      },
    },
    (request) => bus.deadLetters.list(request.params.name, defined({ ...request.query })),
  );

  app.get<OneRoute>('/v1/subscriptions/:name/dead-letters/:id', { schema: { params: oneParams } }, (request) =>
    bus.deadLetters.get(request.params.name, request.params.id),
  );

  app.post<{ Params: { name: string }; Body: RedriveSelection | undefined }>(
    '/v1/subscriptions/:name/dead-letters/redrive',
    { schema: { params: subscriptionParams } },
    (request) => {
      const selection = request.body ?? {};
      if (typeof selection !== 'object' || selection === null || Array.isArray(selection)) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Expected the redrive body to be an object, got ${describeValue(selection)}`,
        );
      }
      const unknown = Object.keys(selection).find((k) => !REDRIVE_FIELDS.includes(k));
      if (unknown !== undefined) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Unexpected field \`${unknown}\` in the redrive body; expected ${REDRIVE_FIELDS.map((f) => `\`${f}\``).join(', ')}`,
        );
      }
      return bus.deadLetters.redrive(request.params.name, selection);
    },
  );

  app.delete<OneRoute>(
    '/v1/subscriptions/:name/dead-letters/:id',
    { schema: { params: oneParams } },
    async (request, reply) => {
      await bus.deadLetters.delete(request.params.name, request.params.id);
      return reply.status(204).send();
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/subscriptions/:name/dead-letters',
    { schema: { params: subscriptionParams } },
    async (request) => ({ deleted: await bus.deadLetters.purge(request.params.name) }),
  );
}
