/**
 * The server's one error handler and its 404 handler. Every error body has the shape
 * `{"error":{"code","message"}}` with a code from docs/errors.md; a rejected batch adds the per-event
 * `results` beside it. Unexpected errors answer 500 `INTERNAL` and are logged, never shown.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BusError, describeValue, type ErrorCode } from '../core/errors.js';

/** One Ajv error as Fastify passes it on (with `verbose`, `data` is the offending value). */
interface ValidationIssue {
  readonly keyword: string;
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
  readonly data?: unknown;
}

const CONTEXT_NAMES: Record<string, string> = {
  body: 'the body',
  querystring: 'the query string',
  params: 'the path',
  headers: 'the headers',
};

/** "Expected `limit` in the query string to be integer, got "ten" (string)". */
export function validationMessage(issues: readonly ValidationIssue[], context: string | undefined): string {
  const where = CONTEXT_NAMES[context ?? ''] ?? 'the request';
  return issues
    .map((issue) => {
      const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
      switch (issue.keyword) {
        case 'additionalProperties': {
          const name = String(issue.params['additionalProperty']);
          return `Unexpected field \`${path === '' ? name : `${path}.${name}`}\` in ${where}`;
        }
        case 'required': {
          const name = String(issue.params['missingProperty']);
          return `Expected \`${path === '' ? name : `${path}.${name}`}\` in ${where}, got nothing`;
        }
        default: {
          const subject = path === '' ? where : `\`${path}\` in ${where}`;
          const got = 'data' in issue ? `, got ${describeValue(issue.data)}` : '';
          return `Expected ${subject} to ${(issue.message ?? 'be valid').replace(/^must /, '')}${got}`;
        }
      }
    })
    .join('; ');
}

/** Fastify's own errors (body parsing, limits) mapped to our codes by their `code`. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_ARGUMENT',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
};

/** Turns any error a route or Fastify raised into the `BusError` the client sees. */
export function toBusError(err: unknown): BusError {
  if (err instanceof BusError) return err;
  const e = err as Partial<FastifyError> & { validation?: ValidationIssue[] };
  if (Array.isArray(e.validation)) {
    return new BusError('INVALID_ARGUMENT', validationMessage(e.validation, e.validationContext), { cause: err });
  }
  const mapped = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
  if (mapped !== undefined) {
    const message =
      mapped === 'PAYLOAD_TOO_LARGE' ? 'The request body is larger than the server accepts' : String(e.message);
    return new BusError(mapped, message, { cause: err });
  }
  // Other client errors Fastify raises before a route runs (bad URL encoding, aborted bodies).
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && typeof e.message === 'string') {
    return new BusError('INVALID_ARGUMENT', e.message, { cause: err, status: e.statusCode });
  }
  return new BusError('INTERNAL', 'An unexpected error occurred; the server log has the details', { cause: err });
}

/** The body of an error response; `details.results` of a rejected batch moves to the top level. */
export function errorBody(err: BusError): Record<string, unknown> {
  const { results, ...rest } = err.details ?? {};
  const error =
    Object.keys(rest).length === 0
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: rest };
  return results === undefined ? { error } : { error, results };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const bus = toBusError(err);
  if (bus.code === 'INTERNAL' || bus.code === 'STORAGE_UNAVAILABLE') request.log.error({ err }, bus.message);
  void reply.status(bus.status).send(errorBody(bus));
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const err = new BusError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
  void reply.status(404).send(errorBody(err));
}
