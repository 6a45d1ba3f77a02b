import { type Stack, startStack } from "@darkroom/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface JobJson {
  id: string;
  status: string;
  progress: { percent: number; stage: string };
  result: {
    model: string;
    images: { url: string; sha256: string; bytes: number; width: number; height: number; content_type: string }[];
  } | null;
  attempts: { number: number; model: string; status: string; time_to_first_byte_ms: number | null }[];
  error: unknown;
}

let stack: Stack;
let key: string;
beforeAll(async () => {
  stack = await startStack({ label: "flow", simulatorStepMs: 40 });
  key = await stack.newApiKey();
});
afterAll(() => stack?.stop());

async function createJob(body: Record<string, unknown>): Promise<JobJson> {
  const res = await fetch(`${stack.apiUrl}/v1/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  expect(res.headers.get("location")).toMatch(/^\/v1\/jobs\/job_/);
  return (await res.json()) as JobJson;
}

/** Polls like a client would, recording every progress percentage it sees. */
async function pollUntilTerminal(id: string, timeoutMs = 20_000): Promise<{ job: JobJson; percents: number[] }> {
  const percents: number[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${stack.apiUrl}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } });
    const job = (await res.json()) as JobJson;
    if (percents.at(-1) !== job.progress.percent) percents.push(job.progress.percent);
    if (["succeeded", "failed", "canceled"].includes(job.status)) return { job, percents };
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** The image URLs the worker took from the upstream's markdown, in order. */
async function sourceUrls(jobId: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: stack.db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ sourceUrl: string }>(
      'SELECT "sourceUrl" FROM "Image" WHERE "jobId" = $1 ORDER BY index',
      [jobId],
    );
    return rows.map((r) => r.sourceUrl);
  } finally {
    await client.end();
  }
}

async function bytesOf(url: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe("one job end to end: API process, worker process, simulator, Postgres, Redis", () => {
  it.each([
    ["English markers", "a lighthouse at dusk"],
    ["Chinese markers", "灯塔 [[sim lang=zh]]"],
  ])("%s: progress rises, then the stored PNG is served byte for byte", async (_label, prompt) => {
    const created = await createJob({ prompt, size: "1536x1024" });
    expect(created.status).toBe("queued");
    const { job, percents } = await pollUntilTerminal(created.id);
    expect(job.status).toBe("succeeded");
    expect(job.progress).toEqual({ percent: 100, stage: "done", queue_position: null, eta_seconds: null });
    expect(new Set(percents).size).toBeGreaterThanOrEqual(3);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(job.attempts).toMatchObject([{ number: 1, model: "gpt-4o-image", status: "succeeded" }]);
    expect(job.result?.model).toBe("gpt-4o-image");
    const image = job.result?.images[0];
    expect(image).toMatchObject({ content_type: "image/png", width: 1536, height: 1024 });

    const [source] = await sourceUrls(job.id);
    expect(source).toMatch(/\/cdn\/\d{8}\//);
    const upstreamBytes = await bytesOf(source ?? "");
    // The signed URL works without a key (for <img> tags) ...
    const served = await bytesOf(image?.url ?? "");
    expect(served.equals(upstreamBytes)).toBe(true);
    expect(image?.bytes).toBe(upstreamBytes.length);
    // ... and the plain path with the tenant's key.
    const withKey = await bytesOf(`${stack.apiUrl}/v1/jobs/${job.id}/images/0`, { authorization: `Bearer ${key}` });
    expect(withKey.equals(upstreamBytes)).toBe(true);
  });

  it("n: 2 stores two distinct images, each as the upstream sent it", async () => {
    const created = await createJob({ prompt: "two foxes", n: 2 });
    const { job } = await pollUntilTerminal(created.id);
    expect(job.status).toBe("succeeded");
    expect(job.result?.images).toHaveLength(2);
    const sources = await sourceUrls(job.id);
    expect(new Set(sources).size).toBe(2);
    for (const [index, image] of (job.result?.images ?? []).entries()) {
      const served = await bytesOf(image.url);
      expect(served.equals(await bytesOf(sources[index] ?? ""))).toBe(true);
    }
    expect(job.result?.images[0]?.sha256).not.toBe(job.result?.images[1]?.sha256);
  });

  it("the job appears in the tenant's list with its final state", async () => {
    const res = await fetch(`${stack.apiUrl}/v1/jobs?status=succeeded&limit=100`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const list = (await res.json()) as { data: JobJson[] };
    expect(list.data.length).toBeGreaterThanOrEqual(3);
    expect(list.data.every((j) => j.status === "succeeded")).toBe(true);
  });
});
