/**
 * `client.tail(bus)`: the events a bus stores, live, from `GET /v1/buses/{bus}/tail` (Server-Sent
 * Events), as an async iterable. The stream is read from `response.body` with `TextDecoderStream`,
 * so it works wherever fetch streams do (browsers, Deno, Bun, Node.js).
 */
import type { CloudEvent } from '../core/events.js';
import { describeValue } from '../core/errors.js';
import { BusbarError } from './errors.js';
import { path, type Transport } from './http.js';
import { isSignal } from './options.js';

/** Options of `client.tail`. */
export interface TailOptions {
  /** Only events matching this EventBridge pattern (an object or JSON text). */
  pattern?: object | string;
  /** Aborting it ends the iteration (and closes the request). */
  signal?: AbortSignal;
  /**
   * Called once the server has opened the stream: every event stored from then on is delivered (the
   * iteration starts the request, so call `next()` or start `for await` first).
   */
  onOpen?: () => void;
}

/** One dispatched Server-Sent Events message. */
export interface SseMessage {
  /** The `event:` field; `message` when there was none. */
  readonly event: string;
  /** The `data:` lines, joined with line feeds. */
  readonly data: string;
  /** The last `id:` seen on the stream, if any. */
  readonly id: string | undefined;
}

/**
 * Parses a text stream as Server-Sent Events (WHATWG HTML §9.2.6, "Interpreting an event stream"):
 * lines end in CRLF, LF or CR; a blank line dispatches; `:` starts a comment; a message without data
 * is not dispatched, and neither is an unterminated one at the end of the stream.
 */
export async function* parseSse(reader: ReadableStreamDefaultReader<string>): AsyncGenerator<SseMessage> {
  let buffer = '';
  let data: string[] = [];
  let event = '';
  let id: string | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    let text = buffer + value;
    // A CR at the end of a chunk may be the first half of a CRLF split across chunks: decide later.
    const held = text.endsWith('\r') ? '\r' : '';
    if (held !== '') text = text.slice(0, -1);
    const lines = text.split(/\r\n|\r|\n/);
    buffer = lines.pop()! + held;
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) yield { event: event === '' ? 'message' : event, data: data.join('\n'), id };
        data = [];
        event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const raw = colon < 0 ? '' : line.slice(colon + 1);
      const fieldValue = raw.startsWith(' ') ? raw.slice(1) : raw;
      if (field === 'data') data.push(fieldValue);
      else if (field === 'event') event = fieldValue;
      else if (field === 'id' && !fieldValue.includes('\0')) id = fieldValue;
    }
  }
}

/** Checks the arguments of `tail`. */
export function checkTailOptions(bus: unknown, options: unknown): asserts options is TailOptions {
  if (typeof bus !== 'string' || bus === '') {
    throw new TypeError(`Expected \`bus\` to be a non-empty string, got ${describeValue(bus)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${describeValue(options)}`);
  }
  const { pattern, signal, onOpen } = options as Record<string, unknown>;
  if (onOpen !== undefined && typeof onOpen !== 'function') {
    throw new TypeError(`Expected \`onOpen\` to be a function, got ${describeValue(onOpen)}`);
  }
  if (pattern !== undefined && typeof pattern !== 'string' && (typeof pattern !== 'object' || pattern === null)) {
    throw new TypeError(`Expected \`pattern\` to be an object or JSON text, got ${describeValue(pattern)}`);
  }
  if (signal !== undefined && !isSignal(signal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${describeValue(signal)}`);
  }
}

/** One connection of a tail: opened on the first `next()`, closed by `return()`, the signal or an error. */
export class TailIterator implements AsyncIterator<CloudEvent> {
  private readonly controller = new AbortController();
  private messages: AsyncGenerator<SseMessage> | undefined;
  private closed = false;
  private readonly onAbort = (): void => this.close();

  constructor(
    private readonly transport: Transport,
    private readonly bus: string,
    private readonly options: TailOptions,
  ) {
    if (options.signal?.aborted === true) this.close();
    else options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  async next(): Promise<IteratorResult<CloudEvent>> {
    try {
      while (!this.closed) {
        this.messages ??= await this.connect();
        const result = await this.messages.next();
        if (result.done === true) break;
        const message = result.value;
        if (message.event === 'cloudevent') return { done: false, value: parseJson<CloudEvent>(message.data) };
        if (message.event === 'error') {
          const error = parseJson<{ code?: unknown; message?: unknown }>(message.data);
          throw new BusbarError(
            typeof error.code === 'string' ? error.code : 'INVALID_RESPONSE',
            typeof error.message === 'string' ? error.message : message.data,
            { status: 200 },
          );
        }
        // Other message types are for newer clients; comments (`: ping`) never get here.
      }
    } catch (err) {
      if (this.closed || this.controller.signal.aborted) return this.end();
      this.end();
      if (err instanceof BusbarError || (err instanceof Error && err.name === 'AbortError')) throw err;
      throw new BusbarError('UNAVAILABLE', `The tail of bus "${this.bus}" broke off: ${String(err)}`, { cause: err });
    }
    return this.end();
  }

  /** Closes the request; `for await` calls it on `break`. */
  return(): Promise<IteratorResult<CloudEvent>> {
    return Promise.resolve(this.end());
  }

  private end(): IteratorResult<CloudEvent> {
    this.close();
    return { done: true, value: undefined };
  }

  private close(): void {
    this.closed = true;
    this.controller.abort();
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  private async connect(): Promise<AsyncGenerator<SseMessage>> {
    const { pattern } = this.options;
    const response = await this.transport.open({
      method: 'GET',
      path: path`/v1/buses/${this.bus}/tail`,
      query: { pattern: typeof pattern === 'object' ? JSON.stringify(pattern) : pattern },
      accept: 'text/event-stream',
      signal: this.controller.signal,
    });
    const type = response.headers.get('content-type') ?? '';
    if (!/^text\/event-stream\b/i.test(type) || response.body === null) {
      void response.body?.cancel();
      throw new BusbarError('INVALID_RESPONSE', `Expected a text/event-stream from the tail, got "${type}"`, {
        status: response.status,
      });
    }
    // The server subscribes before it answers, so from here on nothing stored is missed.
    this.options.onOpen?.();
    return parseSse(response.body.pipeThrough(new TextDecoderStream()).getReader());
  }
}

function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new BusbarError('INVALID_RESPONSE', `Expected JSON in a tail message, got ${describeValue(text)}`, {
      cause: err,
    });
  }
}
