import { describe, expect, it } from 'vitest';
import {
  attemptLines,
  details,
  formatBytes,
  formatDuration,
  formatTime,
  plural,
  table,
  truncate,
  type AttemptView,
} from './format.js';
import { ProgressReporter, progressLine } from './progress.js';

const T = Date.parse('2026-11-27T10:00:00Z');

describe('table', () => {
  it('aligns columns two spaces apart, right-aligns counts, and trims line ends', () => {
    const text = table(
      [{ title: 'NAME' }, { title: 'TARGET' }, { title: 'DEAD', right: true }],
      [
        ['inventory', 'pull', '3'],
        ['notify', '', '120'],
      ],
    );
    expect(text).toBe(
      ['NAME       TARGET  DEAD', 'inventory  pull       3', `notify${' '.repeat(14)}120`, ''].join('\n'),
    );
  });

  it('cuts long cells and folds their line breaks', () => {
    const text = table([{ title: 'ERROR' }], [[`line one\nline two ${'x'.repeat(100)}`]]);
    const row = text.split('\n')[1]!;
    expect(row).toHaveLength(60);
    expect(row.startsWith('line one line two x')).toBe(true);
    expect(row.endsWith('…')).toBe(true);
    expect(truncate('short')).toBe('short');
  });
});

describe('details and spellings', () => {
  it('aligns key and value', () => {
    expect(
      details([
        ['name', 'orders'],
        ['max age', '7d'],
      ]),
    ).toBe('name     orders\nmax age  7d\n');
  });

  it('spells times, durations, sizes and counts', () => {
    expect(formatTime(T)).toBe('2026-11-27T10:00:00Z');
    expect(formatTime(T + 5)).toBe('2026-11-27T10:00:00.005Z');
    expect(formatTime(null)).toBe('-');
    expect(formatDuration(604_800_000)).toBe('7d');
    expect(formatDuration(5_400_000)).toBe('90m');
    expect(formatDuration(1500)).toBe('1500ms');
    expect(formatDuration(null)).toBe('-');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(2 * 1024 * 1024)).toBe('2 MiB');
    expect(plural(1, 'event')).toBe('1 event');
    expect(plural(2, 'delivery', 'deliveries')).toBe('2 deliveries');
  });
});

describe('attemptLines', () => {
  const attempt = (n: number, extra: Partial<AttemptView>): AttemptView => ({
    attempt: n,
    startedAt: T + n * 1000,
    durationMs: 12,
    outcome: 'error',
    error: null,
    httpStatus: null,
    ...extra,
  });

  it('prints one aligned line per attempt with what went wrong', () => {
    const text = attemptLines(
      [
        attempt(1, { httpStatus: 500, error: { message: 'upstream down', code: null } }),
        attempt(2, { outcome: 'timeout', durationMs: 30_000 }),
        attempt(10, { outcome: 'success' }),
      ],
      '  ',
    );
    expect(text).toBe(
      [
        '  #1   2026-11-27T10:00:01Z     12ms  error    HTTP 500: upstream down',
        '  #2   2026-11-27T10:00:02Z  30000ms  timeout  timeout',
        '  #10  2026-11-27T10:00:10Z     12ms  success',
        '',
      ].join('\n'),
    );
    expect(attemptLines([], '  ')).toBe('  no attempts yet\n');
  });
});

describe('replay progress', () => {
  const replay = { id: 'r', state: 'running' as const, scanned: 310, enqueued: 155 };

  it('draws a bar when the total is known, counts otherwise', () => {
    expect(progressLine(replay, 1000, 3_400)).toBe(
      '[#######-----------------]  31%  scanned 310/1000 events, enqueued 155 deliveries, 3s',
    );
    expect(progressLine({ ...replay, scanned: 0 }, 0, 0)).toMatch(/^\[#{24}\] 100%/);
    expect(progressLine(replay, null, 61_000)).toBe('replay running: scanned 310 events, enqueued 155 deliveries, 61s');
  });

  it('redraws one line on a terminal and writes plain lines at most every 5 s otherwise', () => {
    const written: string[] = [];
    const sink = (isTTY: boolean) => ({ isTTY, write: (s: string) => written.push(s) > 0 });
    const tty = new ProgressReporter(sink(true) as unknown as NodeJS.WritableStream, T);
    tty.update(replay, 1000, T + 1000);
    tty.update(replay, 1000, T + 1500);
    tty.finish();
    expect(written).toHaveLength(3);
    expect(written[0]!.startsWith('\r[#')).toBe(true);
    expect(written[0]!.endsWith('\x1b[K')).toBe(true);
    expect(written[2]).toBe('\r\x1b[K');

    written.length = 0;
    const plain = new ProgressReporter(sink(false) as unknown as NodeJS.WritableStream, T);
    plain.update(replay, null, T);
    plain.update(replay, null, T + 1000);
    plain.update(replay, null, T + 5000);
    plain.finish();
    expect(written).toEqual([
      'replay running: scanned 310 events, enqueued 155 deliveries, 0s\n',
      'replay running: scanned 310 events, enqueued 155 deliveries, 5s\n',
    ]);
  });
});
