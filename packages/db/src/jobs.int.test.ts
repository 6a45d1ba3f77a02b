import { JobCreateSchema } from "@darkroom/domain";
import { createTestDatabase, type TestDatabase, testPool } from "@darkroom/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimJob, completeJob } from "./attempt-batches";
import { failAttempt } from "./attempts";
import { createPrismaClient, type PrismaClient, poolOf } from "./client";
import { createJob, findJobById, findJobForTenant, IdempotencyKeyTakenError, JOB_INCLUDE } from "./jobs";
import { presentJob } from "./present";
import { failQueueTimeout } from "./queue-timeout";
import { createTenantWithKey, updateTenantSettings } from "./tenants";
import { cancelJob } from "./user-actions";

/**
 * Creating a job is one statement (the job row and its `job.queued` event), and the record it
 * returns is the one a later read gives. Statements are counted at the pg driver, under Prisma:
 * BEGIN and COMMIT of a transaction count too. Outside a transaction the insert goes to the pool
 * directly, not through Prisma, so its record is compared field by field with Prisma's read.
 */

let database: TestDatabase;
let pool: pg.Pool;
let db: PrismaClient;
const statements: string[] = [];
/** Per statement: whether Prisma sent it (its adapter asks pg for rows as arrays). */
const byPrisma: boolean[] = [];

beforeAll(async () => {
  database = await createTestDatabase("create-job");
  // testPool: the drop at teardown (WITH (FORCE)) must not end the run with an uncaught error.
  pool = testPool(database.url, 8);
  pool.on("connect", (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text?: string; rowMode?: string };
      statements.push(typeof first === "string" ? first : (first.text ?? ""));
      byPrisma.push(typeof first !== "string" && first.rowMode === "array");
      return query(...args);
    };
  });
  db = createPrismaClient({ databaseUrl: database.url, pool });
});
afterAll(async () => {
  await db?.$disconnect();
  await pool?.end();
  await database?.drop();
});

/** The statements `work` sends to Postgres. */
async function counted<T>(work: () => Promise<T>): Promise<{ result: T; sent: string[]; viaPrisma: string[] }> {
  statements.length = 0;
  byPrisma.length = 0;
  const result = await work();
  return { result, sent: [...statements], viaPrisma: statements.filter((_, i) => byPrisma[i]) };
}

const input = (body: Record<string, unknown> = {}) =>
  JobCreateSchema.parse({ prompt: "a lighthouse", metadata: { a: 1, nested: { b: [1, "x"] } }, ...body });
/** A create whose cached settings said "no limits", counting its statements and guard calls. */
async function guardedCreate(tenantId: string) {
  let guarded = 0;
  const guard = async () => {
    guarded++;
  };
  const { result, sent } = await counted(() =>
    createJob(db, { tenantId, input: input(), tenantUnlimited: true, guard }),
  );
  return { result, sent, guarded };
}
const url = (id: string, index: number) => `https://img/${id}/${index}`;

describe("createJob", () => {
  it("writes the job and its job.queued event in one statement, and returns what a read returns", async () => {
    const { tenantId } = await createTenantWithKey(db, "one");
    const { result: job, sent } = await counted(() =>
      createJob(db, {
        tenantId,
        input: input({ webhook_url: "https://example.com/hook", priority: "high", n: 2 }),
        requestHash: "h",
      }),
    );
    expect(sent).toHaveLength(1);
    const read = await findJobById(db, job.id);
    expect(job).toEqual(read);
    expect(presentJob(job, url)).toEqual(presentJob(read ?? job, url));
    const events = await db.jobEvent.findMany({ where: { jobId: job.id } });
    expect(events.map((e) => [e.type, e.data, e.tenantId])).toEqual([["job.queued", { status: "queued" }, tenantId]]);
  });

  it("returns from the pool, without Prisma, the record Prisma reads: dates, jsonb, arrays, enums, nullable columns", async () => {
    expect(poolOf(db)?.pool).toBe(pool);
    const { tenantId } = await createTenantWithKey(db, "shape");
    const create = (idempotencyKey: string) =>
      counted(() =>
        createJob(db, {
          tenantId,
          input: input({
            webhook_url: "https://example.com/hook",
            webhook_events: ["job.succeeded"],
            fallback_model: "gpt-image-1",
            queue_timeout_seconds: 30,
            hedge_after_seconds: 5,
            priority: "low",
            metadata: { list: [1, "two", null], deep: { yes: true } },
          }),
          idempotencyKey,
          requestHash: "hash-of-the-body",
        }),
      );
    // Twice: the second run is the named prepared statement.
    for (const key of ["k-1", "k-2"]) {
      const { result: job, sent, viaPrisma } = await create(key);
      expect(sent).toHaveLength(1);
      expect(viaPrisma).toEqual([]);
      const read = await findJobById(db, job.id);
      expect(job).toEqual(read);
      expect(job.createdAt).toBeInstanceOf(Date);
      expect(job.queueExpiresAt?.getTime()).toBe(job.createdAt.getTime() + 30_000);
      expect([job.idempotencyKey, job.requestHash, job.priority]).toEqual([key, "hash-of-the-body", "low"]);
      expect(presentJob(job, url)).toEqual(presentJob(read ?? job, url));
    }
  });

  it("skips the usage guard for a tenant without limits: one statement, no transaction", async () => {
    const { tenantId } = await createTenantWithKey(db, "unlimited");
    const { sent, guarded } = await guardedCreate(tenantId);
    expect(sent).toHaveLength(1);
    expect(guarded).toBe(0);
  });

  it("runs the guard in a transaction when the tenant has a limit after all (stale cached settings)", async () => {
    const { tenantId } = await createTenantWithKey(db, "limited");
    await updateTenantSettings(db, tenantId, { imagesPerDay: 10 });
    const { result: job, sent, guarded } = await guardedCreate(tenantId);
    expect(guarded).toBe(1);
    expect(sent[0]).toMatch(/INSERT INTO "Job"/);
    expect(sent.slice(1, 2)).toEqual(["BEGIN"]);
    expect(sent.at(-1)).toBe("COMMIT");
    expect(await db.job.count({ where: { tenantId } })).toBe(1);
    expect(await findJobById(db, job.id)).toEqual(job);
    const refused = await createJob(db, {
      tenantId,
      input: input(),
      tenantUnlimited: true,
      guard: async () => {
        throw new Error("over quota");
      },
    }).catch((e: unknown) => e);
    expect(refused).toEqual(new Error("over quota"));
    expect(await db.job.count({ where: { tenantId } })).toBe(1);
  });

  it("writes one job for concurrent creates with one idempotency key; the others learn the key is taken", async () => {
    const { tenantId } = await createTenantWithKey(db, "idem");
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        createJob(db, {
          tenantId,
          input: input(),
          idempotencyKey: "same-key",
          tenantUnlimited: true,
          guard: async () => {},
        }),
      ),
    );
    const written = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
    expect(written).toHaveLength(1);
    expect(refused).toHaveLength(7);
    for (const reason of refused) expect(reason).toBeInstanceOf(IdempotencyKeyTakenError);
    expect(await db.job.count({ where: { tenantId } })).toBe(1);
    expect(await db.jobEvent.count({ where: { tenantId } })).toBe(1);
  });

  it("writes concurrent creates in shared statements (one commit per batch), each answered with its own job", async () => {
    const { tenantId: open } = await createTenantWithKey(db, "batch-open");
    const { tenantId: limited } = await createTenantWithKey(db, "batch-limited");
    await updateTenantSettings(db, limited, { imagesPerDay: 100 });
    const creates = Array.from({ length: 40 }, (_, i) => ({
      // Every fourth believes (stale cache) that a limited tenant has none: only its row is held back.
      tenantId: i % 4 === 3 ? limited : open,
      prompt: `batched ${i}`,
    }));
    const { result: jobs, sent } = await counted(() =>
      Promise.all(
        creates.map((c) =>
          createJob(db, {
            tenantId: c.tenantId,
            input: input({ prompt: c.prompt }),
            tenantUnlimited: true,
            guard: async () => {},
          }),
        ),
      ),
    );
    const inserts = sent.filter((text) => /INSERT INTO "Job"/.test(text));
    // The 40 unguarded rows went out in a few statements, not 40; the 10 limited ones then each
    // ran their guard in a transaction of their own.
    expect(inserts.length).toBeLessThan(20);
    expect(sent.filter((text) => text === "BEGIN")).toHaveLength(10);
    expect(jobs.map((j) => [j.tenantId, j.prompt])).toEqual(creates.map((c) => [c.tenantId, c.prompt]));
    for (const job of jobs) expect(await findJobById(db, job.id)).toEqual(job);
    expect(await db.jobEvent.count({ where: { jobId: { in: jobs.map((j) => j.id) }, type: "job.queued" } })).toBe(40);
  });

  it("a batch that fails as a whole is rerun one create at a time: only the bad one fails", async () => {
    const { tenantId } = await createTenantWithKey(db, "batch-bad");
    const outcomes = await Promise.allSettled(
      ["fine 1", "fine 2", "no such tenant", "fine 3"].map((prompt) =>
        createJob(db, { tenantId: prompt === "no such tenant" ? "ten_missing" : tenantId, input: input({ prompt }) }),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect(String((outcomes[2] as PromiseRejectedResult).reason)).toMatch(/foreign key/);
    expect(await db.job.count({ where: { tenantId } })).toBe(3);
  });
});

describe("terminal progress stages", () => {
  it("a failed job ends at stage failed, a canceled one at canceled (not where the last attempt stood)", async () => {
    const { tenantId } = await createTenantWithKey(db, "stages");
    const failing = await createJob(db, { tenantId, input: input({ max_attempts: 1 }) });
    const claim = await claimJob(db, { jobId: failing.id, leaseOwner: "test", leaseMs: 60_000 });
    if (claim === null) throw new Error("not claimable");
    await db.job.update({ where: { id: failing.id }, data: { progressStage: "generating", progressPercent: 40 } });
    const error = {
      code: "content_policy",
      message: "refused",
      retryable: false,
      errorClass: "content_policy",
    } as const;
    await failAttempt(db, { jobId: failing.id, attempt: claim.attempt, error, facts: {}, retryAt: null });
    expect(await findJobById(db, failing.id)).toMatchObject({ status: "failed", progressStage: "failed" });

    const canceled = await createJob(db, { tenantId, input: input({}) });
    await cancelJob(db, tenantId, canceled.id);
    expect(await findJobById(db, canceled.id)).toMatchObject({ status: "canceled", progressStage: "canceled" });

    const late = await createJob(db, { tenantId, input: input({ queue_timeout_seconds: 10 }) });
    await db.job.update({ where: { id: late.id }, data: { queueExpiresAt: new Date(Date.now() - 1000) } });
    expect(await failQueueTimeout(db, late.id)).toBe(true);
    expect(await findJobById(db, late.id)).toMatchObject({ status: "failed", progressStage: "failed" });
  });
});

describe("findJobForTenant", () => {
  it("reads a job with its attempts and images in one statement, as a read per relation would", async () => {
    const { tenantId } = await createTenantWithKey(db, "read");
    const created = await createJob(db, { tenantId, input: input({ n: 2, max_attempts: 3 }) });
    const claim = async () => {
      const claimed = await claimJob(db, {
        jobId: created.id,
        leaseOwner: "test",
        leaseMs: 60_000,
      });
      if (claimed === null) throw new Error("not claimable");
      return claimed;
    };
    const first = await claim();
    const error = { code: "upstream_unavailable", message: "503", retryable: true, errorClass: "server" } as const;
    await failAttempt(db, {
      jobId: created.id,
      attempt: first.attempt,
      error,
      facts: {},
      retryAt: new Date(),
    });
    const second = await claim();
    const images = [0, 1].map((index) => ({
      index,
      storageKey: `t/${created.id}/${index}`,
      contentType: "image/png",
      bytes: 10 + index,
      sha256: String(index).repeat(64),
      width: 1024,
      height: null,
      sourceUrl: null,
    }));
    expect(
      await completeJob(db, {
        jobId: created.id,
        attempt: second.attempt,
        model: second.model,
        images,
        usage: { total_tokens: 7 },
        costMicroUsd: 123_456,
        facts: {},
      }),
    ).toBe(true);

    const { result: joined, sent } = await counted(() => findJobForTenant(db, tenantId, created.id));
    expect(sent).toHaveLength(1);
    const perRelation = await db.job.findFirst({
      where: { id: created.id, tenantId },
      include: JOB_INCLUDE,
      relationLoadStrategy: "query",
    });
    expect(joined?.attempts).toHaveLength(2);
    expect(joined?.images).toHaveLength(2);
    expect(joined).toEqual(perRelation);
    if (joined === null || perRelation === null) throw new Error("job not found");
    expect(presentJob(joined, url)).toEqual(presentJob(perRelation, url));
    expect(await findJobForTenant(db, "ten_other", created.id)).toBeNull();
  });
});
