import {
  type CompleteInput,
  createJob,
  createPrismaClient,
  createTenantWithKey,
  type PrismaClient,
} from "@darkroom/db";
import { JobCreateSchema } from "@darkroom/domain";
import { createLogger } from "@darkroom/logger";
import { createTestDatabase, type TestDatabase } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAttemptBatchers } from "./attempt-batchers";

/**
 * The processor's claims and completions as it makes them: many jobs' calls in one statement,
 * each answered on its own, against the real database.
 */

let database: TestDatabase;
let db: PrismaClient;
let tenantId: string;
let batchers: ReturnType<typeof createAttemptBatchers>;
beforeAll(async () => {
  database = await createTestDatabase("attempt-batchers");
  db = createPrismaClient({ databaseUrl: database.url, poolSize: 4 });
  tenantId = (await createTenantWithKey(db, "t")).tenantId;
  batchers = createAttemptBatchers({
    db,
    config: { workerId: "worker-1", leaseMs: 30_000 },
    logger: createLogger({ name: "test", level: "silent", pretty: false }),
  });
});
afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
});

async function newJobs(count: number): Promise<string[]> {
  const input = JobCreateSchema.parse({ prompt: "a batch of lighthouses" });
  return Promise.all(Array.from({ length: count }, async () => (await createJob(db, { tenantId, input })).id));
}

/** The transactions that last wrote these jobs' rows: one when a single statement wrote them all. */
async function writers(ids: string[]): Promise<number> {
  const rows = await db.$queryRaw<{ n: bigint }[]>`
    SELECT count(DISTINCT xmin::text) AS n FROM "Job" WHERE id = ANY(${ids}::text[])`;
  return Number(rows[0]?.n);
}

function completion(jobId: string, bytes = 100): CompleteInput {
  return {
    jobId,
    attempt: 1,
    model: "gpt-4o-image",
    images: [
      {
        index: 0,
        storageKey: `${jobId}/0-abc.png`,
        contentType: "image/png",
        bytes,
        sha256: "ab".repeat(32),
        width: 1024,
        height: 1024,
        sourceUrl: null,
      },
    ],
    usage: null,
    costMicroUsd: 0,
    facts: {},
  };
}

describe("claims and completions batched across jobs", () => {
  it("claims and finishes the jobs of one turn in one statement each", async () => {
    const ids = await newJobs(12);
    const claims = await Promise.all(ids.map((jobId) => batchers.claims.submit({ jobId, circuitOpen: [] })));
    expect(claims.map((c) => c?.job.id)).toEqual(ids);
    expect(claims.every((c) => c?.attempt === 1)).toBe(true);
    expect(await writers(ids)).toBe(1);
    // A job claimed already is refused alone, in a batch with a claimable one.
    const [again] = await newJobs(1);
    const [first] = ids;
    if (again === undefined || first === undefined) throw new Error("unreachable");
    const second = await Promise.all([first, again].map((jobId) => batchers.claims.submit({ jobId, circuitOpen: [] })));
    expect(second.map((c) => c?.job.id ?? null)).toEqual([null, again]);

    const owned = await Promise.all(ids.map((id) => batchers.completions.submit(completion(id))));
    expect(owned).toEqual(ids.map(() => true));
    expect(await writers(ids)).toBe(1);
    expect(await db.job.count({ where: { id: { in: ids }, status: "succeeded" } })).toBe(ids.length);
  });

  it("refuses a fenced-out completion alone while the others of its batch succeed", async () => {
    const ids = await newJobs(5);
    await Promise.all(ids.map((jobId) => batchers.claims.submit({ jobId, circuitOpen: [] })));
    const [stale] = ids;
    if (stale === undefined) throw new Error("unreachable");
    await db.job.update({ where: { id: stale }, data: { attempt: 2 } });
    const owned = await Promise.all(ids.map((id) => batchers.completions.submit(completion(id))));
    expect(owned).toEqual([false, true, true, true, true]);
    expect(await db.job.findUniqueOrThrow({ where: { id: stale } })).toMatchObject({ status: "running" });
  });

  it("a completion the database refuses fails alone: the others of its batch are not lost", async () => {
    const ids = await newJobs(6);
    await Promise.all(ids.map((jobId) => batchers.claims.submit({ jobId, circuitOpen: [] })));
    const [bad] = ids;
    if (bad === undefined) throw new Error("unreachable");
    // Out of the column's range: the whole statement fails, so each completion is sent again alone.
    const results = await Promise.allSettled(
      ids.map((id) => batchers.completions.submit(completion(id, id === bad ? 2 ** 40 : 100))),
    );
    expect(results[0]?.status).toBe("rejected");
    expect(results.slice(1)).toEqual(ids.slice(1).map(() => ({ status: "fulfilled", value: true })));
    expect(await db.job.findUniqueOrThrow({ where: { id: bad } })).toMatchObject({ status: "running" });
    expect(await db.job.count({ where: { id: { in: ids.slice(1) }, status: "succeeded" } })).toBe(5);
  });
});
