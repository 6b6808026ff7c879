/**
 * Sends a consumer's acks and nacks, batched: the outcomes of handlers that finish in the same turn of
 * the event loop share one request per kind (acks together; nacks with the same options together).
 * A batch that fails transiently is sent again with backoff until it gets through or the leases of its
 * receipts have ended (after that the server redelivers the message, so settling it is pointless).
 */
import { BusbarError } from './errors.js';
import { backoffMs, path, sleep, type Transport } from './http.js';

/** What a handler's outcome asks of the server. */
export type Settlement =
  | { readonly kind: 'ack' }
  | { readonly kind: 'nack'; readonly error: string; readonly delayMs?: number; readonly deadLetter?: boolean };

interface Pending {
  readonly receipt: string;
  /** When the lease ends, by this process's clock (ms since the epoch). */
  readonly leaseEnd: () => number;
  readonly resolve: () => void;
}

/** The server takes at most 1000 receipts per call. */
const MAX_RECEIPTS = 1_000;

/** 4xx answers that no retry can change (bad request, key, scope, or a deleted subscription). */
export function isPermanent(err: unknown): err is BusbarError {
  return (
    err instanceof BusbarError &&
    err.status !== null &&
    err.status >= 400 &&
    err.status < 500 &&
    err.status !== 408 &&
    err.status !== 429
  );
}

/** The batched sender of one consumer's acks and nacks. */
export class Settler {
  private readonly batches = new Map<string, { settlement: Settlement; items: Pending[] }>();
  private scheduled = false;

  constructor(
    private readonly transport: Transport,
    private readonly subscription: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Queues one receipt's settlement; resolves once the server answered for it (or it was given up). */
  settle(receipt: string, settlement: Settlement, leaseEnd: () => number): Promise<void> {
    return new Promise((resolve) => {
      const key = JSON.stringify(settlement);
      const batch = this.batches.get(key) ?? { settlement, items: [] };
      batch.items.push({ receipt, leaseEnd, resolve });
      this.batches.set(key, batch);
      if (this.scheduled) return;
      this.scheduled = true;
      setTimeout(() => this.flush(), 0);
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batches = [...this.batches.values()];
    this.batches.clear();
    for (const { settlement, items } of batches) {
      for (let i = 0; i < items.length; i += MAX_RECEIPTS) {
        void this.send(settlement, items.slice(i, i + MAX_RECEIPTS));
      }
    }
  }

  private async send(settlement: Settlement, initial: Pending[]): Promise<void> {
    let items = initial;
    const { kind, ...options } = settlement;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.transport.request({
          method: 'POST',
          path: path`/v1/subscriptions/${this.subscription}/${kind}`,
          body: { receipts: items.map((item) => item.receipt), ...options },
          onRetry: this.onError,
        });
        break;
      } catch (err) {
        this.onError(err);
        // STALE_RECEIPT: some leases were lost (the others in the batch were settled); no retry helps.
        if (isPermanent(err)) break;
      }
      // Even a lapsed lease may still be settled until another consumer claims the message, so the
      // first try is always made; retries stop once the lease has ended.
      const now = Date.now();
      const expired = items.filter((item) => item.leaseEnd() <= now);
      if (expired.length > 0) {
        this.onError(
          new BusbarError(
            'STALE_RECEIPT',
            `Gave up sending the ${kind} of ${expired.length} message(s) of subscription "${this.subscription}": ` +
              'their leases ended while the server could not be reached; they will be delivered again',
            { details: { receipts: expired.map((item) => item.receipt) } },
          ),
        );
        for (const item of expired) item.resolve();
        items = items.filter((item) => !expired.includes(item));
      }
      if (items.length === 0) return;
      await sleep(backoffMs(this.transport.options.retry, attempt));
    }
    for (const item of items) item.resolve();
  }
}
