import { JobCreateSchema } from "@darkroom/domain";
import { describe, expect, it } from "vitest";
import { adminJobsExtent, countAdminJobs, listAdminJobIds } from "./admin-job-filter";
import { createJob } from "./jobs";
import { createTenantWithKey } from "./tenants";
import { useTestDatabase } from "./use-test-database";

const t = useTestDatabase("admin-job-filter");

describe("a bulk action's extent", () => {
  it("counts the matching jobs and names the newest in one statement; none matching gives 0 and null", async () => {
    const ids: Record<string, string[]> = { a: [], b: [] };
    for (const name of ["a", "b"] as const) {
      const { tenantId } = await createTenantWithKey(t.db, name);
      for (let i = 0; i < 3; i++) {
        const input = JobCreateSchema.parse({ prompt: `extent ${name} ${i}` });
        ids[name]?.push((await createJob(t.db, { tenantId, input })).id);
      }
    }
    const [tenantA] = await t.db.tenant.findMany({ where: { name: "a" }, select: { id: true } });
    const filter = { tenant: tenantA?.id };
    const matching = await listAdminJobIds(t.db, filter, { limit: 10 });
    expect(matching).toEqual([...(ids.a ?? [])].sort());
    expect(await adminJobsExtent(t.db, filter)).toEqual({ count: 3, newestId: matching.at(-1) });
    expect(await adminJobsExtent(t.db, filter)).toEqual({
      count: await countAdminJobs(t.db, filter),
      newestId: ids.a?.[2],
    });
    expect(await adminJobsExtent(t.db, { q: "nothing-matches-this" })).toEqual({ count: 0, newestId: null });
  });
});
