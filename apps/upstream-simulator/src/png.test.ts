import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ImageStore, makeImageId, sizeOfImageId } from "./image-store";
import { crc32, encodePng } from "./png";

function idat(png: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    expect(png.readUInt32BE(offset + 8 + length)).toBe(crc32(png.subarray(offset + 4, offset + 8 + length)));
    if (type === "IDAT") parts.push(data);
    offset += 12 + length;
  }
  return inflateSync(Buffer.concat(parts));
}

describe("png", () => {
  it("crc32 matches the standard check value", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
  });

  it("encodes RGB pixels that decode back", () => {
    const pixels = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]);
    const png = encodePng(2, 2, pixels);
    expect(png.readUInt32BE(16)).toBe(2);
    expect(png.readUInt32BE(20)).toBe(2);
    expect(idat(png)).toEqual(Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 9, 9, 9]));
  });

  it("renders the same bytes for the same id, different ones otherwise, never one flat colour", () => {
    const id = makeImageId("seed-a", 1536, 1024);
    expect(sizeOfImageId(id)).toEqual({ width: 1536, height: 1024 });
    const first = new ImageStore().png(id);
    const second = new ImageStore().png(id);
    const other = new ImageStore().png(makeImageId("seed-b", 1536, 1024));
    expect(first?.equals(second ?? Buffer.alloc(0))).toBe(true);
    expect(first?.equals(other ?? Buffer.alloc(0))).toBe(false);
    const raw = idat(first ?? Buffer.alloc(0));
    const colours = new Set<string>();
    for (let i = 1; i < 3 * 1536 + 1; i += 3 * 97) colours.add(raw.subarray(i, i + 3).toString("hex"));
    expect(colours.size).toBeGreaterThan(3);
  });

  it("refuses ids without a known size", () => {
    expect(new ImageStore().png("abc-99x99")).toBeNull();
    expect(new ImageStore().png("../../etc/passwd")).toBeNull();
  });
});
