/**
 * Syntax checks for the string formats CloudEvents 1.0 attributes use: RFC 3339 timestamps,
 * RFC 3986 URIs and URI-references, and RFC 4648 base64.
 */

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * True when `text` is an RFC 3339 `date-time` (§5.6) with real calendar values.
 *
 * Seconds may be 60 (RFC 3339 §5.7 leap seconds); the offset is required.
 *
 * @example
 * ```ts
 * isRfc3339('2024-02-29T12:00:00.5+01:00'); // true
 * isRfc3339('2023-02-29T12:00:00Z'); // false: not a leap year
 * ```
 */
export function isRfc3339(text: string): boolean {
  const m = TIMESTAMP.exec(text);
  if (m === null) return false;
  const field = (i: number): number => Number(m[i] ?? 0);
  const month = field(2);
  const day = field(3);
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(field(1), month) &&
    field(4) <= 23 &&
    field(5) <= 59 &&
    field(6) <= 60 &&
    field(7) <= 23 &&
    field(8) <= 59
  );
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

// RFC 3986 §2: unreserved, reserved (gen-delims and sub-delims) and percent-encoded octets.
const URI_CHARACTERS = /^(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const FIRST_DELIMITER = /[:/?#]/;

/**
 * True when `text` is an RFC 3986 URI-reference (§4.1): an absolute URI or a relative reference.
 *
 * Checks the character set, percent-encoding, the scheme (a colon before the first `/`, `?` or `#`
 * must end a valid scheme, §4.2) and a single fragment; it does not parse the authority.
 *
 * @example
 * ```ts
 * isUriReference('/orders'); // true
 * isUriReference('com.example.orders'); // true
 * isUriReference('orders service'); // false: space
 * ```
 */
export function isUriReference(text: string): boolean {
  if (!URI_CHARACTERS.test(text)) return false;
  if (text.indexOf('#') !== text.lastIndexOf('#')) return false;
  const first = FIRST_DELIMITER.exec(text);
  if (first !== null && first[0] === ':') return SCHEME.test(text.slice(0, first.index));
  return true;
}

/**
 * True when `text` is an absolute RFC 3986 URI (§3): a URI-reference with a scheme.
 *
 * @example
 * ```ts
 * isUri('https://example.com/schemas/order.json'); // true
 * isUri('/schemas/order.json'); // false: relative
 * ```
 */
export function isUri(text: string): boolean {
  const first = FIRST_DELIMITER.exec(text);
  return first !== null && first[0] === ':' && first.index > 0 && isUriReference(text);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * True when `text` is padded base64 (RFC 4648 §4), as the CloudEvents JSON format requires for
 * `data_base64`.
 *
 * @example
 * ```ts
 * isBase64('aGk='); // true
 * isBase64('aGk'); // false: padding missing
 * ```
 */
export function isBase64(text: string): boolean {
  return BASE64.test(text);
}
