import { describe, expect, it } from 'vitest';
import { BusbarError } from '../client/index.js';
import { BusError } from '../core/errors.js';
import { CliFailure, describeClientError, toCliFailure } from './failure.js';
import { DEFAULT_URL, resolveConnection } from './session.js';

describe('resolveConnection', () => {
  it('prefers the option over the environment over the default', () => {
    expect(resolveConnection({}, {})).toEqual({ url: DEFAULT_URL, apiKey: undefined });
    const env = { BUSBAR_URL: 'http://10.0.0.5:4080/', BUSBAR_API_KEY: 'env-key-0123456789' };
    expect(resolveConnection({}, env)).toEqual({ url: 'http://10.0.0.5:4080', apiKey: 'env-key-0123456789' });
    expect(resolveConnection({ url: 'https://bus.example.com/base', apiKey: 'flag-key-0123456789' }, env)).toEqual({
      url: 'https://bus.example.com/base',
      apiKey: 'flag-key-0123456789',
    });
  });

  it('treats empty variables as unset', () => {
    expect(resolveConnection({}, { BUSBAR_URL: '', BUSBAR_API_KEY: '' })).toEqual({
      url: DEFAULT_URL,
      apiKey: undefined,
    });
  });

  it('rejects URLs that are not http(s) and keys with spaces, naming where they came from', () => {
    expect(() => resolveConnection({ url: 'localhost:4080' }, {})).toThrow(
      new BusError(
        'INVALID_ARGUMENT',
        'Expected --url to be an http or https URL without a query, got "localhost:4080" (string)',
      ),
    );
    expect(() => resolveConnection({}, { BUSBAR_URL: 'not a url' })).toThrow(/^Expected BUSBAR_URL to be/);
    expect(() => resolveConnection({ url: 'http://x/?a=1' }, {})).toThrow(BusError);
    expect(() => resolveConnection({}, { BUSBAR_API_KEY: 'a key' })).toThrow(
      'Expected BUSBAR_API_KEY to be an API key without spaces, got one with spaces',
    );
  });
});

describe('describeClientError', () => {
  const url = 'http://127.0.0.1:4080';
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4080'), { code: 'ECONNREFUSED' });

  it('says the server cannot be reached, and why, from the cause chain', () => {
    const err = new BusbarError('UNAVAILABLE', 'GET /v1/buses failed', {
      cause: new TypeError('fetch failed', { cause: refused }),
    });
    expect(describeClientError(err, url)).toBe(
      'cannot reach http://127.0.0.1:4080 (connection refused) — is `busbar start` running?',
    );
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND bus'), { code: 'ENOTFOUND' });
    expect(describeClientError(new BusbarError('UNAVAILABLE', 'x', { cause: notFound }), 'http://bus:4080')).toBe(
      'cannot reach http://bus:4080 (host not found) — check --url or BUSBAR_URL, and the network',
    );
  });

  it('gives the status and code of an answer, with a hint for 401 and 403', () => {
    expect(describeClientError(new BusbarError('NOT_FOUND', 'No subscription named "x"', { status: 404 }), url)).toBe(
      '404 NOT_FOUND: No subscription named "x"',
    );
    expect(describeClientError(new BusbarError('UNAUTHORIZED', 'The API key is not valid', { status: 401 }), url)).toBe(
      '401 UNAUTHORIZED: The API key is not valid (set --api-key or BUSBAR_API_KEY)',
    );
    expect(describeClientError(new BusbarError('FORBIDDEN', 'lacks "admin"', { status: 403 }), url)).toBe(
      '403 FORBIDDEN: lacks "admin" (use an API key with that scope)',
    );
    expect(describeClientError(new BusbarError('UNAVAILABLE', 'proxy said 502\nbad', { status: 502 }), url)).toBe(
      '502 UNAVAILABLE: proxy said 502 bad',
    );
    expect(describeClientError(new BusbarError('SLOW_CONSUMER', 'read too slowly'), url)).toBe(
      'SLOW_CONSUMER: read too slowly',
    );
  });

  it('turns SDK errors into exit-1 failures and leaves others alone', () => {
    const failure = toCliFailure(new BusbarError('CONFLICT', 'busy', { status: 409 }), url);
    expect(failure).toBeInstanceOf(CliFailure);
    expect(failure).toMatchObject({ message: 'busbar: 409 CONFLICT: busy', exitCode: 1 });
    const invalid = new BusError('INVALID_ARGUMENT', 'bad');
    expect(toCliFailure(invalid, url)).toBe(invalid);
  });
});
