import { createHash } from "node:crypto";
import { chunk, encodePng, renderPattern } from "./png";

/** Sizes the simulator draws, keyed by aspect ratio. */
export const RATIO_SIZES: Record<string, { width: number; height: number }> = {
  "1:1": { width: 1024, height: 1024 },
  "3:2": { width: 1536, height: 1024 },
  "2:3": { width: 1024, height: 1536 },
};

const ID_PATTERN = /^([0-9a-z_]+)-(\d{3,4})x(\d{3,4})$/;
const CACHE_LIMIT = 32;
/** Pictures drawn per size; each id picks one and is made unique by a text chunk naming it. */
const VARIANTS = 8;
/** The PNG's IEND chunk (length 0, type, CRC): always its last 12 bytes. */
const IEND_BYTES = 12;

/** Builds an image id that carries its size, e.g. `9f2c…-1536x1024`. */
export function makeImageId(seed: string, width: number, height: number): string {
  const hash = createHash("sha256").update(seed).digest("hex").slice(0, 20);
  return `${hash}-${width}x${height}`;
}

/** Size encoded in an image id, or null when the id is not one of ours. */
export function sizeOfImageId(id: string): { width: number; height: number } | null {
  const match = ID_PATTERN.exec(id);
  if (match?.[2] === undefined || match[3] === undefined) return null;
  const width = Number(match[2]);
  const height = Number(match[3]);
  const known = Object.values(RATIO_SIZES).some((size) => size.width === width && size.height === height);
  return known ? { width, height } : null;
}

/**
 * PNGs for image ids; the same id always gives the same bytes, and two ids never the same bytes.
 * Drawing and deflating a 1024x1024 picture costs about 125 ms of this process's CPU, which would
 * make the stand-in the slowest part of every test with many jobs: each size is drawn in
 * `VARIANTS` pictures once, and an id's PNG is one of them with a `tEXt` chunk carrying the id.
 */
export class ImageStore {
  private readonly cache = new Map<string, Buffer>();
  private readonly drawn = new Map<string, Buffer>();

  /** The PNG for `id`, or null if the id does not encode a known size. */
  png(id: string): Buffer | null {
    const cached = this.cache.get(id);
    if (cached !== undefined) return cached;
    const size = sizeOfImageId(id);
    if (size === null) return null;
    const variant = (createHash("sha256").update(id).digest()[0] ?? 0) % VARIANTS;
    const key = `${size.width}x${size.height}:${variant}`;
    let base = this.drawn.get(key);
    if (base === undefined) {
      base = encodePng(size.width, size.height, renderPattern(key, size.width, size.height));
      this.drawn.set(key, base);
    }
    const text = chunk("tEXt", Buffer.from(`darkroom-simulator-image\0${id}`, "latin1"));
    const png = Buffer.concat([
      base.subarray(0, base.length - IEND_BYTES),
      text,
      base.subarray(base.length - IEND_BYTES),
    ]);
    if (this.cache.size >= CACHE_LIMIT) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(id, png);
    return png;
  }
}
