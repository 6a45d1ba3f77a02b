import { JobCreateSchema } from "@darkroom/domain";
import { createTestDatabase, type TestDatabase } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminJobsExtent, countAdminJobs, listAdminJobIds } from "./admin-job-filter";
import { createPrismaClient, type PrismaClient } from "./client";
import { createJob } from "./jobs";
import { createTenantWithKey } from "./tenants";

let database: TestDatabase;
let db: PrismaClient;
beforeAll(async () => {
  database = await createTestDatabase("admin-job-filter");
  db = createPrismaClient({ databaseUrl: database.url, poolSize: 2 });
});
afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
});

describe("a bulk action's extent", () => {
  it("counts the matching jobs and names the newest in one statement; none matching gives 0 and null", async () => {
    const ids: Record<string, string[]> = { a: [], b: [] };
    for (const name of ["a", "b"] as const) {
      const { tenantId } = await createTenantWithKey(db, name);
      for (let i = 0; i < 3; i++) {
        const input = JobCreateSchema.parse({ prompt: `extent ${name} ${i}` });
        ids[name]?.push((await createJob(db, { tenantId, input })).id);
      }
    }
    const [tenantA] = await db.tenant.findMany({ where: { name: "a" }, select: { id: true } });
    const filter = { tenant: tenantA?.id };
    const matching = await listAdminJobIds(db, filter, { limit: 10 });
    expect(matching).toEqual([...(ids.a ?? [])].sort());
    expect(await adminJobsExtent(db, filter)).toEqual({ count: 3, newestId: matching.at(-1) });
    expect(await adminJobsExtent(db, filter)).toEqual({
      count: await countAdminJobs(db, filter),
      newestId: ids.a?.[2],
    });
    expect(await adminJobsExtent(db, { q: "nothing-matches-this" })).toEqual({ count: 0, newestId: null });
  });
});
