import { randomFillSync } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Random bytes are drawn 4 KiB at a time (one call per 256 ids instead of one per id), as
// crypto.randomUUID does with its own cache; the bytes are the same CSPRNG's.
const POOL = Buffer.alloc(4096);
let poolOffset = POOL.length;

function random16(): Buffer {
  if (poolOffset + 16 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const bytes = POOL.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return bytes;
}

/** A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, lexically sortable by time. */
export function ulid(now: number = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD.charAt(t % 32) + time;
    t = Math.floor(t / 32);
  }
  const bytes = random16();
  let random = "";
  for (let i = 0; i < 16; i++) random += CROCKFORD.charAt((bytes[i] ?? 0) % 32);
  return time + random;
}

export type IdPrefix = "job" | "ten" | "key" | "att" | "evt" | "whd" | "img" | "req" | "bulk";

/** A prefixed, sortable id such as `job_01J…`. */
export function newId(prefix: IdPrefix, now?: number): string {
  return `${prefix}_${ulid(now)}`;
}

const ID_PATTERNS = new Map<string, RegExp>();

/** True when `value` looks like an id with that prefix. */
export function isId(prefix: IdPrefix, value: string): boolean {
  let pattern = ID_PATTERNS.get(prefix);
  if (pattern === undefined) {
    pattern = new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`);
    ID_PATTERNS.set(prefix, pattern);
  }
  return pattern.test(value);
}
