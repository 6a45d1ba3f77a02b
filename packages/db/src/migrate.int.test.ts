import { createHash, randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { newId } from "@darkroom/domain";
import { createEmptyDatabase, TEST_SERVER_URL } from "@darkroom/testing";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { claimJob } from "./attempt-batches";
import { createPrismaClient } from "./client";
import { findDueDeliveries, findEventBody, listDeliveries, presentDelivery } from "./deliveries";
import { listEvents } from "./events";
import { findJobForTenant, listJobs } from "./jobs";
import { findMigrationsDir, listMigrations, MigrationError, migrate } from "./migrate";
import { presentJob } from "./present";
import { findTenantByApiKey, hashApiKey } from "./tenants";

const created: string[] = [];
async function dropAll() {
  const client = new pg.Client({ connectionString: `${TEST_SERVER_URL}/postgres` });
  await client.connect();
  for (const name of created.splice(0)) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await client.end();
}
afterEach(dropAll);

/** Folders of migrations the tests write, removed after each test. */
const folders: string[] = [];
afterEach(async () => {
  for (const dir of folders.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await tempFolder("darkroom-migrations-");
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

function newDatabaseUrl(): string {
  const name = `darkroom_test_mig_${randomBytes(4).toString("hex")}`;
  created.push(name);
  return `${TEST_SERVER_URL}/${name}`;
}

async function rows(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("migration runner", () => {
  it("creates a missing database, applies migrations in order and records them as Prisma does", async () => {
    const url = newDatabaseUrl();
    const first = "CREATE TABLE a (id int);";
    const dir = await migrationsDir({
      "20260101000000_a": first,
      "20260102000000_b": "ALTER TABLE a ADD COLUMN b text;",
    });
    const result = await migrate(url, dir);
    expect(result).toEqual({
      applied: ["20260101000000_a", "20260102000000_b"],
      alreadyApplied: [],
      createdDatabase: true,
    });
    const recorded = await rows(
      url,
      'SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name',
    );
    expect(recorded[0]).toEqual({
      migration_name: "20260101000000_a",
      checksum: createHash("sha256").update(first).digest("hex"),
      finished: true,
      applied_steps_count: 1,
    });
    expect(
      await rows(url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'a' ORDER BY 1"),
    ).toEqual([{ column_name: "b" }, { column_name: "id" }]);
    const again = await migrate(url, dir);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toHaveLength(2);
  });

  it("two processes migrating at once apply each migration once", async () => {
    const url = newDatabaseUrl();
    const dir = await migrationsDir({ "1_a": "CREATE TABLE a (id int);", "2_b": "CREATE TABLE b (id int);" });
    const [x, y] = await Promise.all([migrate(url, dir), migrate(url, dir)]);
    expect([...x.applied, ...y.applied].sort()).toEqual(["1_a", "2_b"]);
    expect(await rows(url, 'SELECT count(*)::int AS n FROM "_prisma_migrations"')).toEqual([{ n: 2 }]);
  });

  it("refuses a migration edited after it was applied, and stops after a failed one", async () => {
    const url = newDatabaseUrl();
    const dir = await migrationsDir({ "1_a": "CREATE TABLE a (id int);" });
    await migrate(url, dir);
    await writeFile(path.join(dir, "1_a", "migration.sql"), "CREATE TABLE a (id bigint);");
    await expect(migrate(url, dir)).rejects.toThrow(/1_a was changed after it was applied/);

    const url2 = newDatabaseUrl();
    const broken = await migrationsDir({ "1_ok": "CREATE TABLE ok (id int);", "2_bad": "CREATE TABLE nope (id int" });
    await expect(migrate(url2, broken)).rejects.toThrow(MigrationError);
    // The failed migration left nothing half-done, and the next run says which one to repair.
    expect(await rows(url2, "SELECT to_regclass('nope') IS NULL AS absent")).toEqual([{ absent: true }]);
    await expect(migrate(url2, broken)).rejects.toThrow(/2_bad started but did not finish/);
  });
});

/** Where an earlier release kept the body of a webhook event's deliveries. */
type BodyStore = "none" | "per-attempt" | "per-event";

/** The body of the succeeded event's deliveries as an earlier release sent it. */
const SENT_BODY = JSON.stringify({ type: "job.succeeded", timestamp: "2026-11-24T00:00:00.000Z", data: { order: 7 } });

/**
 * What a deployment of an earlier release holds: one tenant with a key, jobs in every state with
 * their attempts, events, an image and webhook deliveries, written with plain SQL against the
 * schema as it stood after the first `applied` migrations (`withBudget`: the attempt_budget
 * columns exist already; `bodies`: where the deliveries' body was kept, if anywhere).
 */
async function seedEarlierRelease(url: string, withBudget: boolean, bodies: BodyStore) {
  const ids = {
    tenant: newId("ten"),
    key: newId("key"),
    apiKey: `dr_${randomBytes(24).toString("base64url")}`,
    queued: newId("job"),
    running: newId("job"),
    succeeded: newId("job"),
    failed: newId("job"),
    canceled: newId("job"),
    succeededEvent: newId("evt"),
    queuedEvent: newId("evt"),
    failedDelivery: newId("whd"),
    sentDelivery: newId("whd"),
    pendingDelivery: newId("whd"),
  };
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(`INSERT INTO "Tenant" (id, name, "webhookSecret") VALUES ($1, 'Old Tenant', 'whsec_b2xk')`, [
      ids.tenant,
    ]);
    await client.query(
      `INSERT INTO "ApiKey" (id, "tenantId", name, "keyHash", prefix, "lastUsedAt") VALUES ($1, $2, 'old', $3, $4, now())`,
      [ids.key, ids.tenant, hashApiKey(ids.apiKey), ids.apiKey.slice(0, 10)],
    );
    const job = async (id: string, status: string, extra: Record<string, unknown>) => {
      const row: Record<string, unknown> = {
        id,
        tenantId: ids.tenant,
        status,
        model: "gpt-4o-image",
        prompt: "a lighthouse at dusk",
        n: 1,
        size: "1024x1024",
        quality: "auto",
        maxAttempts: 4,
        deadlineAt: new Date(Date.now() + 600_000),
        webhookUrl: "https://hooks.example.com/in",
        webhookEvents: ["job.succeeded", "job.failed", "job.queued"],
        metadata: { order: 7 },
        ...(withBudget ? { attemptBase: 0, deadlineSeconds: 600 } : {}),
        ...extra,
      };
      const cols = Object.keys(row);
      await client.query(
        `INSERT INTO "Job" (${cols.map((c) => `"${c}"`).join(", ")}) VALUES (${cols.map((_, n) => `$${n + 1}`).join(", ")})`,
        Object.values(row),
      );
    };
    await job(ids.queued, "queued", {});
    await job(ids.running, "running", {
      attempt: 1,
      leaseOwner: "worker-old",
      leaseExpiresAt: new Date(Date.now() + 30_000),
      startedAt: new Date(),
    });
    await job(ids.succeeded, "succeeded", {
      attempt: 1,
      progressPercent: 100,
      progressStage: "done",
      resultModel: "gpt-4o-image",
      startedAt: new Date(),
      finishedAt: new Date(),
    });
    await job(ids.failed, "failed", {
      attempt: 2,
      errorCode: "content_filter",
      errorMessage: "refused",
      errorRetryable: false,
      finishedAt: new Date(),
    });
    await job(ids.canceled, "canceled", { finishedAt: new Date() });
    for (const [jobId, number, status, errorCode] of [
      [ids.running, 1, "running", null],
      [ids.succeeded, 1, "succeeded", null],
      [ids.failed, 1, "failed", "upstream_5xx"],
      [ids.failed, 2, "failed", "content_filter"],
    ] as const) {
      await client.query(
        `INSERT INTO "JobAttempt" (id, "jobId", number, model, status, "errorCode") VALUES ($1, $2, $3, 'gpt-4o-image', $4, $5)`,
        [newId("att"), jobId, number, status, errorCode],
      );
    }
    for (const [id, jobId, type] of [
      [newId("evt"), ids.succeeded, "job.queued"],
      [newId("evt"), ids.succeeded, "job.started"],
      [ids.succeededEvent, ids.succeeded, "job.succeeded"],
      [ids.queuedEvent, ids.queued, "job.queued"],
    ] as const) {
      await client.query(`INSERT INTO "JobEvent" (id, "jobId", "tenantId", type, data) VALUES ($1, $2, $3, $4, $5)`, [
        id,
        jobId,
        ids.tenant,
        type,
        JSON.stringify({ status: type.slice(4) }),
      ]);
    }
    await client.query(
      `INSERT INTO "Image" (id, "jobId", index, "storageKey", "contentType", bytes, sha256, width, height, "sourceUrl")
       VALUES ($1, $2, 0, $3, 'image/png', 1234, $4, 1024, 1024, 'https://filesystem.site/cdn/x.png')`,
      [newId("img"), ids.succeeded, `${ids.succeeded}/0.png`, "ab".repeat(32)],
    );
    // The succeeded event: a failed first attempt, then a second that succeeded, each with its copy
    // of the body where the release kept one per attempt.
    for (const [id, attempt, status, code] of [
      [ids.failedDelivery, 1, "failed", 500],
      [ids.sentDelivery, 2, "succeeded", 204],
    ] as const) {
      const perAttempt = bodies === "per-attempt";
      await client.query(
        `INSERT INTO "WebhookDelivery" (id, "eventId", "jobId", "tenantId", url, "attemptNumber", status, "responseStatus", "durationMs"${perAttempt ? `, "requestBody", "sentAt"` : ""})
         VALUES ($1, $2, $3, $4, 'https://hooks.example.com/in', $5, $6, $7, 35${perAttempt ? ", $8, now()" : ""})`,
        [id, ids.succeededEvent, ids.succeeded, ids.tenant, attempt, status, code, ...(perAttempt ? [SENT_BODY] : [])],
      );
    }
    if (bodies === "per-event") {
      await client.query(`INSERT INTO "WebhookEventBody" ("eventId", body) VALUES ($1, $2)`, [
        ids.succeededEvent,
        SENT_BODY,
      ]);
    }
    await client.query(
      `INSERT INTO "WebhookDelivery" (id, "eventId", "jobId", "tenantId", url, "attemptNumber", status, "nextAttemptAt")
       VALUES ($1, $2, $3, $4, 'https://hooks.example.com/in', 1, 'pending', now() - interval '1 second')`,
      [ids.pendingDelivery, ids.queuedEvent, ids.queued, ids.tenant],
    );
    await client.query("COMMIT");
  } finally {
    await client.end();
  }
  return ids;
}

describe("upgrading a database that holds data", async () => {
  const realDir = await findMigrationsDir(path.dirname(fileURLToPath(import.meta.url)));
  const all = (await listMigrations(realDir)).map((m) => m.name);

  it("the project has migrations to upgrade through", () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
  });

  // Every earlier release: data written after the first k migrations, then the rest applied.
  for (let k = 1; k < all.length; k++) {
    it(`keeps every row readable after upgrading from the first ${k} of ${all.length} migrations`, async () => {
      const db = await createEmptyDatabase("upgrade");
      const prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 2 });
      try {
        const earlier = await tempFolder("darkroom-earlier-");
        for (const name of all.slice(0, k))
          await cp(path.join(realDir, name), path.join(earlier, name), { recursive: true });
        expect((await migrate(db.url, earlier)).applied).toEqual(all.slice(0, k));
        const had = (suffix: string) => all.slice(0, k).some((name) => name.endsWith(suffix));
        const bodies: BodyStore = had("_webhook_event_body")
          ? "per-event"
          : had("_webhook_outbox")
            ? "per-attempt"
            : "none";
        const ids = await seedEarlierRelease(db.url, had("_attempt_budget"), bodies);

        expect(await migrate(db.url, realDir)).toEqual({
          applied: all.slice(k),
          alreadyApplied: all.slice(0, k),
          createdDatabase: false,
        });

        const auth = await findTenantByApiKey(prisma, ids.apiKey);
        expect(auth).toEqual({
          tenantId: ids.tenant,
          apiKeyId: ids.key,
          rateLimitPerMinute: 600,
          share: { weight: 1, maxConcurrency: null },
          limited: false,
        });
        const { jobs } = await listJobs(prisma, ids.tenant, { limit: 10 });
        expect(new Map(jobs.map((j) => [j.id, j.status]))).toEqual(
          new Map([
            [ids.queued, "queued"],
            [ids.running, "running"],
            [ids.succeeded, "succeeded"],
            [ids.failed, "failed"],
            [ids.canceled, "canceled"],
          ]),
        );
        // Jobs written before attempt_budget get its defaults: no attempts used up, a 900 s deadline.
        const budgets = await prisma.job.findMany({ select: { id: true, attemptBase: true, deadlineSeconds: true } });
        expect(budgets.every((j) => j.attemptBase === 0)).toBe(true);
        expect(new Set(budgets.map((j) => j.deadlineSeconds))).toEqual(new Set([had("_attempt_budget") ? 600 : 900]));

        const succeeded = await findJobForTenant(prisma, ids.tenant, ids.succeeded);
        if (succeeded === null) throw new Error("the succeeded job is gone");
        const view = presentJob(succeeded, (id, i) => `https://api.example.com/v1/jobs/${id}/images/${i}`);
        expect(view).toMatchObject({
          status: "succeeded",
          prompt: "a lighthouse at dusk",
          metadata: { order: 7 },
          webhook_events: ["job.succeeded", "job.failed", "job.queued"],
          progress: { percent: 100, stage: "done" },
          // Jobs written before priorities are normal ones.
          priority: "normal",
          attempts: [{ number: 1, status: "succeeded" }],
          result: {
            model: "gpt-4o-image",
            images: [{ index: 0, content_type: "image/png", bytes: 1234, sha256: "ab".repeat(32), width: 1024 }],
          },
        });
        const failed = await findJobForTenant(prisma, ids.tenant, ids.failed);
        expect(failed?.attempts.map((a) => [a.number, a.errorCode])).toEqual([
          [1, "upstream_5xx"],
          [2, "content_filter"],
        ]);
        expect((await listEvents(prisma, ids.succeeded, 0n)).map((e) => e.type)).toEqual([
          "job.queued",
          "job.started",
          "job.succeeded",
        ]);

        // Deliveries gain the outbox columns: not manual, no body fixed yet, never sent.
        const sent = (await listDeliveries(prisma, ids.tenant, ids.succeeded)).map(presentDelivery);
        expect(sent).toMatchObject([
          { id: ids.failedDelivery, attempt: 1, status: "failed", response_status: 500, manual: false },
          { id: ids.sentDelivery, attempt: 2, status: "succeeded", response_status: 204, manual: false },
        ]);
        const pending = await listDeliveries(prisma, ids.tenant, ids.queued);
        expect(pending.map((d) => [d.id, d.manual, d.sentAt])).toEqual([[ids.pendingDelivery, false, null]]);
        // The copies of a body on every attempt become one body of the event, which retries and
        // redeliveries send; an event not yet attempted has none.
        expect(await findEventBody(prisma, ids.succeededEvent)).toBe(bodies === "none" ? null : SENT_BODY);
        expect(await findEventBody(prisma, ids.queuedEvent)).toBeNull();
        expect(await rows(db.url, `SELECT count(*)::int AS n FROM "WebhookEventBody"`)).toEqual([
          { n: bodies === "none" ? 0 : 1 },
        ]);
        expect((await findDueDeliveries(prisma)).map((d) => d.id)).toEqual([ids.pendingDelivery]);

        // The current worker can run an old queued job.
        const claim = await claimJob(prisma, {
          jobId: ids.queued,
          leaseOwner: "worker-new",
          leaseMs: 30_000,
        });
        expect(claim).toMatchObject({ attempt: 1, job: { id: ids.queued, status: "running" } });
      } finally {
        await prisma.$disconnect();
        await db.drop();
      }
    });
  }
});
