/**
 * Progress of a replay on stderr: a bar redrawn in place on a terminal, or a plain line at most every
 * few seconds otherwise (logs, CI), so stdout keeps only the result.
 */
import type { Replay } from '../client/index.js';
import { plural } from './format.js';

/** Characters of the bar between its brackets. */
const BAR_WIDTH = 24;
/** Without a terminal, a progress line is written at most this often. */
const PLAIN_EVERY_MS = 5_000;

/** The replay numbers a progress line shows. */
export type ReplayProgress = Pick<Replay, 'id' | 'state' | 'scanned' | 'enqueued'>;

/**
 * `[#######-----------------]  31%  scanned 310/1000 events, enqueued 155 deliveries, 3s`; without a
 * known total, the counts alone.
 *
 * @param total the events in the replay's range, or null when not (yet) known
 */
export function progressLine(replay: ReplayProgress, total: number | null, elapsedMs: number): string {
  const counts = `enqueued ${plural(replay.enqueued, 'delivery', 'deliveries')}`;
  const elapsed = `${Math.floor(elapsedMs / 1000)}s`;
  if (total === null)
    return `replay ${replay.state}: scanned ${plural(replay.scanned, 'event')}, ${counts}, ${elapsed}`;
  const fraction = total === 0 ? 1 : Math.min(1, replay.scanned / total);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${bar} ${percent}  scanned ${replay.scanned}/${total} events, ${counts}, ${elapsed}`;
}

/** Draws progress on `stream`; `finish` clears a terminal line, so the result prints cleanly after it. */
export class ProgressReporter {
  private lastPlain = -Infinity;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly started: number = Date.now(),
  ) {}

  update(replay: ReplayProgress, total: number | null, now: number = Date.now()): void {
    const line = progressLine(replay, total, now - this.started);
    if (this.stream.isTTY === true) {
      // \r back to the line start, ESC [K clears what a longer previous line left.
      this.stream.write(`\r${line}\x1b[K`);
      this.drawn = true;
    } else if (now - this.lastPlain >= PLAIN_EVERY_MS) {
      this.stream.write(`${line}\n`);
      this.lastPlain = now;
    }
  }

  finish(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
