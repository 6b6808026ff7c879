/**
 * The thread that sends export requests for the tracer provider (see `ThreadedSender` in ./otlp.ts):
 * the main thread hands over each encoded request's buffer and gets back, per request id, nothing or
 * the error; the HTTP work (and its syscalls) stays off the thread that publishes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OtlpHttpSender, type ExporterSettings, type SendReply, type SendRequest } from './otlp.js';

const { url, ...rest } = workerData as Omit<ExporterSettings, 'url'> & { url: string };
const sender = new OtlpHttpSender({ ...rest, url: new URL(url) });
const port = parentPort!;

port.on('message', (message: SendRequest) => {
  const body = Buffer.from(message.buffer, message.offset, message.length);
  sender.send(body).then(
    () => port.postMessage({ id: message.id } satisfies SendReply),
    (error: unknown) =>
      port.postMessage({
        id: message.id,
        error: error instanceof Error ? error.message : String(error),
      } satisfies SendReply),
  );
});
