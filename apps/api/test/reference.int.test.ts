import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
let key: string;
beforeAll(async () => {
  h = await startApiHarness("reference");
  key = (await h.newTenant()).apiKey;
});
afterAll(() => h.close());

/** The closed set of job error codes, as design.md section 3 lists them (not the constant the document is built from). */
const DOCUMENTED_JOB_ERROR_CODES = [
  "bad_request",
  "content_policy",
  "upstream_auth",
  "upstream_quota",
  "upstream_unavailable",
  "upstream_rate_limited",
  "upstream_error",
  "upstream_timeout",
  "upstream_stalled",
  "upstream_busy",
  "stream_truncated",
  "no_image",
  "result_unavailable",
  "deadline_exceeded",
  "queue_timeout",
  "internal",
];

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every method + path the Express app really serves, in OpenAPI's `{param}` form. */
function servedRoutes(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route && typeof layer.route.path === "string") {
        for (const method of Object.keys(layer.route.methods))
          out.push(`${method} ${layer.route.path.replace(/:(\w+)/g, "{$1}")}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return [...new Set(out)].sort();
}

describe("reference endpoints", () => {
  it("/openapi.json documents exactly the routes the API serves, and the closed set of job error codes", async () => {
    const res = await h.request("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
    };
    expect(doc.openapi).toBe("3.1.0");
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
      .sort();
    expect(documented).toEqual(servedRoutes(h.api.app));
    // Prefer: wait on GET answers 200 when the job finished in time, 202 when the wait ran out.
    expect(Object.keys(doc.paths["/v1/jobs/{id}"]?.get?.responses ?? {})).toEqual(
      expect.arrayContaining(["200", "202"]),
    );
    expect(doc.components.schemas.JobError?.properties?.code?.enum).toEqual(DOCUMENTED_JOB_ERROR_CODES);
    const create = doc.components.schemas.JobCreate?.properties ?? {};
    expect(Object.keys(create).sort()).toEqual(
      [
        "deadline_seconds",
        "fallback_model",
        "hedge_after_seconds",
        "max_attempts",
        "metadata",
        "model",
        "n",
        "priority",
        "prompt",
        "quality",
        "queue_timeout_seconds",
        "size",
        "webhook_events",
        "webhook_url",
      ].sort(),
    );
  });

  it("/openapi.json documents 429 rate_limited wherever authentication or a stream slot can refuse", async () => {
    const doc = (await (await h.request("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses?: Record<string, { description?: string }> }>>;
    };
    const tooMany = (path: string, method: string) => doc.paths[path]?.[method]?.responses?.["429"]?.description ?? "";
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const authenticated = path.startsWith("/v1/") || path.startsWith("/admin/api/");
        if (authenticated)
          expect(tooMany(path, method), `${method} ${path}`).toMatch(
            /rate_limited.*AUTH_FAILURES_PER_MINUTE|rate_limited.*auth_failures_per_minute/,
          );
        else expect(tooMany(path, method), `${method} ${path}`).toBe("");
      }
    }
    for (const [path, method] of [
      ["/v1/jobs", "post"],
      ["/v1/jobs/{id}", "get"],
      ["/v1/jobs/{id}/events", "get"],
    ] as const) {
      expect(tooMany(path, method), `${method} ${path}`).toContain("MAX_STREAMS_PER_KEY");
    }
    expect(tooMany("/v1/webhook-deliveries/{id}/redeliver", "post")).toContain("WEBHOOK_REDELIVERIES_PER_MINUTE");
  });

  it("/docs renders the OpenAPI document with the bundled Redoc, nothing loaded from elsewhere", async () => {
    const doc = (await (await h.request("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => [m, path]));
    expect(operations.length).toBeGreaterThan(10);
    const res = await h.request("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    const missing = operations
      .filter(([method, path]) => !html.includes(`${method?.toUpperCase()}</span> <code>${path}</code>`))
      .map(([method, path]) => `${method} ${path}`);
    expect(missing).toEqual([]);
    expect(html).toContain('<redoc spec-url="/openapi.json"');
    // No inline script, and every script from this API (the CSP would refuse anything else anyway).
    const scripts = [...html.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)];
    expect(scripts.map(([, attrs, body]) => [attrs?.trim(), body])).toEqual([['src="/docs/redoc.standalone.js"', ""]]);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/https?:|\*/);
    const bundle = await h.request("GET", "/docs/redoc.standalone.js");
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
  });

  it("/metrics counts requests by route pattern and reads job and queue gauges", async () => {
    await h.request("POST", "/v1/jobs", { key, body: { prompt: "metrics" } });
    await h.request("GET", "/v1/jobs/job_00000000000000000000000000", { key });
    const text = await (await h.request("GET", "/metrics")).text();
    expect(text).toMatch(/darkroom_http_requests_total\{method="POST",route="\/v1\/jobs",status="202"\} 1/);
    expect(text).toMatch(/darkroom_http_requests_total\{method="GET",route="\/v1\/jobs\/:id",status="404"\} 1/);
    expect(text).toMatch(/darkroom_jobs_created_total 1/);
    expect(text).toMatch(/darkroom_jobs\{status="queued"\} 1/);
    // No worker runs here: the job waits in its tenant's intake, not yet in BullMQ.
    expect(text).toMatch(/darkroom_admission\{state="queued"\} 1/);
    expect(text).toMatch(/darkroom_queue_jobs\{state="waiting"\} 0/);
    expect(text).not.toMatch(/job_0000/);
  });
});
