import { createPrismaClient, type PrismaClient } from "@darkroom/db";
import { DarkroomClient, DarkroomError, type UsageReport } from "@darkroom/sdk";
import { STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, type JobJson, uniquePrompt } from "./support";

/**
 * Usage figures of jobs that really ran (API and worker processes, the simulator upstream), and the
 * quota and budget checks fed by them, through the SDK.
 */

// Not the defaults: the worker's cost estimate must come from its MODEL_PRICES.
const PRICES: Record<string, number> = { "gpt-4o-image": 0.011, "gpt-image-1": 0.023 };

type RanJob = JobJson & {
  model: string;
  n: number;
  finished_at: string;
  result: (NonNullable<JobJson["result"]> & { usage: { total_tokens?: number }; cost_usd: number }) | null;
};

let stack: Stack;
let db: PrismaClient;
let sdk: DarkroomClient;
let api: ReturnType<typeof client>;
let tenantId: string;
const ran: RanJob[] = [];

beforeAll(async () => {
  stack = await startStack({
    label: "usage",
    simulatorStepMs: 5,
    env: { MODEL_PRICES: "gpt-4o-image=0.011,gpt-image-1=0.023" },
  });
  db = createPrismaClient({ databaseUrl: stack.db.url });
  const res = await fetch(`${stack.apiUrl}/admin/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "usage" }),
  });
  const created = (await res.json()) as { api_key: string; tenant_id: string };
  tenantId = created.tenant_id;
  sdk = new DarkroomClient({ baseUrl: stack.apiUrl, apiKey: created.api_key });
  api = client(stack, created.api_key);
  const bodies = [
    { prompt: uniquePrompt(""), n: 1 },
    { prompt: uniquePrompt(""), n: 2 },
    // model_not_found on the primary: the fallback stores the image.
    { prompt: uniquePrompt("[[sim script=http503nochannel]]"), n: 1 },
    { prompt: uniquePrompt(""), n: 2, model: "gpt-image-1" },
    // A content-policy refusal: never retried, the job fails with nothing stored (a later call passes).
    { prompt: uniquePrompt("[[sim script=content_filter]]"), n: 3 },
  ];
  const jobs = await Promise.all(bodies.map((body) => api.create(body)));
  for (const job of jobs) ran.push((await api.waitTerminal(job.id)) as RanJob);
  // An unrelated tenant's job: never in this tenant's figures.
  const otherKey = await stack.newApiKey("other");
  const other = await client(stack, otherKey).create({ prompt: uniquePrompt(""), n: 4 });
  await client(stack, otherKey).waitTerminal(other.id);
}, 60_000);
afterAll(async () => {
  await db?.$disconnect();
  await stack?.stop();
});

/** The figures of `jobs`, derived from the job objects themselves, grouped by `key`. */
function expectedRows(jobs: RanJob[], key: (job: RanJob) => string) {
  const rows = new Map<
    string,
    { jobs_succeeded: number; jobs_failed: number; images: number; tokens: number; cost: number }
  >();
  for (const job of jobs) {
    const row = rows.get(key(job)) ?? { jobs_succeeded: 0, jobs_failed: 0, images: 0, tokens: 0, cost: 0 };
    if (job.status === "succeeded" && job.result !== null) {
      row.jobs_succeeded++;
      row.images += job.result.images.length;
      row.tokens += job.result.usage.total_tokens ?? 0;
      row.cost += Math.round((PRICES[job.result.model] ?? 0) * 1e6) * job.result.images.length;
    } else if (job.status === "failed") row.jobs_failed++;
    rows.set(key(job), row);
  }
  return [...rows.entries()]
    .sort(([x], [y]) => (x < y ? -1 : 1))
    .map(([k, { cost, ...figures }]) => ({ k, ...figures, cost_usd: cost / 1e6 }));
}

const rowsOf = (report: UsageReport, label: "day" | "model") =>
  report.data.map((row) => {
    const { day, model, ...figures } = row as typeof row & { day?: string; model?: string };
    return { k: (label === "day" ? day : model) ?? "", ...figures };
  });

async function sumOfStoredImages(): Promise<number> {
  return db.image.count({ where: { job: { tenantId } } });
}

describe("usage of jobs that really ran", () => {
  it("the jobs ran as the test meant: succeeded on each model, one by fallback, one failed", () => {
    expect(ran.map((j) => [j.status, j.result?.model ?? null])).toEqual([
      ["succeeded", "gpt-4o-image"],
      ["succeeded", "gpt-4o-image"],
      ["succeeded", "gpt-image-1"],
      ["succeeded", "gpt-image-1"],
      ["failed", null],
    ]);
    // Each succeeded job carries its estimated cost: the price of the model that stored its images.
    expect(ran.map((j) => j.result?.cost_usd ?? null)).toEqual([0.011, 0.022, 0.023, 0.046, null]);
  });

  it("totals and rows by model equal what ran: images stored, tokens reported, cost at MODEL_PRICES", async () => {
    const report = await sdk.getUsage({ groupBy: "model" });
    expect(report.totals).toEqual({
      jobs_succeeded: 4,
      jobs_failed: 1,
      images: 6,
      tokens: expect.any(Number),
      cost_usd: 0.102,
    });
    expect(report.totals.images).toBe(await sumOfStoredImages());
    const tokens = ran.reduce((sum, j) => sum + (j.result?.usage.total_tokens ?? 0), 0);
    expect(tokens).toBeGreaterThan(0);
    expect(report.totals.tokens).toBe(tokens);
    // A failed job counts under the model it asked for; images under the model that stored them.
    expect(rowsOf(report, "model")).toEqual(expectedRows(ran, (j) => j.result?.model ?? j.model));
    expect(rowsOf(report, "model").map((r) => r.k)).toEqual(["gpt-4o-image", "gpt-image-1"]);
  });

  it("rows by UTC day equal what ran, and the SDK answers what the API answers", async () => {
    const report = await sdk.getUsage({ groupBy: "day", from: new Date(Date.now() - 2 * 86_400_000) });
    expect(rowsOf(report, "day")).toEqual(expectedRows(ran, (j) => j.finished_at.slice(0, 10)));
    const from = "2026-01-01T00:00:00.000Z";
    const to = new Date(Date.now() + 60_000).toISOString();
    const raw = await fetch(`${stack.apiUrl}/v1/usage?group_by=model&from=${from}&to=${to}`, {
      headers: { authorization: `Bearer ${(sdk as unknown as { transport: { apiKey: string } }).transport.apiKey}` },
    });
    expect(await sdk.getUsage({ groupBy: "model", from, to: new Date(to) })).toEqual(await raw.json());
    const bad = await sdk.getUsage({ from: "2026-02-01", to: "2026-01-01" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(DarkroomError);
    expect(bad).toMatchObject({ status: 400, code: "validation_failed", errors: [{ path: "from" }] });
  });

  it("a user retry runs again and counts: the failed job's images join the figures once it succeeds", async () => {
    const failed = ran[4];
    if (failed === undefined) throw new Error("no failed job");
    expect((await api.post(`/v1/jobs/${failed.id}/retry`)).status).toBe(202);
    const retried = (await api.waitTerminal(failed.id)) as RanJob;
    expect(retried.status).toBe("succeeded");
    ran[4] = retried;
    const report = await sdk.getUsage({ groupBy: "model" });
    expect(report.totals).toMatchObject({ jobs_succeeded: 5, jobs_failed: 0, images: 9 });
    expect(report.totals.images).toBe(await sumOfStoredImages());
    expect(rowsOf(report, "model")).toEqual(expectedRows(ran, (j) => j.result?.model ?? j.model));
  });

  it("the quota and the budget count what ran; the SDK's error names the limit and when it resets", async () => {
    const admin = (body: unknown) =>
      fetch(`${stack.apiUrl}/admin/api/tenants/${tenantId}`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await sdk.getUsage()).limits).toEqual({ images_per_day: null, monthly_budget_usd: null });

    // Budget: this month's estimated cost plus 0.02; a job's worst case is 0.023 (the gpt-image-1 fallback).
    const month = (await sdk.getUsage()).totals;
    expect((await admin({ monthly_budget_usd: Number((month.cost_usd + 0.02).toFixed(4)) })).status).toBe(200);
    const budget = await sdk.createJob({ prompt: uniquePrompt(""), n: 1 }).catch((e: unknown) => e);
    expect(budget).toBeInstanceOf(DarkroomError);
    expect(budget).toMatchObject({
      status: 429,
      code: "budget_exceeded",
      limit: { name: "monthly_budget_usd", used: month.cost_usd, reserved: 0, requested: 0.023 },
    });
    expect((budget as DarkroomError).retryAfterSeconds).toBeGreaterThan(0);
    // Without the fallback its worst case is 0.011: it fits, runs, and is counted.
    const fits = await sdk.createJob({ prompt: uniquePrompt(""), n: 1, fallback_model: null });
    expect((await sdk.waitForJob(fits.job.id)).status).toBe("succeeded");
    expect((await sdk.getUsage()).limits.monthly_budget_usd).toMatchObject({
      used: Number((month.cost_usd + 0.011).toFixed(6)),
    });

    // Quota: the images stored today, plus one.
    await admin({ monthly_budget_usd: null });
    const start = new Date(new Date().toISOString().slice(0, 10));
    const today = (await sdk.getUsage({ from: start })).totals.images;
    await admin({ images_per_day: today + 1 });
    const quota = await sdk.createJob({ prompt: uniquePrompt(""), n: 2 }).catch((e: unknown) => e);
    expect(quota).toMatchObject({
      status: 429,
      code: "quota_exceeded",
      limit: { name: "images_per_day", value: today + 1, used: today, reserved: 0, requested: 2 },
    });
    expect((quota as DarkroomError).retryAfterSeconds).toBeGreaterThan(0);
    expect((quota as DarkroomError).retryAfterSeconds).toBeLessThanOrEqual(86_400);
    expect(await db.job.count({ where: { tenantId } })).toBe(ran.length + 1);
  });
});
