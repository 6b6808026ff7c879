/**
 * Human output of the client commands: compact aligned tables, `key  value` detail blocks, and short
 * spellings of times, durations and sizes. `--json` output bypasses all of this.
 */

/** A table column: its heading, and whether its values are right-aligned (counts). */
export interface Column {
  readonly title: string;
  readonly right?: boolean;
}

/** Values longer than this are cut with `…` in tables, so one long error does not wrap every row. */
const MAX_CELL = 60;

/**
 * Cuts `text` to at most `max` characters (ending in `…`) and folds white space runs to one space.
 *
 * @example
 * ```ts
 * truncate('a\n  b', 10); // 'a b'
 * ```
 */
export function truncate(text: string, max = MAX_CELL): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * An aligned table with a heading row, columns two spaces apart, no trailing spaces.
 *
 * @example
 * ```ts
 * table([{ title: 'NAME' }, { title: 'DEAD', right: true }], [['inventory', '3']]);
 * // 'NAME       DEAD\ninventory     3\n'
 * ```
 */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => columns.map((_, i) => truncate(row[i] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => (columns[i]!.right === true ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(columns.map((c) => c.title)), ...cells.map(line)].join('\n')}\n`;
}

/**
 * `key  value` lines with the values aligned, for one record.
 *
 * @example
 * ```ts
 * details([['name', 'orders'], ['max age', '7d']]); // 'name     orders\nmax age  7d\n'
 * ```
 */
export function details(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n';
}

/** A time in ms as ISO 8601 in UTC, without milliseconds when they are zero. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/**
 * A duration in ms in its largest exact unit: `1500ms`, `30s`, `5m`, `24h`, `7d`; `-` for none.
 *
 * @example
 * ```ts
 * formatDuration(604_800_000); // '7d'
 * ```
 */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A byte count as `512 B`, `1.5 KiB`, `2 MiB`; `-` for none. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

/** `1 dead letter`, `3 dead letters`. */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

/** JSON for `--json`: indented, one value per command, ending in a newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** One attempt as the API shows it (dead letters and lineage). */
export interface AttemptView {
  readonly attempt: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly outcome: string;
  readonly error: { readonly message: string; readonly code: string | null } | null;
  readonly httpStatus: number | null;
}

/** What went wrong in an attempt, in one short phrase: `HTTP 500: upstream down`, `timeout`. */
export function attemptError(a: AttemptView): string {
  const parts = [
    ...(a.httpStatus === null ? [] : [`HTTP ${a.httpStatus}`]),
    ...(a.error === null ? [] : [a.error.code === null ? a.error.message : `${a.error.code}: ${a.error.message}`]),
  ];
  return parts.length === 0 ? (a.outcome === 'success' ? '' : a.outcome) : parts.join(': ');
}

/**
 * An attempt timeline, one line per attempt: number, start, duration, outcome and error.
 *
 * @example
 * ```ts
 * attemptLines([attempt], '  '); // '  #1  2026-11-27T00:00:00Z  12ms  error  HTTP 500: down\n'
 * ```
 */
export function attemptLines(attempts: readonly AttemptView[], indent: string): string {
  if (attempts.length === 0) return `${indent}no attempts yet\n`;
  const rows = attempts.map((a) => [
    `#${a.attempt}`,
    formatTime(a.startedAt),
    `${a.durationMs}ms`,
    a.outcome,
    truncate(attemptError(a), 100),
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map(
      (r) =>
        `${indent}${r
          .map((v, i) => (i === 2 ? v.padStart(widths[i]!) : i < 4 ? v.padEnd(widths[i]!) : v))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}
