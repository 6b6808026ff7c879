/**
 * Which addresses a webhook may not reach unless the operator allows private targets: loopback,
 * private (RFC 1918, RFC 4193), link-local, CGNAT and unspecified addresses. Checked on the address
 * actually connected to (the resolver result), so a DNS name cannot smuggle a private address in.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';

function v4(address: string): number[] | undefined {
  const parts = address.split('.').map(Number);
  return parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255) ? parts : undefined;
}

/** Whether `address` (an IP literal) is loopback, private, link-local, CGNAT or unspecified. */
export function isPrivateAddress(address: string): boolean {
  const kind = isIP(address);
  if (kind === 4) {
    const [a = 0, b = 0] = v4(address) ?? [];
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127)
    );
  }
  if (kind === 6) {
    const lower = address.toLowerCase();
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped) return isPrivateAddress(mapped[1]!);
    if (lower === '::' || lower === '::1') return true;
    const first = parseInt(lower.split(':')[0] || '0', 16);
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
  }
  return false;
}

/** Thrown when a webhook target resolves to an address it may not reach. */
export class PrivateTargetError extends Error {
  readonly code = 'PRIVATE_TARGET';
  constructor(address: string, host: string) {
    super(
      `refusing to deliver to ${host} (${address}): private, loopback and link-local targets are not allowed on this server`,
    );
    this.name = 'PrivateTargetError';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http.request that refuses private addresses. */
export function publicOnlyLookup(hostname: string, options: object, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const list = addresses;
    const blocked = list.find((a) => isPrivateAddress(a.address));
    if (blocked !== undefined) return callback(new PrivateTargetError(blocked.address, hostname), '');
    if ((options as { all?: boolean }).all === true) return callback(null, list);
    const first = list[0];
    if (first === undefined) return callback(new Error(`no address for ${hostname}`), '');
    callback(null, first.address, first.family);
  });
}
