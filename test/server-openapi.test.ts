/** `GET /v1/openapi.json`: generated from the registered routes and their schemas. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, type Harness } from './support/server.js';

let h: Harness;
beforeAll(async () => {
  h = await harness('memory');
});
afterAll(() => h.close());

interface Doc {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, { parameters: Array<{ name: string; in: string; required: boolean }> }>>;
}

describe('GET /v1/openapi.json', () => {
  it('describes every route with its path and query parameters', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<Doc>();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/buses/{bus}/events',
        '/v1/subscriptions/{name}/pull',
        '/v1/subscriptions/{name}/dead-letters/redrive',
        '/v1/replays/{id}/cancel',
        '/v1/test-pattern',
        '/healthz',
      ]),
    );
    expect(doc.paths['/v1/buses/{bus}/events']!['post']!.parameters).toEqual([
      { name: 'bus', in: 'path', required: true, schema: expect.any(Object) as unknown },
    ]);
    const archive = doc.paths['/v1/buses/{bus}/events']!['get']!.parameters.map((p) => [p.name, p.in]);
    expect(archive).toEqual(
      expect.arrayContaining([
        ['bus', 'path'],
        ['limit', 'query'],
        ['pattern', 'query'],
        ['cursor', 'query'],
      ]),
    );
  });
});
