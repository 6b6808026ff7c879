/**
 * Time-ordered UUIDs (version 7, RFC 9562 §5.7) for event ids.
 *
 * Layout: 48-bit Unix milliseconds, version nibble, a 42-bit counter spread over `rand_a` and the top
 * of `rand_b` (RFC 9562 §6.2 method 1, seeded at random each millisecond), and 32 random bits.
 * Ids from one generator sort in creation order, also within one millisecond and when the clock
 * steps back (the generator keeps its last timestamp until the clock catches up).
 */
/** Options for {@link createUuidV7Generator}. */
export interface UuidV7Options {
  /**
   * Milliseconds since the Unix epoch.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Fills a byte array with random bytes.
   * @default globalThis.crypto.getRandomValues (Web Crypto, so the core needs no `node:` import)
   */
  randomFill?: (bytes: Uint8Array) => void;
}

const COUNTER_BITS = 42;
const COUNTER_MAX = 2 ** COUNTER_BITS - 1;
const LOW_BITS = 2 ** 30;
const TIMESTAMP_MAX = 2 ** 48 - 1;

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Web Crypto randomness drawn from a 4 KiB pool: one `getRandomValues` call per ~700 ids instead of
 * one or two per id, which made id generation the largest cost of a batched publish.
 */
function pooledRandomFill(): (bytes: Uint8Array) => void {
  const pool = new Uint8Array(4096);
  let offset = pool.length;
  return (bytes) => {
    if (offset + bytes.length > pool.length) {
      crypto.getRandomValues(pool);
      offset = 0;
    }
    bytes.set(pool.subarray(offset, offset + bytes.length));
    offset += bytes.length;
  };
}

/**
 * Creates a UUIDv7 generator with its own monotonic state.
 *
 * @example
 * ```ts
 * const next = createUuidV7Generator({ now: () => 1_700_000_000_000 });
 * next() < next(); // true: same millisecond, still ordered
 * ```
 */
export function createUuidV7Generator(options: UuidV7Options = {}): () => string {
  const now = options.now ?? Date.now;
  const randomFill = options.randomFill ?? pooledRandomFill();
  const bytes = new Uint8Array(16);
  const seed = new Uint8Array(6);
  let lastMs = -1;
  let counter = 0;

  function reseed(): void {
    randomFill(seed);
    // 41 random bits: the counter's top bit starts at 0 so a millisecond has at least 2^41 ids of room.
    counter =
      (seed[0]! & 0x01) * 2 ** 40 +
      seed[1]! * 2 ** 32 +
      seed[2]! * 2 ** 24 +
      seed[3]! * 2 ** 16 +
      seed[4]! * 2 ** 8 +
      seed[5]!;
  }

  return function uuidv7(): string {
    const ms = Math.floor(now());
    if (!Number.isSafeInteger(ms) || ms < 0 || ms > TIMESTAMP_MAX) {
      throw new RangeError(`Expected the clock to return milliseconds from 0 to 2^48-1, got ${String(ms)}`);
    }
    if (ms > lastMs) {
      lastMs = ms;
      reseed();
    } else if (counter < COUNTER_MAX) {
      counter += 1;
    } else {
      // Counter exhausted: borrow the next millisecond (RFC 9562 §6.2 allows it to keep order).
      lastMs += 1;
      reseed();
    }

    const high = Math.floor(counter / LOW_BITS); // 12 bits
    const low = counter % LOW_BITS; // 30 bits
    const msHigh = Math.floor(lastMs / 2 ** 16);
    const msLow = lastMs % 2 ** 16;
    bytes[0] = (msHigh >>> 24) & 0xff;
    bytes[1] = (msHigh >>> 16) & 0xff;
    bytes[2] = (msHigh >>> 8) & 0xff;
    bytes[3] = msHigh & 0xff;
    bytes[4] = (msLow >>> 8) & 0xff;
    bytes[5] = msLow & 0xff;
    bytes[6] = 0x70 | (high >>> 8);
    bytes[7] = high & 0xff;
    bytes[8] = 0x80 | (low >>> 24);
    bytes[9] = (low >>> 16) & 0xff;
    bytes[10] = (low >>> 8) & 0xff;
    bytes[11] = low & 0xff;
    randomFill(bytes.subarray(12));

    let out = '';
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
      out += HEX[bytes[i]!]!;
    }
    return out;
  };
}

/**
 * Returns a new UUIDv7 from the process-wide generator (wall clock, crypto randomness).
 *
 * @example
 * ```ts
 * uuidv7(); // '0190f0c6-8a3e-7b12-9c4d-1f2e3a4b5c6d'
 * ```
 */
export const uuidv7: () => string = createUuidV7Generator();

/** Matches a UUIDv7 in canonical lower-case form. */
export const UUIDV7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
