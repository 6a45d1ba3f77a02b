import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileWriterThread, startWriterThread } from "./file-writer";
import { digestImage, imageDigest, imageKey, LocalDiskStorage } from "./index";

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

  it("writes small images from its writer thread, a turn's writes in one batch, and large ones through the pool", async () => {
    const root = path.join(dir, "sizes");
    // Images from 9 bytes up are large here: one image on each side of the limit.
    const storage = new LocalDiskStorage(root, 9);
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
    // One thread of its own (not the event loop's, thread 0) wrote the small one, in one batch.
    expect(storage.writer.threadId).toBeGreaterThan(0);
    expect(storage.writer.batchesSent).toBe(1);
    // Twenty small writes asked for in one turn of the event loop: one more batch, not twenty.
    const small = Array.from({ length: 20 }, (_, i) => [`ab/batch-${i}.png`, Buffer.from(`img ${i}`)] as const);
    await Promise.all(small.map(([key, bytes]) => storage.put(key, bytes)));
    expect(storage.writer.batchesSent).toBe(2);
    for (const [key, bytes] of small) {
      expect(await storage.get(key)).toEqual(bytes);
      expect(await modeOf(path.join(root, key)), key).toBe(0o600);
    }
    // A large one is written through the pool, so the writer thread gets nothing more.
    await storage.put("ab/again-large.png", Buffer.alloc(1024, 1));
    expect(existsSync(path.join(root, "ab", "again-large.png"))).toBe(true);
    expect(storage.writer.batchesSent).toBe(2);
  });

  it("fails a write with the file system's error, leaving no temp file", async () => {
    const root = path.join(dir, "failing");
    const storage = new LocalDiskStorage(root);
    await storage.put("gh/first.png", Buffer.from("first"));
    // The image's folder is replaced by a file: the write fails with the error of the call that failed.
    await rm(path.join(root, "gh"), { recursive: true });
    await writeFile(path.join(root, "gh"), "not a folder");
    await expect(storage.put("gh/second.png", Buffer.from("second"))).rejects.toMatchObject({
      code: "ENOTDIR",
      syscall: "open",
      message: expect.stringContaining(path.join(root, "gh", "second.png")),
    });
    await rm(path.join(root, "gh"));
    // The rename fails (a folder holds the image's name): the temp file written first goes too.
    await mkdir(path.join(root, "mn", "taken.png"), { recursive: true });
    await expect(storage.put("mn/taken.png", Buffer.from("bytes"))).rejects.toMatchObject({ syscall: "rename" });
    expect(await readdir(path.join(root, "mn"))).toEqual(["taken.png"]);
    // The same through libuv's thread pool (every image is large here).
    const pooled = new LocalDiskStorage(root, 0);
    await expect(pooled.put("mn/taken.png", Buffer.from("bytes"))).rejects.toMatchObject({ syscall: "rename" });
    expect(await readdir(path.join(root, "mn"))).toEqual(["taken.png"]);
  });

  it("fails the writes a dying writer thread held, saying so, and starts another for the next", async () => {
    const storage = new LocalDiskStorage(path.join(dir, "dying"));
    await storage.put("ij/first.png", Buffer.from("first"));
    const first = storage.writer.threadId;
    const many = Array.from({ length: 2000 }, (_, i) => storage.put(`ij/${i}.png`, Buffer.from(`img ${i}`)));
    // The batch is sent in the turn's check phase, before this wait ends.
    await new Promise((resolve) => setImmediate(resolve));
    await storage.writer.stop();
    const outcomes = await Promise.allSettled(many);
    const dropped = outcomes.flatMap((o) => (o.status === "rejected" ? [String(o.reason)] : []));
    expect(dropped.length).toBeGreaterThan(0);
    expect(new Set(dropped)).toEqual(
      new Set(["Error: the file writer thread exited with code 1 before the write ended"]),
    );
    // What was reported written is there.
    for (const [i, o] of outcomes.entries())
      if (o.status === "fulfilled") expect(await storage.get(`ij/${i}.png`)).toEqual(Buffer.from(`img ${i}`));
    await storage.put("kl/after.png", Buffer.from("after"));
    expect(await storage.get("kl/after.png")).toEqual(Buffer.from("after"));
    expect(storage.writer.threadId).not.toBe(first);
  });

  it("fails a batch's writes when the writer thread cannot start, saying so, and tries again for the next", async () => {
    const root = path.join(dir, "nothread");
    await mkdir(root, { recursive: true });
    let starts = 0;
    const writer = new FileWriterThread(() => {
      starts += 1;
      if (starts === 1) throw new Error("Worker initialization failure: EAGAIN");
      return startWriterThread();
    });
    const file = (name: string) => path.join(root, name);
    const failed = await Promise.allSettled([
      writer.write(file("a.tmp"), file("a.png"), Buffer.from("a"), 0o600),
      writer.write(file("b.tmp"), file("b.png"), Buffer.from("b"), 0o600),
    ]);
    expect(failed.map((o) => (o.status === "rejected" ? String(o.reason) : "written"))).toEqual([
      "Error: the file writer thread could not start (Worker initialization failure: EAGAIN)",
      "Error: the file writer thread could not start (Worker initialization failure: EAGAIN)",
    ]);
    await writer.write(file("c.tmp"), file("c.png"), Buffer.from("c"), 0o600);
    expect(await readFile(file("c.png"), "utf8")).toBe("c");
    expect(starts).toBe(2);
    await writer.stop();
  });

  it("makes a folder again when it was removed after this process made it", async () => {
    const root = path.join(dir, "removed");
    const storage = new LocalDiskStorage(root);
    await storage.put("cd/first.png", Buffer.from("first"));
    await rm(path.join(root, "cd"), { recursive: true });
    await storage.put("cd/second.png", Buffer.from("second"));
    expect(await storage.get("cd/second.png")).toEqual(Buffer.from("second"));
    expect(await modeOf(path.join(root, "cd"))).toBe(0o700);
    // The same through libuv's thread pool.
    const pooled = new LocalDiskStorage(root, 0);
    await pooled.put("ef/first.png", Buffer.from("first"));
    await rm(path.join(root, "ef"), { recursive: true });
    await pooled.put("ef/second.png", Buffer.from("second"));
    expect(await pooled.get("ef/second.png")).toEqual(Buffer.from("second"));
  });
});

describe("image digests", () => {
  it("are the SHA-256 of the bytes, whether hashed in place or on the pool", async () => {
    for (const bytes of [Buffer.from("small image"), Buffer.alloc(300 * 1024, 9)]) {
      expect(await digestImage(bytes)).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
    // A view into a larger buffer hashes its own bytes only.
    const view = Buffer.alloc(600 * 1024, 3).subarray(1000, 1000 + 300 * 1024);
    expect(await digestImage(view)).toBe(createHash("sha256").update(view).digest("hex"));
  });

  it("of large images leave the event loop free while they are computed", async () => {
    // 64 MB takes tens of milliseconds to hash: hashed in place, no timer could fire meanwhile.
    const large = Buffer.alloc(64 * 1024 * 1024, 5);
    let ticks = 0;
    const timer = setInterval(() => {
      ticks += 1;
    }, 1);
    try {
      const digest = await digestImage(large);
      expect(ticks).toBeGreaterThan(0);
      expect(digest).toBe(imageDigest(large));
    } finally {
      clearInterval(timer);
    }
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
