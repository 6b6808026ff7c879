/**
 * `GET /v1/openapi.json`: an OpenAPI 3.1 document generated from the routes as registered, with the
 * same JSON Schemas that validate their path parameters and query strings. Request bodies are checked
 * by the engine (its messages name the field), so they are described, not schema'd.
 */
import type { FastifyInstance, RouteOptions as FastifyRoute } from 'fastify';
import { ErrorCodes } from '../core/errors.js';

interface Collected {
  readonly method: string;
  readonly url: string;
  readonly params: Record<string, unknown> | undefined;
  readonly query: Record<string, unknown> | undefined;
}

type ObjectSchema = { properties?: Record<string, unknown>; required?: readonly string[] };

/** Records every route registered after this call; call before the routes are added. */
export function collectRoutes(app: FastifyInstance): Collected[] {
  const routes: Collected[] = [];
  app.addHook('onRoute', (route: FastifyRoute) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const schema = (route.schema ?? {}) as { params?: ObjectSchema; querystring?: ObjectSchema };
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({
        method: method.toLowerCase(),
        url: route.url,
        params: schema.params,
        query: schema.querystring,
      });
    }
  });
  return routes;
}

function parameters(schema: ObjectSchema | undefined, where: 'path' | 'query'): unknown[] {
  if (schema?.properties === undefined) return [];
  return Object.entries(schema.properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (schema.required ?? []).includes(name),
    schema: s,
  }));
}

/** The document for the collected routes. */
export function openApiDocument(routes: readonly Collected[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    if (!route.url.startsWith('/v1/') && route.url !== '/healthz' && route.url !== '/readyz') continue;
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const operation: Record<string, unknown> = {
      operationId: `${route.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
      responses: {
        '200': { description: 'Success (204 for deletes, 202 for a started replay)' },
        default: {
          description: 'An error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
    if (route.method === 'post' || route.method === 'put') {
      operation['requestBody'] = {
        required: false,
        content: {
          'application/json': {
            schema: { type: 'object', description: 'See README "HTTP API"; validated by the engine.' },
          },
        },
      };
    }
    paths[path] ??= {};
    paths[path][route.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Busbar',
      version,
      description: 'A self-hosted event bus: publish CloudEvents, subscribe by EventBridge patterns.',
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'API keys from BUSBAR_API_KEYS' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { enum: Object.keys(ErrorCodes) },
                message: { type: 'string' },
                details: { type: 'object' },
              },
            },
          },
        },
      },
    },
    security: [{ apiKey: [] }, {}],
    paths,
  };
}
