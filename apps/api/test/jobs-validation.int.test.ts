import { Writable } from "node:stream";
import { LONE_SURROGATE_MESSAGE } from "@darkroom/domain";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
let key: string;
/** Every log line the API wrote, parsed. */
const logLines: { level?: string; msg?: string; request_id?: string }[] = [];
beforeAll(async () => {
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") logLines.push(JSON.parse(line));
      done();
    },
  });
  h = await startApiHarness("validation", {}, logs);
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

  it("takes queue_timeout_seconds from 10 to 3600 whole seconds, and shows it with its start-by", async () => {
    for (const [value, message] of [
      [9, "must be at least 10"],
      [3601, "must be at most 3600"],
      [10.5, "must be an integer"],
      ["60", "must be an integer"],
    ] as const) {
      const res = await h.request("POST", "/v1/jobs", { key, body: { prompt: "x", queue_timeout_seconds: value } });
      expect(res.status, String(value)).toBe(400);
      expect((await problem(res)).errors).toEqual([{ path: "queue_timeout_seconds", message }]);
    }
    const res = await h.request("POST", "/v1/jobs", { key, body: { prompt: "x", queue_timeout_seconds: 3600 } });
    expect(res.status).toBe(202);
    const job = (await res.json()) as { created_at: string; queue_timeout_seconds: number; queue_expires_at: string };
    expect(job.queue_timeout_seconds).toBe(3600);
    expect(Date.parse(job.queue_expires_at) - Date.parse(job.created_at)).toBe(3_600_000);
    const none = (await (await h.request("POST", "/v1/jobs", { key, body: { prompt: "x" } })).json()) as object;
    expect(none).toMatchObject({ queue_timeout_seconds: null, queue_expires_at: null });
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

  it("refuses combinations that cannot do what they say, naming the field", async () => {
    for (const [body, path, message] of [
      [{ webhook_events: ["job.succeeded"] }, "webhook_events", "needs webhook_url"],
      [{ model: "gpt-image-1", fallback_model: "gpt-image-1" }, "fallback_model", "cannot fall back to itself"],
    ] as const) {
      const res = await h.request("POST", "/v1/jobs", { key, body: { prompt: "p", ...body } });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const errors = (await problem(res)).errors ?? [];
      expect(errors.map((e) => e.path)).toEqual([path]);
      expect(errors[0]?.message).toContain(message);
    }
  });

  it("gives gpt-image-1 no fallback by default (it would be itself), and gpt-4o-image the gpt-image-1 one", async () => {
    const own = await h.request("POST", "/v1/jobs", { key, body: { prompt: "p", model: "gpt-image-1" } });
    expect(own.status).toBe(202);
    expect(await own.json()).toMatchObject({ model: "gpt-image-1", fallback_model: null });
    const primary = await h.request("POST", "/v1/jobs", { key, body: { prompt: "p", model: "gpt-4o-image" } });
    expect(await primary.json()).toMatchObject({ model: "gpt-4o-image", fallback_model: "gpt-image-1" });
    const none = await h.request("POST", "/v1/jobs", { key, body: { prompt: "p", fallback_model: null } });
    expect(await none.json()).toMatchObject({ fallback_model: null });
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

  it("refuses a lone UTF-16 surrogate in metadata, prompt and webhook_url with 400 by path, never a 500 or an error log", async () => {
    const cases: [string, Record<string, string>][] = [
      ['{"prompt":"ok","metadata":{"k":"a\\udfffb"}}', { "metadata.k": LONE_SURROGATE_MESSAGE }],
      ['{"prompt":"ok","metadata":{"a\\udfffb":"v"}}', { "metadata.a\\udfffb": `key ${LONE_SURROGATE_MESSAGE}` }],
      [
        '{"prompt":"ok","metadata":{"k":{"deeper":["x","\\ud800"]}}}',
        { "metadata.k.deeper.1": LONE_SURROGATE_MESSAGE },
      ],
      ['{"prompt":"a\\udfffb"}', { prompt: LONE_SURROGATE_MESSAGE }],
      ['{"prompt":"ok","webhook_url":"https://example.com/\\udfff"}', { webhook_url: LONE_SURROGATE_MESSAGE }],
    ];
    const requestIds: string[] = [];
    for (const [raw, expected] of cases) {
      const res = await h.request("POST", "/v1/jobs", { key, raw, headers: { "content-type": "application/json" } });
      expect(res.status, raw).toBe(400);
      const body = await problem(res);
      requestIds.push(body.request_id);
      expect(body.code).toBe("validation_failed");
      expect(Object.fromEntries((body.errors ?? []).map((e) => [e.path, e.message])), raw).toEqual(expected);
    }
    const admin = await h.request("POST", "/admin/api/keys", {
      key: ADMIN_TOKEN,
      raw: '{"name":"team \\udfff"}',
      headers: { "content-type": "application/json" },
    });
    expect(admin.status).toBe(400);
    const adminBody = await problem(admin);
    requestIds.push(adminBody.request_id);
    expect(adminBody.errors).toEqual([{ path: "name", message: LONE_SURROGATE_MESSAGE }]);
    // Each request logged its outcome (so the capture works), none at error level.
    const ours = logLines.filter((l) => l.request_id !== undefined && requestIds.includes(l.request_id));
    expect(ours.filter((l) => l.msg === "request")).toHaveLength(requestIds.length);
    expect(ours.filter((l) => l.level === "error" || l.level === "fatal")).toEqual([]);
  });

  it("refuses metadata numbers beyond the double range instead of storing null", async () => {
    const raw = `{"prompt":"ok","metadata":{"big":1e400,"digits":${"7".repeat(400)},"fine":1e308}}`;
    const res = await h.request("POST", "/v1/jobs", { key, raw, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect((await problem(res)).errors).toEqual([
      { path: "metadata.big", message: "must be a finite number (at most about 1.8e308)" },
      { path: "metadata.digits", message: "must be a finite number (at most about 1.8e308)" },
    ]);
  });
});
