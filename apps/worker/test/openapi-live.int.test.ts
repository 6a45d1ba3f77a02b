// Real requests to a running system (API and worker processes, the simulator upstream): every
// route's success and error answers, each checked against the OpenAPI document the API serves.
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { readSse, STACK_ADMIN_TOKEN, type Stack, startStack, testRunId } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useChromium } from "./browser";
import { OpenApiChecker, type OpenApiDoc } from "./openapi-checker";
import { Receiver } from "./receiver";

// Kept after the run for a person to look at; named by run so that runs sharing a machine never
// overwrite each other's.
const SCREENSHOT = path.join(tmpdir(), `darkroom-docs-${testRunId()}.png`);

let stack: Stack;
let checker: OpenApiChecker;
const receiver = new Receiver();

beforeAll(async () => {
  await receiver.start();
  stack = await startStack({ label: "openapi-live", env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true" } });
  checker = new OpenApiChecker((await (await fetch(`${stack.apiUrl}/openapi.json`)).json()) as OpenApiDoc);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await receiver.close();
});

const prompt = (directives = "") => `openapi ${randomBytes(4).toString("hex")} ${directives}`;

function call(
  method: string,
  url: string,
  options: { key?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== null) headers.authorization = `Bearer ${options.key ?? STACK_ADMIN_TOKEN}`;
  let body = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  return fetch(`${stack.apiUrl}${url}`, { method, headers, body, redirect: "manual" });
}

/** Sends a request and checks its answer against the document; `expected` is the status this test means to get. */
async function expectAnswer(
  expected: number,
  method: string,
  template: string,
  url: string,
  options: Parameters<typeof call>[2] = {},
): Promise<Record<string, unknown>> {
  const res = await call(method.toUpperCase(), url, options);
  const copy = res.clone();
  expect(res.status, `${method} ${url}: ${await copy.text().then((t) => t.slice(0, 300))}`).toBe(expected);
  return ((await checker.check(method, template, res)) ?? {}) as Record<string, unknown>;
}

async function until<T>(what: string, read: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("the API's real answers match its OpenAPI document", () => {
  it("on every route, for success and error answers, and in webhooks and event streams", async () => {
    const tenant = await expectAnswer(201, "post", "/admin/api/keys", "/admin/api/keys", { body: { name: "live" } });
    const key = String(tenant.api_key);
    const tenantId = String(tenant.tenant_id);

    // --- jobs: create (Prefer: wait finishes it; a webhook subscribes to every type) ---
    const done = await expectAnswer(200, "post", "/v1/jobs", "/v1/jobs", {
      key,
      headers: { prefer: "wait=60", "idempotency-key": "live-1" },
      body: {
        prompt: prompt(),
        n: 2,
        webhook_url: `${receiver.url}/hook`,
        webhook_events: ["job.started", "job.progress", "job.succeeded", "job.failed", "job.canceled"],
        metadata: { order: "A-1" },
      },
    });
    expect(done.status).toBe("succeeded");
    const jobId = String(done.id);
    await expectAnswer(422, "post", "/v1/jobs", "/v1/jobs", {
      key,
      headers: { "idempotency-key": "live-1" },
      body: { prompt: "another body" },
    });
    await expectAnswer(400, "post", "/v1/jobs", "/v1/jobs", { key, body: { prompt: "", n: 9, bogus: 1 } });
    await expectAnswer(400, "post", "/v1/jobs", "/v1/jobs", {
      key,
      raw: "{nope",
      headers: { "content-type": "application/json" },
    });
    await expectAnswer(415, "post", "/v1/jobs", "/v1/jobs", {
      key,
      raw: "prompt=x",
      headers: { "content-type": "text/plain" },
    });
    await expectAnswer(413, "post", "/v1/jobs", "/v1/jobs", { key, body: { prompt: "x".repeat(1_100_000) } });
    await expectAnswer(401, "post", "/v1/jobs", "/v1/jobs", { key: null, body: { prompt: "x" } });
    // A failed job, through the simulator's content filter.
    const failed = await expectAnswer(200, "post", "/v1/jobs", "/v1/jobs", {
      key,
      headers: { prefer: "wait=60" },
      body: { prompt: prompt("[[sim script=content_filter step_ms=20]]") },
    });
    expect(failed.status).toBe("failed");
    // A job that stalls upstream: queued or running for the rest of the test.
    const stalled = await expectAnswer(202, "post", "/v1/jobs", "/v1/jobs", {
      key,
      body: { prompt: prompt("[[sim script=stall stall_ms=600000]]"), max_attempts: 1 },
    });
    const stalledId = String(stalled.id);

    // --- jobs: read, list ---
    const job = `/v1/jobs/${jobId}`;
    await expectAnswer(200, "get", "/v1/jobs/{id}", job, { key });
    await expectAnswer(202, "get", "/v1/jobs/{id}", `/v1/jobs/${stalledId}`, { key, headers: { prefer: "wait=1" } });
    await expectAnswer(404, "get", "/v1/jobs/{id}", "/v1/jobs/job_00000000000000000000000000", { key });
    await expectAnswer(400, "get", "/v1/jobs/{id}", "/v1/jobs/%zz", { key });
    await expectAnswer(401, "get", "/v1/jobs/{id}", job, { key: "dr_wrong" });
    await expectAnswer(200, "get", "/v1/jobs", "/v1/jobs?limit=2", { key });
    await expectAnswer(400, "get", "/v1/jobs", "/v1/jobs?limit=0&status=done", { key });

    // --- events: JSON page, SSE frames ---
    const page = await expectAnswer(200, "get", "/v1/jobs/{id}/events", `${job}/events`, { key });
    expect((page.data as unknown[]).length).toBeGreaterThan(3);
    const sse = await readSse(`${stack.apiUrl}${job}/events`, {
      headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" },
      timeoutMs: 30_000,
    });
    expect(sse.status).toBe(200);
    checker.seen.add("get /v1/jobs/{id}/events 200");
    expect(sse.events.length).toBeGreaterThan(3);
    for (const event of sse.events) checker.component("StreamEvent", JSON.parse(event.data));
    await expectAnswer(400, "get", "/v1/jobs/{id}/events", `${job}/events?after=abc`, { key });
    await expectAnswer(404, "get", "/v1/jobs/{id}/events", "/v1/jobs/job_00000000000000000000000000/events", { key });

    // --- images: with the key, with the signed URL, refused ---
    const images = (done.result as { images: { url: string }[] }).images;
    await expectAnswer(200, "get", "/v1/jobs/{id}/images/{index}", `${job}/images/1`, { key });
    const signed = new URL(images[0]?.url ?? "");
    await expectAnswer(200, "get", "/v1/jobs/{id}/images/{index}", `${signed.pathname}${signed.search}`, { key: null });
    const last = signed.search.at(-1) === "A" ? "B" : "A";
    const tampered = `${signed.pathname}${signed.search.slice(0, -1)}${last}`;
    await expectAnswer(403, "get", "/v1/jobs/{id}/images/{index}", tampered, { key: null });
    await expectAnswer(404, "get", "/v1/jobs/{id}/images/{index}", `${job}/images/3`, { key });
    await expectAnswer(401, "get", "/v1/jobs/{id}/images/{index}", `${job}/images/0`, { key: null });

    // --- cancel and retry ---
    await expectAnswer(200, "post", "/v1/jobs/{id}/cancel", `/v1/jobs/${stalledId}/cancel`, { key });
    await expectAnswer(409, "post", "/v1/jobs/{id}/cancel", `/v1/jobs/${stalledId}/cancel`, { key });
    await expectAnswer(404, "post", "/v1/jobs/{id}/cancel", "/v1/jobs/job_00000000000000000000000000/cancel", { key });
    await expectAnswer(202, "post", "/v1/jobs/{id}/retry", `/v1/jobs/${stalledId}/retry`, { key });
    await expectAnswer(200, "post", "/v1/jobs/{id}/cancel", `/v1/jobs/${stalledId}/cancel`, { key });
    await expectAnswer(409, "post", "/v1/jobs/{id}/retry", `${job}/retry`, { key });
    await expectAnswer(404, "post", "/v1/jobs/{id}/retry", "/v1/jobs/job_00000000000000000000000000/retry", { key });

    // --- webhooks: what was sent, the ledger, a redelivery ---
    const hooks = () => receiver.of("/hook");
    const types = () => new Set(hooks().map((h) => (JSON.parse(h.body) as { type: string }).type));
    const sent = await until("the job's webhooks", async () => (types().size === 3 ? hooks() : null));
    for (const hook of sent) {
      const body = JSON.parse(hook.body) as { type: string };
      checker.webhook(body.type, body);
      for (const header of ["webhook-id", "webhook-timestamp", "webhook-signature", "user-agent"])
        expect(hook.headers[header], header).toBeTruthy();
    }
    expect(types()).toEqual(new Set(["job.started", "job.progress", "job.succeeded"]));
    const ledger = await until("delivered webhooks in the ledger", async () => {
      const res = await call("GET", `${job}/webhook-deliveries`, { key });
      const body = (await res.clone().json()) as { data: { status: string }[] };
      return body.data.some((d) => d.status === "succeeded") ? res : null;
    });
    const deliveries = (await checker.check("get", "/v1/jobs/{id}/webhook-deliveries", ledger)) as {
      data: { id: string }[];
    };
    await expectAnswer(
      404,
      "get",
      "/v1/jobs/{id}/webhook-deliveries",
      "/v1/jobs/job_00000000000000000000000000/webhook-deliveries",
      { key },
    );
    const deliveryId = deliveries.data[0]?.id ?? "";
    await expectAnswer(
      202,
      "post",
      "/v1/webhook-deliveries/{id}/redeliver",
      `/v1/webhook-deliveries/${deliveryId}/redeliver`,
      { key },
    );
    await expectAnswer(
      404,
      "post",
      "/v1/webhook-deliveries/{id}/redeliver",
      "/v1/webhook-deliveries/whd_nope/redeliver",
      { key },
    );

    // --- a test event: sent and signed, a refused URL, a body that is not JSON ---
    const tested = await expectAnswer(200, "post", "/v1/webhooks/test", "/v1/webhooks/test", {
      key,
      body: { url: `${receiver.url}/test-hook` },
    });
    expect(tested.ok).toBe(true);
    const testHook = await until("the webhook.test event", async () => receiver.of("/test-hook")[0] ?? null);
    checker.webhook("webhook.test", JSON.parse(testHook.body));
    await expectAnswer(400, "post", "/v1/webhooks/test", "/v1/webhooks/test", { key, body: { url: "ftp://x" } });
    await expectAnswer(415, "post", "/v1/webhooks/test", "/v1/webhooks/test", {
      key,
      raw: "url=x",
      headers: { "content-type": "text/plain" },
    });

    // --- usage ---
    await expectAnswer(200, "get", "/v1/usage", "/v1/usage?group_by=model", { key });
    await expectAnswer(200, "get", "/v1/usage", "/v1/usage", { key });
    await expectAnswer(400, "get", "/v1/usage", "/v1/usage?group_by=week", { key });

    // --- limits: a tenant with no images left today, a tenant with 2 requests a minute ---
    const capped = await expectAnswer(201, "post", "/admin/api/keys", "/admin/api/keys", {
      body: { name: "capped", images_per_day: 0, rate_limit_per_minute: 2 },
    });
    const cappedKey = String(capped.api_key);
    await expectAnswer(429, "post", "/v1/jobs", "/v1/jobs", { key: cappedKey, body: { prompt: "over quota" } });
    // Fixed one-minute windows: a window may turn between two requests, so ask until refused.
    let limited: Record<string, unknown> | null = null;
    for (let i = 0; i < 6 && limited === null; i++) {
      const res = await call("GET", "/v1/jobs", { key: cappedKey });
      const body = (await checker.check("get", "/v1/jobs", res)) as Record<string, unknown>;
      if (res.status === 429) limited = body;
    }
    expect((limited?.limit as { name: string } | undefined)?.name).toBe("rate_limit_per_minute");

    // --- admin ---
    await expectAnswer(400, "post", "/admin/api/keys", "/admin/api/keys", { body: { name: "", weight: 0 } });
    await expectAnswer(415, "post", "/admin/api/keys", "/admin/api/keys", { raw: "name=x" });
    await expectAnswer(401, "post", "/admin/api/keys", "/admin/api/keys", { key: "wrong", body: { name: "x" } });
    await expectAnswer(200, "get", "/admin/api/tenants", "/admin/api/tenants");
    await expectAnswer(200, "get", "/admin/api/trends", "/admin/api/trends?window=1h");
    await expectAnswer(200, "get", "/admin/api/trends", "/admin/api/trends?window=24h");
    await expectAnswer(400, "get", "/admin/api/trends", "/admin/api/trends?window=7d");
    const t = `/admin/api/tenants/${tenantId}`;
    await expectAnswer(200, "get", "/admin/api/tenants/{id}", t);
    await expectAnswer(404, "get", "/admin/api/tenants/{id}", "/admin/api/tenants/ten_nope");
    await expectAnswer(200, "patch", "/admin/api/tenants/{id}", t, { body: { weight: 2, images_per_day: 100 } });
    await expectAnswer(400, "patch", "/admin/api/tenants/{id}", t, { body: { weight: "heavy" } });
    await expectAnswer(200, "get", "/admin/api/tenants/{id}/usage", `${t}/usage`);
    await expectAnswer(400, "get", "/admin/api/tenants/{id}/usage", `${t}/usage?from=yesterday`);
    const keys = await expectAnswer(200, "get", "/admin/api/tenants/{id}/keys", `${t}/keys`);
    const added = await expectAnswer(201, "post", "/admin/api/tenants/{id}/keys", `${t}/keys`, {
      body: { name: "ci" },
    });
    expect((keys.data as unknown[]).length).toBe(1);
    await expectAnswer(200, "post", "/admin/api/keys/{id}/revoke", `/admin/api/keys/${String(added.id)}/revoke`);
    await expectAnswer(404, "post", "/admin/api/keys/{id}/revoke", "/admin/api/keys/key_nope/revoke");
    await expectAnswer(200, "post", "/admin/api/tenants/{id}/webhook-secret/rotate", `${t}/webhook-secret/rotate`);
    await expectAnswer(
      404,
      "post",
      "/admin/api/tenants/{id}/webhook-secret/rotate",
      "/admin/api/tenants/ten_nope/webhook-secret/rotate",
    );
    await expectAnswer(200, "get", "/admin/api/overview", "/admin/api/overview");
    await expectAnswer(200, "get", "/admin/api/jobs", "/admin/api/jobs?limit=3");
    await expectAnswer(400, "get", "/admin/api/jobs", "/admin/api/jobs?limit=1000");
    await expectAnswer(200, "get", "/admin/api/jobs", "/admin/api/jobs?status=failed,succeeded&q=a&metadata=k%3Dv");
    await expectAnswer(200, "get", "/admin/api/jobs/count", "/admin/api/jobs/count?fallback_used=false");
    await expectAnswer(400, "get", "/admin/api/jobs/count", "/admin/api/jobs/count?status=bogus");
    await expectAnswer(200, "get", "/admin/api/jobs/{id}", `/admin/api/jobs/${jobId}`);
    await expectAnswer(404, "get", "/admin/api/jobs/{id}", "/admin/api/jobs/job_00000000000000000000000000");
    await expectAnswer(204, "post", "/admin/api/session", "/admin/api/session");
    await expectAnswer(204, "delete", "/admin/api/session", "/admin/api/session");
    await expectAnswer(401, "post", "/admin/api/session", "/admin/api/session", { key: null });
    // Bulk: nothing matches this word, so it ends at once.
    const bulk = await expectAnswer(202, "post", "/admin/api/jobs/bulk", "/admin/api/jobs/bulk", {
      body: { action: "retry", filter: { q: "nothingmatchesthis", status: ["failed"] } },
    });
    await expectAnswer(200, "get", "/admin/api/jobs/bulk/{id}", `/admin/api/jobs/bulk/${String(bulk.id)}`);
    await expectAnswer(404, "get", "/admin/api/jobs/bulk/{id}", "/admin/api/jobs/bulk/bulk_00000000000000000000000000");
    await expectAnswer(400, "post", "/admin/api/jobs/bulk", "/admin/api/jobs/bulk", {
      body: { action: "retry", filter: {} },
    });
    await expectAnswer(409, "post", "/admin/api/jobs/bulk", "/admin/api/jobs/bulk", {
      body: { action: "retry", filter: {}, expected_count: 123456 },
    });
    // An operator's actions (stalledId ended canceled above).
    const adminJob = `/admin/api/jobs/${stalledId}`;
    await expectAnswer(202, "post", "/admin/api/jobs/{id}/retry", `${adminJob}/retry`);
    await expectAnswer(409, "post", "/admin/api/jobs/{id}/retry", `${adminJob}/retry`);
    await expectAnswer(200, "post", "/admin/api/jobs/{id}/cancel", `${adminJob}/cancel`);
    await expectAnswer(409, "post", "/admin/api/jobs/{id}/cancel", `${adminJob}/cancel`);
    await expectAnswer(
      404,
      "post",
      "/admin/api/jobs/{id}/cancel",
      "/admin/api/jobs/job_00000000000000000000000000/cancel",
    );
    await expectAnswer(
      202,
      "post",
      "/admin/api/webhook-deliveries/{id}/redeliver",
      `/admin/api/webhook-deliveries/${deliveryId}/redeliver`,
    );
    await expectAnswer(
      404,
      "post",
      "/admin/api/webhook-deliveries/{id}/redeliver",
      "/admin/api/webhook-deliveries/whd_nope/redeliver",
    );
    const stream = await readSse(`${stack.apiUrl}/admin/api/stream`, {
      headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` },
      onRetry: () => undefined,
      timeoutMs: 500,
    });
    expect(stream.status).toBe(200);
    checker.seen.add("get /admin/api/stream 200");
    await expectAnswer(401, "get", "/admin/api/stream", "/admin/api/stream", { key: null });

    // --- service routes ---
    await expectAnswer(200, "get", "/healthz", "/healthz", { key: null });
    await expectAnswer(200, "get", "/readyz", "/readyz", { key: null });
    await expectAnswer(200, "get", "/metrics", "/metrics", { key: null });
    await expectAnswer(200, "get", "/openapi.json", "/openapi.json", { key: null });
    await expectAnswer(200, "get", "/docs", "/docs", { key: null });
    await expectAnswer(200, "get", "/docs/redoc.standalone.js", "/docs/redoc.standalone.js", { key: null });
    await expectAnswer(302, "get", "/dashboard", "/dashboard", { key: null });

    // Every operation of the document answered at least once with a success.
    expect(checker.withoutSuccess()).toEqual([]);
  }, 240_000);

  it("renders at /docs in a browser, with nothing loaded from anywhere else and no CSP refusal", {
    timeout: 90_000,
  }, async () => {
    const browser = await useChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      const elsewhere: string[] = [];
      const refused: string[] = [];
      await page.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith(stack.apiUrl) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
        elsewhere.push(url);
        return route.abort();
      });
      page.on("console", (message) => {
        if (/Content Security Policy|Refused to/.test(message.text())) refused.push(message.text());
      });
      await page.goto(`${stack.apiUrl}/docs`);
      // Redoc has rendered the document: an operation's summary, a webhook, and a typed event.
      await page.locator("h2", { hasText: "Create a job" }).first().waitFor({ timeout: 60_000 });
      await page.locator("h2", { hasText: "job.succeeded webhook" }).first().waitFor();
      await page.locator("h2", { hasText: "Create a job" }).first().scrollIntoViewIfNeeded();
      await page.screenshot({ path: SCREENSHOT });
      expect(elsewhere).toEqual([]);
      // The CSP refuses what would come from elsewhere (Redoc's attribution logo on its CDN, which
      // it then hides); nothing of this API's and no inline script or style may be refused.
      expect(refused.filter((message) => !/'https:\/\/(?!127\.0\.0\.1)/.test(message))).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
