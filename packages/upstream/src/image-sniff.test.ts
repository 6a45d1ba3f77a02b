import { encodePng } from "@darkroom/upstream-simulator";
import { describe, expect, it } from "vitest";
import { sniffImage } from "./image-sniff";

function jpeg(width: number, height: number): Buffer {
  const app0 = Buffer.from([
    0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
  ]);
  const sof = Buffer.alloc(19);
  sof.set([0xff, 0xc2, 0x00, 0x11, 0x08]);
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof, Buffer.from([0xff, 0xd9])]);
}

function riff(chunk: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(20);
  head.write("RIFF", 0, "latin1");
  head.writeUInt32LE(12 + payload.length, 4);
  head.write("WEBP", 8, "latin1");
  head.write(chunk, 12, "latin1");
  head.writeUInt32LE(payload.length, 16);
  return Buffer.concat([head, payload]);
}

describe("sniffImage", () => {
  it("reads PNG IHDR", () => {
    expect(sniffImage(encodePng(3, 2, Buffer.alloc(18, 7)))).toEqual({ contentType: "image/png", width: 3, height: 2 });
  });

  it("reads JPEG SOF (skipping APPn segments)", () => {
    expect(sniffImage(jpeg(1536, 1024))).toEqual({ contentType: "image/jpeg", width: 1536, height: 1024 });
  });

  it("reads WebP VP8, VP8L and VP8X", () => {
    const vp8 = Buffer.alloc(12);
    vp8.set([0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a]);
    vp8.writeUInt16LE(1024, 6);
    vp8.writeUInt16LE(768, 8);
    expect(sniffImage(riff("VP8 ", vp8))).toEqual({ contentType: "image/webp", width: 1024, height: 768 });

    const vp8l = Buffer.alloc(10);
    vp8l[0] = 0x2f;
    vp8l.writeUInt32LE((1024 - 1) | ((1536 - 1) << 14), 1);
    expect(sniffImage(riff("VP8L", vp8l))).toEqual({ contentType: "image/webp", width: 1024, height: 1536 });

    const vp8x = Buffer.alloc(10);
    vp8x.writeUIntLE(1535, 4, 3);
    vp8x.writeUIntLE(1023, 7, 3);
    expect(sniffImage(riff("VP8X", vp8x))).toEqual({ contentType: "image/webp", width: 1536, height: 1024 });
  });

  it("rejects everything else", () => {
    expect(sniffImage(Buffer.from("<!DOCTYPE html><html></html>"))).toBeNull();
    expect(sniffImage(Buffer.alloc(0))).toBeNull();
    expect(sniffImage(encodePng(3, 2, Buffer.alloc(18)).subarray(0, 20))).toBeNull();
    expect(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))).toBeNull();
  });
});
