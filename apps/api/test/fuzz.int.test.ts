import http from "node:http";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * Hostile and malformed requests against every route. Each must be refused with a 4xx
 * problem+json (never a 5xx, never a hang). Requests go through node:http rather than fetch so
 * that duplicated headers, odd methods and raw bodies reach the server as written.
 */

interface FuzzRequest {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Statuses this request may answer; any 4xx when absent. */
  expect?: number[];
}

interface FuzzResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const REQUEST_TIMEOUT_MS = 5_000;
const CONCURRENCY = 16;

let h: ApiHarness;
let key: string;
let jobId: string;
let baseUrl: URL;

beforeAll(async () => {
  h = await startApiHarness("fuzz");
  baseUrl = new URL(h.url);
  key = (await h.newTenant("fuzz")).apiKey;
  const created = await h.request("POST", "/v1/jobs", { key, body: { prompt: "a real job for the fuzzer" } });
  expect(created.status).toBe(202);
  jobId = ((await created.json()) as { id: string }).id;
});
afterAll(() => h.close());

function send(req: FuzzRequest): Promise<FuzzResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...req.headers };
    if (req.body !== undefined && headers["content-length"] === undefined && headers["transfer-encoding"] === undefined)
      headers["content-length"] = String(Buffer.byteLength(req.body));
    const client = http.request(
      {
        host: baseUrl.hostname,
        port: baseUrl.port,
        method: req.method,
        path: req.path,
        headers,
        agent: false,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    client.on("timeout", () => client.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    client.on("error", reject);
    client.end(req.body);
  });
}

/** mulberry32: small, fast and deterministic, so a failure can be replayed from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick<T>(items: readonly T[]): T {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error("pick from an empty list");
      return item;
    },
  };
}

const JSON_HEADERS = (k: string) => ({ authorization: `Bearer ${k}`, "content-type": "application/json" });

/** Raw JSON values, as text, so that 1e309 and -0 survive. */
const JUNK_VALUES: readonly string[] = [
  "null",
  "true",
  "false",
  "0",
  "-0",
  "1",
  "5",
  "-1",
  "1.5",
  "1e309",
  "-1e309",
  "9007199254740993",
  "1e-400",
  '""',
  '"x"',
  '"1"',
  '"1024x1024"',
  '"gpt-4o-image"',
  '"\\u0000"',
  '"a\\u0000b"',
  '"\\ud800"',
  '"💥\\u202e\\ufeff"',
  '"javascript:alert(1)"',
  '"file:///etc/passwd"',
  '"http://169.254.169.254/latest/meta-data/"',
  '"http://127.0.0.1:1/hook"',
  "[]",
  "[1,2]",
  '["job.started","job.started"]',
  '["job.nope"]',
  "{}",
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"a":{"b":{"c":[1,{"d":null}]}}}',
  `"${"y".repeat(40_000)}"`,
];

/** Which raw values are acceptable for each field; the generator only uses the others. */
const VALID: Record<string, (v: unknown) => boolean> = {
  prompt: (v) => typeof v === "string" && v.length >= 1 && v.length <= 32000,
  model: (v) => v === "gpt-4o-image" || v === "gpt-image-1",
  fallback_model: (v) => v === null || v === "gpt-image-1",
  n: (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= 4,
  size: (v) => ["1024x1024", "1536x1024", "1024x1536", "auto"].includes(v as string),
  quality: (v) => ["low", "medium", "high", "auto"].includes(v as string),
  max_attempts: (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= 10,
  deadline_seconds: (v) => Number.isSafeInteger(v) && (v as number) >= 10 && (v as number) <= 3600,
  // Loopback and metadata URLs are refused (ALLOW_PRIVATE_WEBHOOK_URLS is false), null is valid.
  webhook_url: (v) => v === null,
  webhook_events: (v) => Array.isArray(v) && v.length === 0,
  metadata: (v) => v !== null && typeof v === "object" && !Array.isArray(v),
};
const FIELDS = Object.keys(VALID);
const UNKNOWN_FIELDS = ["__proto__", "constructor", "prototype", "Prompt", "prompt ", "", "\u0000", "toString"];

function invalidJobBody(r: ReturnType<typeof prng>): string {
  const parts: string[] = [];
  const includePrompt = r.next() < 0.8;
  if (includePrompt) parts.push('"prompt":"a fuzzed prompt"');
  const mode = r.int(3);
  if (mode === 0) {
    parts.push(`${JSON.stringify(r.pick(UNKNOWN_FIELDS))}:${r.pick(JUNK_VALUES)}`);
  } else {
    const field = r.pick(FIELDS);
    const candidates = JUNK_VALUES.filter((raw) => !VALID[field]?.(JSON.parse(raw)));
    parts.push(`${JSON.stringify(field)}:${r.pick(candidates)}`);
    if (mode === 2) {
      const other = r.pick(FIELDS);
      parts.push(`${JSON.stringify(other)}:${r.pick(JUNK_VALUES)}`);
    }
  }
  return `{${parts.join(",")}}`;
}

function brokenJson(r: ReturnType<typeof prng>): string {
  const good = '{"prompt":"a lighthouse","n":2,"metadata":{"k":[1,2,{"x":"y"}]}}';
  switch (r.int(6)) {
    case 0:
      return good.slice(0, 1 + r.int(good.length - 2));
    case 1:
      return good.replace(/[:,]/, r.pick(["", ";", "::", ",,"]));
    case 2:
      return `${good}${r.pick(["}", "]", ",", "x", "\u0000"])}`;
    case 3:
      return Array.from({ length: 1 + r.int(40) }, () => String.fromCharCode(r.int(256))).join("");
    case 4:
      return r.pick(["{'prompt':'x'}", "{prompt:x}", '{"prompt":"x",}', "NaN", "undefined", '{"a":01}', "[1,]"]);
    default:
      return `\ufeff${good.replace("lighthouse", "\\x41")}`;
  }
}

const JUNK_IDS = [
  "nope",
  "job_",
  "job_01",
  "JOB_01J000000000000000000000",
  "job_01J00000000000000000000000U",
  "job_0000000000000000000000000I",
  "ten_01J0000000000000000000000",
  "..",
  "..%2F..%2Fadmin%2Fapi%2Fkeys",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "%00",
  "job_01J0000000000000000000000%00",
  "%F0%9F%92%A5",
  "%E2%80%AE",
  "%ff%fe",
  "%",
  "%zz",
  "1%20OR%201%3D1",
  "'%3B%20DROP%20TABLE%20%22Job%22%3B--",
  "x".repeat(2000),
];

const QUERY_JUNK = [
  "status=nope",
  "status=queued&status=failed",
  "status[]=queued",
  "status[$ne]=x",
  "model=dall-e-3",
  "limit=0",
  "limit=101",
  "limit=-1",
  "limit=1e309",
  "limit=1.5",
  "limit=abc",
  "limit=",
  "limit=9007199254740993",
  "limit=1&limit=2",
  "cursor=nope",
  "cursor=job_01J0000000000000000000000%00",
  "created_after=yesterday",
  "created_after=2024-13-45T99:99:99Z",
  "created_before=2024-01-01",
  "created_before=%00",
  "created_after=2024-01-01T00:00:00Z&created_after=2024-01-02T00:00:00Z",
  "__proto__=x",
  "constructor=x",
  "foo=bar",
  `status=${"q".repeat(4000)}`,
  "%=%",
  "&&&=&",
  "status=%E2%80%AE",
];

const AUTH_JUNK = [
  "",
  "Bearer",
  "Bearer ",
  "bearer dr_nope",
  "Basic ZHI6",
  "Bearer dr_nope extra",
  "Bearer \u00e9\u00e8",
  `Bearer dr_${"a".repeat(8000)}`,
  `Bearer ${ADMIN_TOKEN}`,
  "Token dr_x",
  "Bearer\tdr_x",
  "Bearer null",
  "Bearer undefined",
  "Bearer dr_' OR '1'='1",
];

const CONTENT_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json; charset=utf-16",
  "application/json; charset=latin1",
  "application/json; charset=nope",
  "application/problem+json",
  "application/jsonx",
  "json",
  "application/json, text/plain",
  "APPLICATION/JSON; CHARSET=UTF-16LE",
  "",
];

/** What `POST /admin/api/keys` accepts as `name` (NUL is refused: Postgres cannot store it). */
const isValidName = (v: unknown) =>
  typeof v === "string" && v.trim().length >= 1 && v.trim().length <= 200 && !v.includes("\u0000");

/** The deterministic part: about 1,100 requests drawn from a seeded generator. */
function generated(seed: number, count: number): FuzzRequest[] {
  const r = prng(seed);
  const out: FuzzRequest[] = [];
  const id = () => r.pick(JUNK_IDS);
  for (let i = 0; i < count; i++) {
    const kind = r.int(14);
    const n = `gen#${i}`;
    switch (kind) {
      case 0:
      case 1:
      case 2: {
        const headers: Record<string, string> = JSON_HEADERS(key);
        if (r.next() < 0.2) headers["idempotency-key"] = r.pick(["a b", "k".repeat(300), "\u00e9t\u00e9", "x\ty"]);
        if (r.next() < 0.2) headers.prefer = r.pick(["wait=abc", "wait=-1", "wait=1e309", "wait", "wait=,"]);
        out.push({ name: `${n} invalid job body`, method: "POST", path: "/v1/jobs", headers, body: invalidJobBody(r) });
        break;
      }
      case 3:
        out.push({
          name: `${n} broken JSON`,
          method: "POST",
          path: "/v1/jobs",
          headers: JSON_HEADERS(key),
          body: brokenJson(r),
        });
        break;
      case 4:
        out.push({
          name: `${n} content type`,
          method: "POST",
          path: r.pick(["/v1/jobs", "/admin/api/keys"]),
          headers: {
            authorization: `Bearer ${r.next() < 0.5 ? key : ADMIN_TOKEN}`,
            "content-type": r.pick(CONTENT_TYPES),
          },
          body: r.next() < 0.5 ? '{"prompt":"x","n":0}' : '{"name":""}',
        });
        break;
      case 5:
        out.push({
          name: `${n} list query`,
          method: "GET",
          path: `/v1/jobs?${r.pick(QUERY_JUNK)}`,
          headers: JSON_HEADERS(key),
        });
        break;
      case 6: {
        const sub = r.pick(["", "/cancel", "/retry", "/events", "/webhook-deliveries", "/images/0"]);
        const method = sub === "/cancel" || sub === "/retry" ? "POST" : "GET";
        const headers: Record<string, string> = { authorization: `Bearer ${key}` };
        if (r.next() < 0.3) headers.prefer = r.pick(["wait=abc", "wait=0", "wait=99999999"]);
        out.push({ name: `${n} junk id`, method, path: `/v1/jobs/${id()}${sub}`, headers });
        break;
      }
      case 7:
        out.push({
          name: `${n} junk Last-Event-ID`,
          method: "GET",
          path: `/v1/jobs/${jobId}/events${r.next() < 0.3 ? `?after=${r.pick(["x", "-1", "1e3", "99999999999999999999"])}` : ""}`,
          headers: {
            authorization: `Bearer ${key}`,
            accept: r.pick(["text/event-stream", "text/event-stream, */*", "TEXT/EVENT-STREAM".toLowerCase()]),
            "last-event-id": r.pick([
              "abc",
              "-1",
              "1.5",
              "1e3",
              "0x10",
              "99999999999999999999",
              "\u00e9",
              "1 2",
              "NaN",
            ]),
          },
        });
        break;
      case 8:
        out.push({
          name: `${n} junk after`,
          method: "GET",
          path: `/v1/jobs/${jobId}/events?after=${r.pick(["x", "-1", "1.5", "1e309", "%00", "99999999999999999999", "1&after=2"])}`,
          headers: { authorization: `Bearer ${key}` },
        });
        break;
      case 9: {
        const q = r.pick([
          "expires=abc&signature=zzz",
          "expires=1&signature=x",
          "expires=99999999999&signature=",
          "expires=99999999999&signature=%00%00",
          `expires=99999999999&signature=${"A".repeat(43)}`,
          `expires=99999999999&signature=${"%C3%A9".repeat(43)}`,
          "expires=1e309&signature=x",
          "expires=99999999999&signature=a&signature=b",
          "expires[]=1&signature=x",
          "expires=&signature=",
        ]);
        const index = r.pick(["0", "1", "3", "99", "-1", "1.5", "x", "999", "%00"]);
        out.push({
          name: `${n} image signature`,
          method: "GET",
          path: `/v1/jobs/${r.next() < 0.7 ? jobId : id()}/images/${index}?${q}`,
        });
        break;
      }
      case 10: {
        const route = r.pick([
          "/v1/jobs",
          `/v1/jobs/${jobId}`,
          `/v1/jobs/${jobId}/events`,
          `/v1/jobs/${jobId}/webhook-deliveries`,
          `/v1/jobs/${jobId}/images/0`,
          "/v1/webhook-deliveries/nope/redeliver",
          "/admin/api/keys",
        ]);
        out.push({
          name: `${n} bad auth`,
          method: r.pick(["GET", "POST"]),
          path: route,
          headers: { authorization: r.pick(AUTH_JUNK), "content-type": "application/json" },
          body: '{"prompt":"x"}',
        });
        break;
      }
      case 11:
        out.push({
          name: `${n} wrong method`,
          method: r.pick(["PUT", "DELETE", "PATCH", "PROPFIND", "PURGE"]),
          path: r.pick([
            "/v1/jobs",
            `/v1/jobs/${jobId}`,
            `/v1/jobs/${jobId}/cancel`,
            `/v1/jobs/${jobId}/retry`,
            `/v1/jobs/${jobId}/events`,
            "/admin/api/keys",
            "/healthz",
          ]),
          headers: JSON_HEADERS(r.next() < 0.5 ? key : ADMIN_TOKEN),
          body: "{}",
        });
        break;
      case 12:
        out.push({
          name: `${n} admin body`,
          method: "POST",
          path: "/admin/api/keys",
          headers: JSON_HEADERS(ADMIN_TOKEN),
          body:
            r.next() < 0.3
              ? brokenJson(r)
              : `{"name":${r.pick(JUNK_VALUES.filter((v) => !isValidName(JSON.parse(v))))}}`,
        });
        break;
      default:
        out.push({
          name: `${n} retry wrong state / cancel junk`,
          method: "POST",
          path:
            r.next() < 0.5
              ? `/v1/jobs/${jobId}/retry`
              : `/v1/webhook-deliveries/${r.pick(["whd_x", "..", "%00", "whd_01J0000000000000000000000"])}/redeliver`,
          headers: { authorization: `Bearer ${key}` },
        });
    }
  }
  return out;
}

/** The hand-written part: the cases the brief names one by one. */
function handWritten(): FuzzRequest[] {
  const auth = { authorization: `Bearer ${key}` };
  const json = JSON_HEADERS(key);
  const deep = (depth: number, open: string, close: string, inner: string) =>
    `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
  return [
    {
      name: "1 MB prompt",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: JSON.stringify({ prompt: "p".repeat(1_000_000) }),
    },
    {
      name: "2 MB body",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: JSON.stringify({ prompt: "p".repeat(2_000_000) }),
      expect: [413],
    },
    {
      name: "2 MB body, chunked",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "transfer-encoding": "chunked" },
      body: JSON.stringify({ prompt: "p".repeat(2_000_000) }),
      expect: [413],
    },
    {
      name: "2 MB admin body",
      method: "POST",
      path: "/admin/api/keys",
      headers: JSON_HEADERS(ADMIN_TOKEN),
      body: JSON.stringify({ name: "n".repeat(2_000_000) }),
      expect: [413],
    },
    { name: "deep array body", method: "POST", path: "/v1/jobs", headers: json, body: deep(100_000, "[", "]", "1") },
    {
      name: "deep object body",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: deep(100_000, '{"a":', "}", "1"),
    },
    {
      name: "deep webhook_events",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: `{"prompt":"x","webhook_events":${deep(100_000, "[", "]", "1")}}`,
    },
    {
      name: "__proto__ at top",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: '{"prompt":"x","__proto__":{"n":99}}',
    },
    {
      name: "constructor at top",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: '{"prompt":"x","constructor":{"prototype":{"x":1}}}',
    },
    {
      name: "__proto__ admin",
      method: "POST",
      path: "/admin/api/keys",
      headers: JSON_HEADERS(ADMIN_TOKEN),
      body: '{"__proto__":{"name":"x"}}',
    },
    { name: "duplicate keys", method: "POST", path: "/v1/jobs", headers: json, body: '{"prompt":"x","n":1,"n":"two"}' },
    {
      name: "NUL in prompt",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: '{"prompt":"a\\u0000b"}',
      expect: [400],
    },
    {
      name: "NUL in metadata",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: '{"prompt":"a","metadata":{"k":"\\u0000"}}',
      expect: [400],
    },
    {
      name: "NUL in metadata key",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: '{"prompt":"a","metadata":{"\\u0000":1}}',
      expect: [400],
    },
    {
      name: "NUL in prompt with bad n",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: '{"prompt":"a\\u0000b","n":0}',
    },
    { name: "1e309", method: "POST", path: "/v1/jobs", headers: json, body: '{"prompt":"x","n":1e309}' },
    { name: "-0", method: "POST", path: "/v1/jobs", headers: json, body: '{"prompt":"x","n":-0}' },
    {
      name: "2**53+1",
      method: "POST",
      path: "/v1/jobs",
      headers: json,
      body: '{"prompt":"x","max_attempts":9007199254740993}',
    },
    { name: "array body", method: "POST", path: "/v1/jobs", headers: json, body: '[{"prompt":"x"}]' },
    { name: "string body", method: "POST", path: "/v1/jobs", headers: json, body: '"prompt"' },
    { name: "null body", method: "POST", path: "/v1/jobs", headers: json, body: "null" },
    { name: "empty body", method: "POST", path: "/v1/jobs", headers: json, body: "" },
    { name: "whitespace body", method: "POST", path: "/v1/jobs", headers: json, body: " \n\t " },
    { name: "no content-type", method: "POST", path: "/v1/jobs", headers: auth, body: '{"prompt":"x"}' },
    {
      name: "utf-16 charset",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...auth, "content-type": "application/json; charset=utf-16" },
      body: '{"prompt":"x"}',
      expect: [400],
    },
    {
      name: "gzip header, plain body",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "content-encoding": "gzip" },
      body: '{"prompt":"x"}',
    },
    {
      name: "deflate header, plain body",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "content-encoding": "deflate" },
      body: '{"prompt":"x"}',
    },
    {
      name: "gzip bomb-ish body over the limit",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "content-encoding": "gzip" },
      body: gzipSync(Buffer.from(JSON.stringify({ prompt: "z".repeat(3_000_000) }))),
      expect: [413],
    },
    {
      name: "br encoding",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "content-encoding": "br" },
      body: "xx",
    },
    {
      name: "unknown encoding",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "content-encoding": "rot13" },
      body: "{}",
    },
    {
      name: "duplicated content-type",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...auth, "content-type": ["text/plain", "application/json"] },
      body: '{"prompt":"x"}',
    },
    {
      name: "duplicated idempotency key",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "idempotency-key": ["a", "b"] },
      body: '{"prompt":"x"}',
    },
    {
      name: "idempotency key with spaces",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "idempotency-key": "a b c" },
      body: '{"prompt":"x"}',
    },
    {
      name: "idempotency key 300",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "idempotency-key": "k".repeat(300) },
      body: '{"prompt":"x"}',
    },
    {
      name: "idempotency key empty",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "idempotency-key": "" },
      body: '{"prompt":"x"}',
    },
    {
      name: "long x-request-id",
      method: "GET",
      path: "/v1/jobs/nope",
      headers: { ...auth, "x-request-id": "r".repeat(8000) },
    },
    {
      name: "long junk header",
      method: "GET",
      path: "/v1/jobs/nope",
      headers: { ...auth, "x-junk": "j".repeat(12_000) },
    },
    { name: "Prefer wait=abc", method: "POST", path: "/v1/jobs", headers: { ...json, prefer: "wait=abc" }, body: "{}" },
    {
      name: "Prefer wait=abc get",
      method: "GET",
      path: "/v1/jobs/job_01J0000000000000000000000Z",
      headers: { ...auth, prefer: "wait=abc" },
    },
    {
      name: "duplicated authorization",
      method: "GET",
      path: "/v1/jobs",
      headers: { authorization: ["Bearer dr_nope", `Bearer ${key}`] },
      expect: [401],
    },
    { name: "path traversal", method: "GET", path: "/v1/jobs/../../admin/api/keys", headers: auth },
    { name: "encoded traversal", method: "GET", path: "/v1/jobs/..%2f..%2fadmin%2fapi%2fkeys", headers: auth },
    { name: "double slash", method: "GET", path: "//v1//jobs", headers: auth },
    { name: "absolute-form target", method: "GET", path: `http://evil.example/v1/jobs/${jobId}/nope`, headers: auth },
    { name: "bad percent encoding", method: "GET", path: "/v1/jobs/%E0%A4%A", headers: auth, expect: [400] },
    { name: "lone percent", method: "POST", path: "/v1/jobs/%/cancel", headers: auth, expect: [400] },
    { name: "bad percent image", method: "GET", path: "/v1/jobs/%zz/images/0?expires=1&signature=x", expect: [400] },
    { name: "events, json, junk id", method: "GET", path: "/v1/jobs/%00/events", headers: auth },
    {
      name: "events sse junk Last-Event-ID",
      method: "GET",
      path: `/v1/jobs/${jobId}/events`,
      headers: { ...auth, accept: "text/event-stream", "last-event-id": "'; DROP TABLE x" },
    },
    { name: "unknown route", method: "GET", path: "/v2/jobs", headers: auth },
    {
      name: "admin wrong token",
      method: "POST",
      path: "/admin/api/keys",
      headers: JSON_HEADERS(`${ADMIN_TOKEN}x`),
      body: '{"name":"x"}',
    },
    {
      name: "admin no token",
      method: "POST",
      path: "/admin/api/keys",
      headers: { "content-type": "application/json" },
      body: '{"name":"x"}',
    },
    {
      name: "admin unknown path",
      method: "GET",
      path: "/admin/api/keys/../../healthz",
      headers: JSON_HEADERS(ADMIN_TOKEN),
    },
    {
      name: "admin NUL name",
      method: "POST",
      path: "/admin/api/keys",
      headers: JSON_HEADERS(ADMIN_TOKEN),
      expect: [400],
      body: '{"name":"\\u0000"}',
    },
  ];
}

/** Runs the requests `CONCURRENCY` at a time; a transport error or timeout counts as a failure. */
async function runAll(requests: FuzzRequest[]): Promise<{ req: FuzzRequest; res?: FuzzResponse; error?: string }[]> {
  const results: { req: FuzzRequest; res?: FuzzResponse; error?: string }[] = [];
  let next = 0;
  const lane = async () => {
    for (;;) {
      const req = requests[next++];
      if (req === undefined) return;
      try {
        results.push({ req, res: await send(req) });
      } catch (error) {
        results.push({ req, error: (error as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return results;
}

function problemsOf(results: Awaited<ReturnType<typeof runAll>>): string[] {
  const problems: string[] = [];
  for (const { req, res, error } of results) {
    const label = `${req.name}: ${req.method} ${req.path.slice(0, 120)}`;
    if (res === undefined) {
      problems.push(`${label} -> ${error}`);
      continue;
    }
    const allowed = req.expect ?? [];
    if (allowed.length > 0 ? !allowed.includes(res.status) : res.status < 400 || res.status > 499) {
      problems.push(`${label} -> ${res.status} ${res.body.slice(0, 300)}`);
      continue;
    }
    if (!String(res.headers["content-type"]).startsWith("application/problem+json")) {
      problems.push(`${label} -> ${res.status} with content-type ${res.headers["content-type"]}`);
      continue;
    }
    try {
      const body = JSON.parse(res.body) as { code?: unknown; request_id?: unknown; status?: unknown };
      if (typeof body.code !== "string" || typeof body.request_id !== "string" || body.status !== res.status)
        problems.push(`${label} -> problem without code/request_id/status: ${res.body.slice(0, 300)}`);
    } catch {
      problems.push(`${label} -> unparseable problem body: ${res.body.slice(0, 300)}`);
    }
  }
  return problems;
}

describe("fuzzing every route", () => {
  it("refuses the hand-written hostile requests with a 4xx problem+json", { timeout: 120_000 }, async () => {
    const results = await runAll(handWritten());
    expect(problemsOf(results)).toEqual([]);
  });

  it("refuses 1,100 generated malformed requests with a 4xx problem+json", { timeout: 180_000 }, async () => {
    const requests = generated(0xda2c, 1_100);
    const results = await runAll(requests);
    expect(results).toHaveLength(1_100);
    expect(problemsOf(results)).toEqual([]);
  });

  // Fails until packages/domain/src/job-schemas.ts stops calling JSON.stringify on unbounded
  // nesting in the `metadata` refine (RangeError: Maximum call stack size exceeded -> 500).
  it("refuses deeply nested metadata with 400, not a stack overflow", { timeout: 60_000 }, async () => {
    const json = JSON_HEADERS(key);
    const deep = (depth: number, open: string, close: string, inner: string) =>
      `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
    const requests: FuzzRequest[] = [
      {
        name: "deep metadata",
        method: "POST",
        path: "/v1/jobs",
        headers: json,
        body: `{"prompt":"x","metadata":{"a":${deep(100_000, '{"a":', "}", "1")}}}`,
      },
      {
        name: "deep metadata array",
        method: "POST",
        path: "/v1/jobs",
        headers: json,
        body: `{"prompt":"x","metadata":{"a":${deep(150_000, "[", "]", "1")}}}`,
      },
    ];
    expect(problemsOf(await runAll(requests))).toEqual([]);
  });

  it("leaves the process healthy and unpolluted afterwards", async () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await h.request("GET", "/healthz")).status).toBe(200);
    const job = await h.request("GET", `/v1/jobs/${jobId}`, { key });
    expect(job.status).toBe(200);
    expect(((await job.json()) as { status: string }).status).toBe("queued");
  });
});
