import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC), as PNG chunks use it. */
export function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** Encodes 8-bit RGB pixels (`width * height * 3` bytes, row-major) as a PNG. */
export function encodePng(width: number, height: number, rgb: Buffer): Buffer {
  if (rgb.length !== width * height * 3) throw new Error("pixel buffer does not match the dimensions");
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y += 1) {
    raw[y * (stride + 1)] = 0; // filter type None
    rgb.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8); // bit depth
  header.writeUInt8(2, 9); // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw, { level: 6 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Half the width of the test picture's ring, in pixels. */
const RING_HALF_WIDTH = 12;

/**
 * A deterministic test picture for `seed`: a two-colour checkerboard under a diagonal gradient
 * and a ring, so every image is visibly different and never one flat colour. What depends on one
 * axis only is worked out once per column or row, and the ring is found on squared distances
 * (no square root per pixel): a 1024x1024 picture draws in about 15 ms instead of ~100.
 */
export function renderPattern(seed: string, width: number, height: number): Buffer {
  const digest = createHash("sha256").update(seed).digest();
  const at = (index: number): number => digest[index] ?? 0;
  const cell = 32 + (at(9) % 4) * 16;
  const cx = width * (0.3 + (at(10) / 255) * 0.4);
  const cy = height * (0.3 + (at(11) / 255) * 0.4);
  const radius = Math.min(width, height) * (0.2 + (at(12) / 255) * 0.15);
  // On the ring: |distance - radius| < RING_HALF_WIDTH, that is inner² < distance² < outer².
  const inner = Math.max(0, radius - RING_HALF_WIDTH) ** 2;
  const outer = (radius + RING_HALF_WIDTH) ** 2;
  const [ringR, ringG, ringB] = [255 - at(6), 255 - at(7), 255 - at(8)];
  const columnCell = new Uint8Array(width);
  const columnDx2 = new Float64Array(width);
  for (let x = 0; x < width; x += 1) {
    columnCell[x] = Math.floor(x / cell) & 1;
    columnDx2[x] = (x - cx) ** 2;
  }
  const rgb = Buffer.alloc(width * height * 3);
  let offset = 0;
  for (let y = 0; y < height; y += 1) {
    const rowCell = Math.floor(y / cell) & 1;
    const dy2 = (y - cy) ** 2;
    for (let x = 0; x < width; x += 1) {
      const distance2 = (columnDx2[x] ?? 0) + dy2;
      if (distance2 > inner && distance2 < outer) {
        rgb[offset] = ringR;
        rgb[offset + 1] = ringG;
        rgb[offset + 2] = ringB;
      } else {
        const base = ((columnCell[x] ?? 0) ^ rowCell) === 0 ? 0 : 3;
        const shade = Math.floor(((x + y) * 96) / (width + height));
        rgb[offset] = (at(base) + shade) & 0xff;
        rgb[offset + 1] = (at(base + 1) + shade) & 0xff;
        rgb[offset + 2] = (at(base + 2) + (96 - shade)) & 0xff;
      }
      offset += 3;
    }
  }
  return rgb;
}
