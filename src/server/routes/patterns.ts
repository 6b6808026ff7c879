/** `POST /v1/test-pattern`: does this event match this pattern? (EventBridge's TestEventPattern) */
import type { FastifyInstance } from 'fastify';
import { BusError, describeValue } from '../../core/errors.js';
import { matchesPattern } from '../../patterns/index.js';
import type { RouteOptions } from '../schemas.js';

interface TestPatternBody {
  /** The pattern, as an object or as JSON text (text keeps number spellings exactly). */
  pattern?: unknown;
  /** The event, as an object or as JSON text. */
  event?: unknown;
}

function field(body: TestPatternBody, name: 'pattern' | 'event'): string | object {
  const value = body[name];
  if (typeof value === 'string' || (typeof value === 'object' && value !== null && !Array.isArray(value))) return value;
  throw new BusError(
    'INVALID_ARGUMENT',
    `Expected \`${name}\` to be an object or JSON text, got ${describeValue(value)}`,
  );
}

export function patternRoutes(app: FastifyInstance, _options: RouteOptions): void {
  app.post<{ Body: TestPatternBody }>('/v1/test-pattern', (request) => {
    const body = request.body ?? {};
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw new BusError(
        'INVALID_ARGUMENT',
        `Expected a JSON object with \`pattern\` and \`event\`, got ${describeValue(body)}`,
      );
    }
    return { match: matchesPattern(field(body, 'pattern'), field(body, 'event')) };
  });
}
