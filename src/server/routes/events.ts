/** Events: publish (CloudEvents HTTP binding), the archive, and one event's lineage. */
import type { FastifyInstance } from 'fastify';
import { eventsFromRequest } from '../cloudevents.js';
import { busParams, cursor, defined, limit, timeMs, type RouteOptions } from '../schemas.js';

interface ArchiveQuery {
  from?: number;
  to?: number;
  type?: string;
  source?: string;
  pattern?: string;
  limit?: number;
  cursor?: string;
}

export function eventRoutes(app: FastifyInstance, { bus }: RouteOptions): void {
  // Answers only after `publish` resolves, that is after the durable commit: never a 2xx for an
  // event that was not stored.
  app.post<{ Params: { bus: string } }>(
    '/v1/buses/:bus/events',
    { schema: { params: busParams }, config: { anyBody: true } },
    async (request) => {
      bus.getBus(request.params.bus);
      const { traceparent, tracestate } = request.headers;
      return bus.publish(request.params.bus, eventsFromRequest(request.headers, request.body), {
        // The request's W3C trace context: the publish span continues it (see core/engine/tracing.ts).
        ...(typeof traceparent === 'string' ? { traceparent } : {}),
        ...(typeof tracestate === 'string' ? { tracestate } : {}),
      });
    },
  );

  app.get<{ Params: { bus: string }; Querystring: ArchiveQuery }>(
    '/v1/buses/:bus/events',
    {
      schema: {
        params: busParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: timeMs,
            to: timeMs,
            type: { type: 'string' },
            source: { type: 'string' },
            /** An EventBridge pattern as JSON text. */
            pattern: { type: 'string', minLength: 1 },
            limit,
            cursor,
          },
        },
      },
    },
    (request) => bus.queryArchive(request.params.bus, defined({ ...request.query })),
  );

  app.get<{ Params: { bus: string; id: string } }>(
    '/v1/buses/:bus/events/:id',
    {
      schema: {
        params: {
          type: 'object',
          required: ['bus', 'id'],
          properties: { bus: busParams.properties.bus, id: { type: 'string', minLength: 1 } },
        },
      },
    },
    (request) => bus.lineage(request.params.bus, request.params.id),
  );
}
