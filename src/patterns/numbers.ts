/**
 * EventBridge's number semantics (spec §4.7). A JSON number token is *comparable* when it denotes
 * exactly one IEEE-754 double: finite, and its decimal value equals the decimal value of the double's
 * shortest round-trip spelling. Only comparable numbers take part in numeric matching (`numeric`,
 * numeric equality of exact values, numeric `anything-but`); the others match by spelling only.
 */

/** Splits a JSON number token into sign, significant digits (no leading/trailing zeros) and exponent. */
function decimalKey(raw: string): string {
  let i = 0;
  let sign = '';
  if (raw.charCodeAt(0) === 0x2d) {
    sign = '-';
    i = 1;
  }
  let digits = '';
  let exp = 0;
  let seenPoint = false;
  for (; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x2e) {
      seenPoint = true;
    } else if (c === 0x65 || c === 0x45) {
      exp += Number(raw.slice(i + 1));
      break;
    } else {
      digits += raw[i];
      if (seenPoint) exp--;
    }
  }
  // The value is sign · digits · 10^exp; normalise digits to drop zeros on both ends.
  let start = 0;
  while (start < digits.length && digits.charCodeAt(start) === 0x30) start++;
  if (start === digits.length) return '0';
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 0x30) {
    end--;
    exp++;
  }
  return `${sign}${digits.slice(start, end)}e${exp}`;
}

/**
 * Returns the double a JSON number token denotes when it is comparable, else `undefined`.
 * `-0` is returned as `0` so that map lookups treat the two alike.
 *
 * @example
 * comparableValue('3.0e2') // 300
 * comparableValue('9007199254740993') // undefined: not exactly representable
 */
export function comparableValue(raw: string): number | undefined {
  const value = Number(raw);
  if (!Number.isFinite(value)) return undefined;
  if (value === 0) return 0;
  if (!isFastComparable(raw)) {
    // JS String(x) is the shortest round-trip spelling; compare decimal values exactly.
    if (decimalKey(raw) !== decimalKey(String(value))) return undefined;
  }
  return value;
}

/**
 * Any decimal with at most 15 significant digits and a moderate exponent round-trips through a double
 * (DBL_DIG = 15), so it is comparable without the exact decimal check.
 */
function isFastComparable(raw: string): boolean {
  let significant = 0;
  let leading = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (leading && c === 0x30) continue;
      leading = false;
      significant++;
    } else if (c === 0x65 || c === 0x45) {
      return false;
    }
  }
  return significant <= 15 && raw.length <= 20;
}
