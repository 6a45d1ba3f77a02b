import { createHash } from "node:crypto";
import { encodePng, renderPattern } from "./png";

/** Sizes the simulator draws, keyed by aspect ratio. */
export const RATIO_SIZES: Record<string, { width: number; height: number }> = {
  "1:1": { width: 1024, height: 1024 },
  "3:2": { width: 1536, height: 1024 },
  "2:3": { width: 1024, height: 1536 },
};

const ID_PATTERN = /^([0-9a-z_]+)-(\d{3,4})x(\d{3,4})$/;
const CACHE_LIMIT = 32;

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

/** Renders PNGs for image ids; the same id always gives the same bytes. */
export class ImageStore {
  private readonly cache = new Map<string, Buffer>();

  /** The PNG for `id`, or null if the id does not encode a known size. */
  png(id: string): Buffer | null {
    const cached = this.cache.get(id);
    if (cached !== undefined) return cached;
    const size = sizeOfImageId(id);
    if (size === null) return null;
    const png = encodePng(size.width, size.height, renderPattern(id, size.width, size.height));
    if (this.cache.size >= CACHE_LIMIT) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(id, png);
    return png;
  }
}
