/** Subscriptions: create or update, list, get (with delivery counts), delete, pause and resume. */
import type { FastifyInstance } from 'fastify';
import { BusError, describeValue } from '../../core/errors.js';
import type { SubscriptionInput } from '../../core/engine/engine.js';
import { subscriptionParams, type RouteOptions } from '../schemas.js';

interface SubscriptionRoute {
  Params: { name: string };
}

const FIELDS = new Set(['bus', 'pattern', 'target', 'delivery']);

export function subscriptionRoutes(app: FastifyInstance, { bus }: RouteOptions): void {
  app.put<SubscriptionRoute & { Body: unknown }>(
    '/v1/subscriptions/:name',
    { schema: { params: subscriptionParams } },
    async (request) => {
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Expected the body to be an object with \`bus\` and \`pattern\`, got ${describeValue(body)}`,
        );
      }
      const unknown = Object.keys(body).find((k) => !FIELDS.has(k));
      if (unknown !== undefined) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Unexpected field \`${unknown}\` in the body; a subscription has \`bus\`, \`pattern\`, \`target\` and \`delivery\``,
        );
      }
      const input = body as Partial<SubscriptionInput>;
      if (input.pattern === undefined) {
        throw new BusError('INVALID_ARGUMENT', 'Expected `pattern` in the body, got nothing');
      }
      // Over HTTP there is no in-process handler to run, so a subscription without a target is pulled.
      return bus.putSubscription(request.params.name, {
        ...(input as SubscriptionInput),
        target: input.target ?? { type: 'pull' },
      });
    },
  );

  app.get<{ Querystring: { bus?: string } }>(
    '/v1/subscriptions',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { bus: { type: 'string', minLength: 1 } },
        },
      },
    },
    (request) => ({ subscriptions: bus.listSubscriptions(request.query.bus) }),
  );

  app.get<SubscriptionRoute>('/v1/subscriptions/:name', { schema: { params: subscriptionParams } }, async (request) => {
    const record = bus.getSubscription(request.params.name);
    return { ...record, stats: await bus.stats(request.params.name) };
  });

  app.delete<SubscriptionRoute>(
    '/v1/subscriptions/:name',
    { schema: { params: subscriptionParams } },
    async (request, reply) => {
      await bus.deleteSubscription(request.params.name);
      return reply.status(204).send();
    },
  );

  app.post<SubscriptionRoute>('/v1/subscriptions/:name/pause', { schema: { params: subscriptionParams } }, (request) =>
    bus.pause(request.params.name),
  );

  app.post<SubscriptionRoute>('/v1/subscriptions/:name/resume', { schema: { params: subscriptionParams } }, (request) =>
    bus.resume(request.params.name),
  );
}
