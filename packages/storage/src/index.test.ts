import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
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

  it("writes small images inline and large ones through the thread pool, alike", async () => {
    const root = path.join(dir, "sizes");
    // Images of up to 8 bytes are written inline here: one image on each side of the limit.
    const storage = new LocalDiskStorage(root, 8);
    for (const [key, bytes] of [
      ["ab/small.png", Buffer.from("8 bytes!")],
      ["ab/large.png", Buffer.alloc(64 * 1024, 7)],
    ] as const) {
      await storage.put(key, bytes);
      expect(await storage.get(key)).toEqual(bytes);
      expect(await modeOf(path.join(root, key)), key).toBe(0o600);
    }
    // Only the images are left: no temp file of either write.
    expect((await readdir(path.join(root, "ab"))).sort()).toEqual(["large.png", "small.png"]);
    // Inline, the file is in place before put() first yields; through the pool it is not yet.
    const inline = storage.put("ab/again-small.png", Buffer.from("small"));
    const pooled = storage.put("ab/again-large.png", Buffer.alloc(1024, 1));
    expect(existsSync(path.join(root, "ab", "again-small.png"))).toBe(true);
    expect(existsSync(path.join(root, "ab", "again-large.png"))).toBe(false);
    await Promise.all([inline, pooled]);
    expect(existsSync(path.join(root, "ab", "again-large.png"))).toBe(true);
  });

  it("makes a folder again when it was removed after this process made it", async () => {
    const root = path.join(dir, "removed");
    const storage = new LocalDiskStorage(root);
    await storage.put("cd/first.png", Buffer.from("first"));
    await rm(path.join(root, "cd"), { recursive: true });
    await storage.put("cd/second.png", Buffer.from("second"));
    expect(await storage.get("cd/second.png")).toEqual(Buffer.from("second"));
    expect(await modeOf(path.join(root, "cd"))).toBe(0o700);
    // The same through the thread pool.
    const pooled = new LocalDiskStorage(root, 0);
    await pooled.put("ef/first.png", Buffer.from("first"));
    await rm(path.join(root, "ef"), { recursive: true });
    await pooled.put("ef/second.png", Buffer.from("second"));
    expect(await pooled.get("ef/second.png")).toEqual(Buffer.from("second"));
  });
});

describe("image keys", () => {
  it("are addressed by the bytes' SHA-256, which is also the recorded checksum", () => {
    const bytes = Buffer.from("an image");
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    expect(imageDigest(bytes)).toBe(sha256);
    // One of 256 folders, named by the digest's first two hex digits, not a folder per job.
    expect(imageKey("job_1", 2, sha256, "png")).toBe(`${sha256.slice(0, 2)}/job_1-2-${sha256.slice(0, 16)}.png`);
  });
});
