import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
let key: string;
beforeAll(async () => {
  h = await startApiHarness("validation");
  key = (await h.newTenant()).apiKey;
});
afterAll(() => h.close());

async function problem(res: Response) {
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as {
    status: number;
    code: string;
    errors?: { path: string; message: string }[];
    request_id: string;
  };
  expect(body.request_id).toBe(res.headers.get("x-request-id"));
  return body;
}

describe("POST /v1/jobs validation", () => {
  it("names every bad field at once", async () => {
    const res = await h.request("POST", "/v1/jobs", {
      key,
      body: {
        prompt: "",
        n: 7,
        size: "800x600",
        quality: "ultra",
        max_attempts: 0,
        deadline_seconds: 5,
        model: "dall-e-3",
      },
    });
    expect(res.status).toBe(400);
    const body = await problem(res);
    expect(body.code).toBe("validation_failed");
    const paths = (body.errors ?? []).map((e) => e.path).sort();
    expect(paths).toEqual(["deadline_seconds", "max_attempts", "model", "n", "prompt", "quality", "size"]);
    expect(body.errors?.find((e) => e.path === "n")?.message).toBe("must be at most 4");
  });

  it("rejects unknown fields and wrong types by name", async () => {
    const res = await h.request("POST", "/v1/jobs", {
      key,
      body: {
        prompt: "x",
        colour: "red",
        n: "2",
        metadata: [1],
        webhook_url: "ftp://example.com/hook",
        webhook_events: ["job.exploded"],
      },
    });
    expect(res.status).toBe(400);
    const body = await problem(res);
    const byPath = Object.fromEntries((body.errors ?? []).map((e) => [e.path, e.message]));
    expect(byPath.colour).toBe("is not a known field");
    expect(byPath.n).toBe("must be an integer");
    expect(byPath.metadata).toBe("must be a JSON object");
    expect(byPath.webhook_url).toBe("must be an absolute http(s) URL");
    expect(byPath["webhook_events.0"]).toMatch(/each must be one of/);
  });

  it("requires the prompt and limits its length and the metadata size", async () => {
    const missing = await problem(await h.request("POST", "/v1/jobs", { key, body: { n: 1 } }));
    expect(missing.errors).toEqual([{ path: "prompt", message: "is required and must be a string" }]);
    const long = await problem(await h.request("POST", "/v1/jobs", { key, body: { prompt: "x".repeat(32001) } }));
    expect(long.errors).toEqual([{ path: "prompt", message: "must be at most 32000 characters" }]);
    const meta = await problem(
      await h.request("POST", "/v1/jobs", { key, body: { prompt: "x", metadata: { blob: "y".repeat(17000) } } }),
    );
    expect(meta.errors?.[0]?.path).toBe("metadata");
  });

  it("answers malformed JSON, a non-object body and a non-JSON content type clearly", async () => {
    const malformed = await h.request("POST", "/v1/jobs", {
      key,
      raw: '{"prompt": "a cat",',
      headers: { "content-type": "application/json" },
    });
    expect(malformed.status).toBe(400);
    expect((await problem(malformed)).code).toBe("malformed_json");

    const array = await h.request("POST", "/v1/jobs", {
      key,
      raw: "[1,2]",
      headers: { "content-type": "application/json" },
    });
    expect(array.status).toBe(400);
    expect((await problem(array)).errors).toEqual([{ path: "", message: "must be a JSON object" }]);

    const text = await h.request("POST", "/v1/jobs", {
      key,
      raw: "prompt=cat",
      headers: { "content-type": "text/plain" },
    });
    expect(text.status).toBe(415);
    expect((await problem(text)).code).toBe("unsupported_media_type");
  });

  it("rejects bad list parameters by name", async () => {
    const res = await h.request("GET", "/v1/jobs?limit=500&status=done&created_after=yesterday&cursor=abc", { key });
    expect(res.status).toBe(400);
    const paths = ((await problem(res)).errors ?? []).map((e) => e.path).sort();
    expect(paths).toEqual(["created_after", "cursor", "limit", "status"]);
  });

  it("accepts a valid job with every default applied", async () => {
    const res = await h.request("POST", "/v1/jobs", { key, body: { prompt: "a lighthouse at dusk" } });
    expect(res.status).toBe(202);
    const job = (await res.json()) as Record<string, unknown>;
    expect(res.headers.get("location")).toBe(`/v1/jobs/${job.id}`);
    expect(job).toMatchObject({
      object: "job",
      status: "queued",
      model: "gpt-4o-image",
      fallback_model: "gpt-image-1",
      n: 1,
      size: "auto",
      quality: "auto",
      max_attempts: 4,
      progress: { percent: 0, stage: "queued" },
      attempts: [],
      fallback_used: false,
      result: null,
      error: null,
      metadata: {},
      webhook_url: null,
      webhook_events: [],
    });
    expect(job.id).toMatch(/^job_[0-9A-HJKMNP-TV-Z]{26}$/);
  });
});
