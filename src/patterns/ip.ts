/**
 * IP addresses for `cidr` matchers and for exact string values that are IP literals (spec §4.1, §4.9).
 * Addresses are compared as fixed-length upper-case hex strings: 8 digits for IPv4, 32 for IPv6, so that
 * ranges are plain string comparisons.
 */

const IPV4_SHAPE = /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/;
const IPV6_SHAPE = /^[0-9a-fA-F:]*:[0-9a-fA-F:]*$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** An inclusive address range in hex form; `lo` and `hi` have the same length (8 or 32). */
export interface IpRange {
  readonly lo: string;
  readonly hi: string;
}

function hex(n: number, width: number): string {
  return n.toString(16).toUpperCase().padStart(width, '0');
}

function parseV4(text: string): string | undefined {
  let out = '';
  for (const part of text.split('.')) {
    // Leading zeros read as decimal, as the JDK 17 parser event-ruler runs on does.
    const n = Number(part);
    if (part.length > 10 || n > 255) return undefined;
    out += hex(n, 2);
  }
  return out;
}

function parseV6(text: string): string | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): string[] | undefined => {
    if (s === '') return [];
    const groups = s.split(':');
    return groups.every((g) => HEX_GROUP.test(g)) ? groups : undefined;
  };
  const head = groupsOf(halves[0] ?? '');
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  const out = groups.map((g) => g.toUpperCase().padStart(4, '0')).join('');
  // InetAddress turns IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) into IPv4 ones.
  return out.startsWith('00000000000000000000FFFF') ? out.slice(24) : out;
}

const HEX2 = Array.from({ length: 256 }, (_, n) => hex(n, 2));

/**
 * Dotted quads of at most three digits per octet, the everyday case, without regex or split.
 * Returns the hex form, `''` for a dotted quad that is not an address, or `undefined` to defer to the
 * general parser (other shapes, long octets).
 */
function fastV4(text: string): string | undefined {
  let out = '';
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (++digits > 3) return undefined;
      octet = octet * 10 + (c - 0x30);
    } else if (c === 0x2e && digits > 0 && dots < 3) {
      if (octet > 255) return '';
      out += HEX2[octet];
      dots++;
      octet = 0;
      digits = 0;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  if (octet > 255) return '';
  return out + HEX2[octet]!;
}

/**
 * Returns the hex form of an IP literal, or `undefined` when `text` is not one. Only the shapes
 * event-ruler recognises count: dotted-quad IPv4 and IPv6 made of hex digits and colons
 * (no zone ids, no embedded dotted IPv4).
 *
 * @example
 * ipToHex('10.0.0.1') // '0A000001'
 * ipToHex('2001:db8::1') // '20010DB8000000000000000000000001'
 */
export function ipToHex(text: string): string | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const c = text.charCodeAt(0);
  const plausible = (c >= 0x30 && c <= 0x39) || c === 0x3a || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
  if (!plausible) return undefined;
  const v4 = fastV4(text);
  if (v4 !== undefined) return v4 === '' ? undefined : v4;
  if (IPV4_SHAPE.test(text)) return parseV4(text);
  if (IPV6_SHAPE.test(text)) return parseV6(text);
  return undefined;
}

/** Whether the address `addr` (hex) lies in `range`; an IPv4 range looks only at the first 8 digits. */
export function inIpRange(range: IpRange, addr: string): boolean {
  if (addr.length < range.lo.length) return false;
  const key = addr.length === range.lo.length ? addr : addr.slice(0, range.lo.length);
  return key >= range.lo && key <= range.hi;
}

/**
 * Parses CIDR notation into a range. Host bits may be set (`10.0.0.77/24` is `10.0.0.0/24`).
 * @throws Error with event-ruler's message for malformed input.
 */
export function parseCidr(text: string): IpRange {
  // Java's split drops trailing empty parts, so `10.0.0.0/24/` is accepted as event-ruler accepts it.
  const parts = text.split('/');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length !== 2) throw new Error("Malformed CIDR, one '/' required");
  const [address = '', maskText = ''] = parts;
  // Integer.parseInt: optional sign, decimal digits, 32-bit range.
  if (!/^[+-]?[0-9]+$/.test(maskText) || Math.abs(Number(maskText)) > 2147483647) {
    throw new Error('Malformed CIDR, mask bits must be an integer');
  }
  const bits = Number(maskText) + 0;
  if (bits < 0) throw new Error('Malformed CIDR, mask bits must not be negative');
  if (!IPV4_SHAPE.test(address) && !IPV6_SHAPE.test(address)) throw new Error(`Nonstandard IP address: ${address}`);
  const addr = ipToHex(address);
  if (addr === undefined) throw new Error(`Invalid IP address: ${address}`);
  const width = addr.length * 4;
  if (bits >= width) throw new Error(`${width === 32 ? 'IPv4' : 'IPv6'} mask bits must be < ${width}`);
  const value = BigInt(`0x${addr}`);
  const hostMask = (1n << BigInt(width - bits)) - 1n;
  const lo = value & ~hostMask & ((1n << BigInt(width)) - 1n);
  const hi = value | hostMask;
  return {
    lo: lo.toString(16).toUpperCase().padStart(addr.length, '0'),
    hi: hi.toString(16).toUpperCase().padStart(addr.length, '0'),
  };
}
