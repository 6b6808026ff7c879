/** How numbers, durations and times read on the dashboard: short, and the same on every page. */

/** `0/s`, `0.25/s`, `12/s`, `1.2k/s`. */
export function rate(perSec: number): string {
  if (perSec === 0) return '0/s';
  if (perSec < 0.1) return '<0.1/s';
  if (perSec < 10) return `${trim(perSec.toFixed(perSec < 1 ? 2 : 1))}/s`;
  if (perSec < 1000) return `${Math.round(perSec)}/s`;
  return `${trim((perSec / 1000).toFixed(1))}k/s`;
}

/** `0.4 ms`, `12 ms`, `1.5 s`, `3 min`, `2 h`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 10) return `${trim(ms.toFixed(1))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${trim((ms / 1000).toFixed(1))} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${trim((ms / 3_600_000).toFixed(1))} h`;
  return `${trim((ms / 86_400_000).toFixed(1))} d`;
}

/** `0%`, `0.5%`, `12%`, from a ratio 0 to 1. */
export function percent(ratio: number): string {
  const p = ratio * 100;
  if (p === 0) return '0%';
  if (p < 1) return `${trim(p.toFixed(1))}%`;
  return `${Math.round(p)}%`;
}

/** `1,234`. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Local time, `14:03:07.120`, with the date in front when it is not today. */
export function time(ms: number): string {
  const d = new Date(ms);
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return d.toDateString() === new Date().toDateString() ? clock : `${date(d)} ${clock}`;
}

function date(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The value of an `<input type="datetime-local">` for a time (local, to the second). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${date(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A datetime-local value as ms since the epoch, or undefined when empty or invalid. */
export function fromLocalInput(value: string): number | undefined {
  if (value.trim() === '') return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

function trim(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/** An event's JSON, indented, for `<pre>`. */
export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/**
 * Parses the text of a pattern field: empty is no pattern; anything else must be a JSON object.
 * Throws an Error naming the field, for the form to show.
 */
export function parsePattern(text: string): object | undefined {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`The pattern is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('The pattern must be a JSON object, such as {"type":["order.placed"]}');
  }
  return value;
}
