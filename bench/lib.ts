/**
 * Shared benchmark plumbing: results in the project's JSON shape, a seeded PRNG, and timing with
 * warm-up, repeated samples and median/spread.
 */
import os from 'node:os';

/** One measured figure; `--json` prints an array of these. */
export interface BenchResult {
  suite: string;
  scenario: string;
  metric: string;
  value: number;
  unit: string;
}

/** Options every suite receives from `npm run bench -- <suite> [...]`. */
export interface BenchOptions {
  /** Seconds per sample. */
  sampleSeconds: number;
  /** Samples per scenario; the median is reported. */
  samples: number;
  /** Remaining `--key value` arguments, for suite-specific options. */
  args: Record<string, string | true>;
  /** Progress lines go here (stderr), never to stdout, so `--json` output stays parseable. */
  log: (line: string) => void;
}

/** A suite module exports `run`. */
export type Suite = (opts: BenchOptions) => Promise<BenchResult[]>;

/** Mulberry32: a small, fast, seeded PRNG so every run benchmarks the same data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs `pass` (which processes `perPass` items) repeatedly: warm-up for one sample's time, then
 * `samples` samples of at least `sampleSeconds` each. Returns items per second for every sample.
 */
export function measureRate(pass: () => void, perPass: number, opts: BenchOptions): number[] {
  const run = (seconds: number): number => {
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(seconds * 1e9));
    let items = 0;
    let now = start;
    do {
      pass();
      items += perPass;
      now = process.hrtime.bigint();
    } while (now < deadline);
    return items / (Number(now - start) / 1e9);
  };
  run(opts.sampleSeconds);
  return Array.from({ length: opts.samples }, () => run(opts.sampleSeconds));
}

/** One line describing the machine, for BENCHMARKS.md. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/**
 * Latencies (by the event's number in send order) of the events sent after the first `warmUp`: the
 * warm-up is cut by when events were sent, so an early event that arrived late (a connection being
 * opened, code being compiled) leaves the sample instead of landing in its tail.
 */
export function afterWarmUp(latencies: ReadonlyMap<number, number>, warmUp: number): number[] {
  return [...latencies].filter(([n]) => n >= warmUp).map(([, latency]) => latency);
}

let producerIds = 0;

/**
 * A producer's event `id`, unique in this process, as CloudEvents producers send one: publishing then
 * includes the dedupe look-up that an id Busbar assigns itself skips.
 */
export function producerId(): string {
  return `bench-${++producerIds}`;
}
