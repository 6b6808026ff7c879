/** Buses: create or update, list, get, delete. */
import type { FastifyInstance } from 'fastify';
import { BusError, describeValue } from '../../core/errors.js';
import { busParams, type RouteOptions } from '../schemas.js';

interface BusRoute {
  Params: { bus: string };
}

export function busRoutes(app: FastifyInstance, { bus }: RouteOptions): void {
  app.put<BusRoute & { Body: { retention?: { maxAgeMs?: number | null; maxBytes?: number | null } } | undefined }>(
    '/v1/buses/:bus',
    { schema: { params: busParams } },
    async (request) => {
      const body = request.body ?? {};
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new BusError('INVALID_ARGUMENT', `Expected the body to be an object, got ${describeValue(body)}`);
      }
      const unknown = Object.keys(body).filter((k) => k !== 'retention');
      if (unknown.length > 0) {
        throw new BusError(
          'INVALID_ARGUMENT',
          `Unexpected field \`${unknown[0]}\` in the body; a bus has \`retention\``,
        );
      }
      return bus.putBus(request.params.bus, body.retention === undefined ? {} : { retention: body.retention });
    },
  );

  app.get('/v1/buses', () => ({ buses: bus.listBuses() }));

  app.get<BusRoute>('/v1/buses/:bus', { schema: { params: busParams } }, (request) => bus.getBus(request.params.bus));

  app.delete<BusRoute>('/v1/buses/:bus', { schema: { params: busParams } }, async (request, reply) => {
    await bus.deleteBus(request.params.bus);
    return reply.status(204).send();
  });
}
