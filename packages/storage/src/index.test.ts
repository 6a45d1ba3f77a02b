import { createHash } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageDigest, imageKey, LocalDiskStorage } from "./index";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "darkroom-storage-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const modeOf = async (file: string) => (await stat(file)).mode & 0o777;

describe("LocalDiskStorage", () => {
  it("stores image files and the directories it creates for their owner only", async () => {
    // A root that does not exist yet, two levels down: every directory put() creates is checked.
    const root = path.join(dir, "data", "images");
    const storage = new LocalDiskStorage(root);
    await storage.put("job_1/0-abc.png", Buffer.from("png bytes"));
    expect(await storage.get("job_1/0-abc.png")).toEqual(Buffer.from("png bytes"));
    expect(await modeOf(path.join(root, "job_1", "0-abc.png"))).toBe(0o600);
    for (const created of [path.join(dir, "data"), root, path.join(root, "job_1")])
      expect(await modeOf(created), created).toBe(0o700);
    // Overwriting goes through a new temp file, so a replaced image is owner-only too.
    await storage.put("job_1/0-abc.png", Buffer.from("other bytes"));
    expect(await modeOf(path.join(root, "job_1", "0-abc.png"))).toBe(0o600);
  });
});

describe("image keys", () => {
  it("are addressed by the bytes' SHA-256, which is also the recorded checksum", () => {
    const bytes = Buffer.from("an image");
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    expect(imageDigest(bytes)).toBe(sha256);
    expect(imageKey("job_1", 2, sha256, "png")).toBe(`job_1/2-${sha256.slice(0, 16)}.png`);
  });
});
