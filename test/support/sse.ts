/** A Server-Sent Events client for the streaming-route tests: a real socket, messages parsed as they come. */
import http from 'node:http';

/** One parsed message: its `event`, `id` (or null) and `data` (lines joined with `\n`). */
export interface SseMessage {
  readonly event: string;
  readonly id: string | null;
  readonly data: string;
}

export interface SseStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Resolves with the messages of type `event` once `count` have arrived (5 s at most). */
  messages(event: string, count: number): Promise<SseMessage[]>;
  /** Everything received so far. */
  text(): string;
  close(): void;
}

/** Opens `url` with the given request headers once the response headers arrived. */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let text = '';
      const waiters: Array<() => void> = [];
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        for (const wake of waiters.splice(0)) wake();
      });
      const parse = (event: string): SseMessage[] =>
        text
          .split('\n\n')
          .map((block) => block.split('\n'))
          .filter((lines) => lines[0] === `event: ${event}`)
          .map((lines) => ({
            event,
            id: lines.find((l) => l.startsWith('id: '))?.slice(4) ?? null,
            data: lines
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n'),
          }));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => text,
        close: () => req.destroy(),
        messages: (event, count) =>
          new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`timed out; received: ${text}`)), 5_000);
            const check = (): void => {
              const found = parse(event);
              if (found.length < count) return void waiters.push(check);
              clearTimeout(timer);
              done(found);
            };
            check();
          }),
      });
    });
    req.on('error', reject);
  });
}
