/**
 * Copies untrusted JSON-shaped values (event `data`) into fresh objects, with a nesting limit.
 */
import { BusError, describeValue } from './errors.js';

/** Describes a value for an error message; unlike `describeValue`, names class instances (`a Date`). */
export function describeInput(value: unknown): string {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !isPlainObject(value)) {
    // A class instance's prototype has its own `constructor`; an object made by Object.create(plain) does not.
    const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } };
    const name = Object.hasOwn(proto, 'constructor') ? proto.constructor?.name : undefined;
    return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a custom prototype';
  }
  return describeValue(value);
}

/** True for `{}`-style objects: prototype `Object.prototype` or `null`, not arrays or class instances. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Returns a deep copy of `value` that holds only JSON values, as `JSON.parse(JSON.stringify(value))`
 * would (object members that are `undefined` are dropped, array items that are `undefined` become
 * `null`), and throws INVALID_EVENT for anything JSON cannot hold or for nesting deeper than `maxDepth`.
 *
 * A member named `__proto__` (JSON.parse makes one) is copied as an own property, never as a
 * prototype, so data cannot pollute `Object.prototype` or change the copy's prototype.
 *
 * @param name the attribute name used in error messages, e.g. `data`
 * @param maxDepth how many arrays/objects may nest; `{}` is 1 level, `{"a":[]}` is 2
 */
export function copyJsonValue(value: unknown, name: string, maxDepth: number): unknown {
  const path: (string | number)[] = [];

  function fail(message: (where: string) => string): never {
    const where = formatPath(name, path);
    throw new BusError('INVALID_EVENT', message(where), { details: { field: where } });
  }
  const notJson = (item: unknown) => (where: string) =>
    `Expected \`${where}\` to be a JSON value, got ${describeInput(item)}`;

  function copy(item: unknown, level: number): unknown {
    if (item === null || typeof item === 'string' || typeof item === 'boolean') return item;
    if (typeof item === 'number') {
      return Number.isFinite(item) ? item : fail(notJson(item));
    }
    if (typeof item !== 'object') fail(notJson(item));
    if (level > maxDepth) {
      fail(
        (where) => `Expected \`${name}\` to nest at most ${maxDepth} levels deep, got deeper nesting at \`${where}\``,
      );
    }
    if (Array.isArray(item)) {
      const out: unknown[] = new Array<unknown>(item.length);
      for (let i = 0; i < item.length; i++) {
        path.push(i);
        const element: unknown = item[i];
        out[i] = element === undefined ? null : copy(element, level + 1);
        path.pop();
      }
      return out;
    }
    if (!isPlainObject(item)) fail(notJson(item));
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(item)) {
      const member = item[key];
      if (member === undefined) continue;
      path.push(key);
      const copied = copy(member, level + 1);
      path.pop();
      if (key === '__proto__')
        Object.defineProperty(out, key, { value: copied, enumerable: true, writable: true, configurable: true });
      else out[key] = copied;
    }
    return out;
  }

  return copy(value, 1);
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function formatPath(name: string, path: readonly (string | number)[]): string {
  let out = name;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += IDENTIFIER.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** Length of `text` in UTF-8 bytes, without encoding it (lone surrogates count as U+FFFD, 3 bytes). */
// eslint-disable-next-line no-control-regex -- the range starts at U+0000 on purpose: everything outside ASCII
const NON_ASCII = /[^\x00-\x7f]/;

export function utf8ByteLength(text: string): number {
  // Most events are ASCII; the native regex scan is far cheaper than the loop below.
  if (!NON_ASCII.test(text)) return text.length;
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}
