import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createJob, createPrismaClient, createTenantWithKey, type PrismaClient } from "@darkroom/db";
import { JobCreateSchema } from "@darkroom/domain";
import { LocalDiskStorage } from "@darkroom/storage";
import { createTestDatabase, type TestDatabase } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyRetention } from "./reconciler";

let database: TestDatabase;
let db: PrismaClient;
let storage: LocalDiskStorage;
let dir: string;
beforeAll(async () => {
  database = await createTestDatabase("retention");
  db = createPrismaClient({ databaseUrl: database.url, poolSize: 2 });
  dir = await mkdtemp(path.join(tmpdir(), "darkroom-retention-"));
  storage = new LocalDiskStorage(dir);
});
afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;

async function job(
  tenantId: string,
  status: "succeeded" | "failed" | "canceled" | "running",
  finishedDaysAgo: number | null,
) {
  const created = await createJob(db, { tenantId, input: JobCreateSchema.parse({ prompt: "p" }) });
  const finishedAt = finishedDaysAgo === null ? null : new Date(Date.now() - finishedDaysAgo * DAY);
  await db.job.update({ where: { id: created.id }, data: { status, finishedAt } });
  const key = `${created.id}/0-test.png`;
  await storage.put(key, Buffer.from("png bytes"));
  await db.image.create({
    data: {
      id: `img_${created.id}`,
      jobId: created.id,
      index: 0,
      storageKey: key,
      contentType: "image/png",
      bytes: 9,
      sha256: "x",
    },
  });
  return { id: created.id, key };
}

describe("retention", () => {
  it("removes terminal jobs older than RETENTION_DAYS with their images, events and files, in batches", async () => {
    const { tenantId } = await createTenantWithKey(db, "t");
    const old = await Promise.all([
      job(tenantId, "succeeded", 31),
      job(tenantId, "failed", 45),
      job(tenantId, "canceled", 400),
    ]);
    const keep = await Promise.all([
      job(tenantId, "succeeded", 29),
      job(tenantId, "running", null),
      job(tenantId, "queued" as "running", null),
    ]);

    expect(await applyRetention(db, storage, 30, 2)).toBe(3);

    const left = (await db.job.findMany({ select: { id: true } })).map((j) => j.id).sort();
    expect(left).toEqual(keep.map((j) => j.id).sort());
    for (const gone of old) {
      expect(await storage.exists(gone.key)).toBe(false);
      expect(await db.jobEvent.count({ where: { jobId: gone.id } })).toBe(0);
      expect(await db.image.count({ where: { jobId: gone.id } })).toBe(0);
    }
    for (const kept of keep) expect(await storage.exists(kept.key)).toBe(true);
    expect(await applyRetention(db, storage, 30)).toBe(0);
  });
});
