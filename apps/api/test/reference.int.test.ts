import { JOB_ERROR_CODES } from "@darkroom/domain";
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
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
    };
    expect(doc.openapi).toBe("3.1.0");
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
      .sort();
    expect(documented).toEqual(servedRoutes(h.api.app));
    expect(doc.components.schemas.JobError?.properties?.code?.enum).toEqual([...JOB_ERROR_CODES]);
    const create = doc.components.schemas.JobCreate?.properties ?? {};
    expect(Object.keys(create).sort()).toEqual(
      [
        "deadline_seconds",
        "fallback_model",
        "max_attempts",
        "metadata",
        "model",
        "n",
        "prompt",
        "quality",
        "size",
        "webhook_events",
        "webhook_url",
      ].sort(),
    );
  });

  it("/docs renders every endpoint as HTML", async () => {
    const res = await h.request("GET", "/docs");
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    for (const path of ["/v1/jobs/{id}/events", "/v1/webhook-deliveries/{id}/redeliver", "/admin/api/keys"])
      expect(html).toContain(path);
    expect(html).not.toContain("<script");
  });

  it("/metrics counts requests by route pattern and reads job and queue gauges", async () => {
    await h.request("POST", "/v1/jobs", { key, body: { prompt: "metrics" } });
    await h.request("GET", "/v1/jobs/job_00000000000000000000000000", { key });
    const text = await (await h.request("GET", "/metrics")).text();
    expect(text).toMatch(/darkroom_http_requests_total\{method="POST",route="\/v1\/jobs",status="202"\} 1/);
    expect(text).toMatch(/darkroom_http_requests_total\{method="GET",route="\/v1\/jobs\/:id",status="404"\} 1/);
    expect(text).toMatch(/darkroom_jobs_created_total 1/);
    expect(text).toMatch(/darkroom_jobs\{status="queued"\} 1/);
    expect(text).toMatch(/darkroom_queue_jobs\{state="waiting"\} 1/);
    expect(text).not.toMatch(/job_0000/);
  });
});
