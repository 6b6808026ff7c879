/**
 * Group commit: work that arrives while a commit is in progress waits and shares the next one, so a
 * durable store pays one sync per commit, not per call (DESIGN "Paths": "Many concurrent publishes
 * share one commit"). Each caller still resolves only after the commit that holds its work. Publishes
 * and delivery completions both go through one of these.
 */

interface Waiting<I, O> {
  readonly item: I;
  readonly weight: number;
  readonly resolve: (out: O) => void;
  readonly reject: (err: unknown) => void;
}

/** Lets calls being made in this turn of the event loop join the coming commit. */
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class GroupCommitter<I, O> {
  private queue: Array<Waiting<I, O>> = [];
  private running = false;

  /**
   * @param commit stores a group atomically and returns one result per item, in order
   * @param weight how much of `maxWeight` an item uses (events in a publish)
   * @param maxWeight upper bound per commit, so that one commit never holds the store for long
   */
  constructor(
    private readonly commit: (items: I[]) => Promise<O[]>,
    private readonly weight: (item: I) => number = () => 1,
    private readonly maxWeight = 10_000,
  ) {}

  /** Adds `item` to the next commit; resolves with its result once that commit is durable. */
  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, weight: this.weight(item), resolve, reject });
      if (!this.running) void this.run();
    });
  }

  /** Resolves when nothing is waiting or being committed. */
  async idle(): Promise<void> {
    while (this.running || this.queue.length > 0) await yieldTurn();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        await yieldTurn();
        let total = 0;
        let take = 0;
        while (take < this.queue.length && (take === 0 || total + this.queue[take]!.weight <= this.maxWeight)) {
          total += this.queue[take]!.weight;
          take++;
        }
        const batch = this.queue.splice(0, take);
        try {
          const results = await this.commit(batch.map((w) => w.item));
          batch.forEach((w, i) => w.resolve(results[i] as O));
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err);
            continue;
          }
          // One bad item must not fail the others it happened to share a commit with: commit each
          // alone, so only the ones that fail on their own are rejected.
          for (const w of batch) {
            try {
              const [result] = await this.commit([w.item]);
              w.resolve(result as O);
            } catch (alone) {
              w.reject(alone);
            }
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}
