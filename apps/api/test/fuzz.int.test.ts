import { existsSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { METADATA_MAX_DEPTH } from "@darkroom/domain";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

/**
 * Hostile and malformed requests against every route the app serves (read from the Express router,
 * so a new route is fuzzed without editing this file) and every header the API reads. Never a 5xx,
 * never a hang, a problem+json on every 4xx, and the exact status wherever the right one is known.
 * Requests go through node:http (or a raw socket) rather than fetch so that duplicated headers,
 * odd methods, lying Content-Lengths and raw bodies reach the server as written.
 */

interface FuzzRequest {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** The statuses this request may answer: exact where the right code is known. */
  expect: readonly number[];
  /** Field paths the problem's `errors` must name (a path or a parent of it). */
  paths?: readonly string[];
}

interface FuzzResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const REQUEST_TIMEOUT_MS = 8_000;
const CONCURRENCY = 16;
/** Any status that is not a server error: for public pages and routes this file knows nothing about. */
const NOT_5XX: readonly number[] = Array.from({ length: 400 }, (_, i) => 100 + i);

let h: ApiHarness;
let key: string;
let jobId: string;
let baseUrl: URL;

/** Levels and messages of every log line the API wrote during the run. */
const logLines: { level?: string; msg?: string }[] = [];

beforeAll(async () => {
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") logLines.push(JSON.parse(line));
      done();
    },
  });
  // Thousands of wrong keys and tokens, and of requests with the one key, come from one address
  // here: the failed-auth limit and the tenants' request rate limit (tested in limits.int.test.ts)
  // are set out of reach so that every answer is the route's own.
  h = await startApiHarness(
    "fuzz",
    { AUTH_FAILURES_PER_MINUTE: "1000000", TENANT_DEFAULT_RATE_LIMIT_PER_MINUTE: "1000000" },
    logs,
  );
  baseUrl = new URL(h.url);
  key = (await h.newTenant("fuzz")).apiKey;
  const created = await h.request("POST", "/v1/jobs", { key, body: { prompt: "a real job for the fuzzer" } });
  expect(created.status).toBe(202);
  jobId = ((await created.json()) as { id: string }).id;
});
afterAll(() => h.close());

/** One request; an event stream answers with its first chunk and is then closed (it never ends by itself). */
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
        const done = () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
        const stream = String(res.headers["content-type"]).startsWith("text/event-stream");
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          if (stream) {
            done();
            client.destroy();
          }
        });
        res.on("end", done);
        res.on("error", (error) => (stream ? done() : reject(error)));
      },
    );
    client.on("timeout", () => client.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    client.on("error", reject);
    client.end(req.body);
  });
}

/**
 * Writes `text` on a fresh socket, then half-closes it when asked, and reads the answer until the
 * server closes. For what node:http refuses to send: Content-Lengths that disagree with the body.
 */
function sendRaw(text: string, halfClose: boolean): Promise<FuzzResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(baseUrl.port), baseUrl.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(
      () => socket.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    );
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString("utf8");
      const [head = "", body = ""] = raw.split("\r\n\r\n", 2);
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers: http.IncomingHttpHeaders = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body });
    });
    socket.write(text, () => {
      if (halfClose) socket.end();
    });
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

/** Raw JSON values, as text, so that 1e400, -0 and lone-surrogate escapes survive. */
const JUNK_VALUES: readonly string[] = [
  "null",
  "true",
  "false",
  "0",
  "-0",
  "-0.0",
  "1",
  "5",
  "-1",
  "1.5",
  "1e309",
  "-1e309",
  "1e400",
  "9".repeat(400),
  `-${"1".repeat(400)}`,
  "1.0000000000000000001",
  "0.1e1",
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
  '"\\udfff"',
  '"a\\udbffb"',
  '"\\udc00\\ud800"',
  '"\\ud83d\\udca5 paired"',
  '"💥\\u202e\\ufeff"',
  '"javascript:alert(1)"',
  '"file:///etc/passwd"',
  '"http://169.254.169.254/latest/meta-data/"',
  '"http://127.0.0.1:1/hook"',
  '"https://example.com/\\udfff"',
  "[]",
  "[1,2]",
  '["job.started","job.started"]',
  '["job.nope"]',
  '["\\ud800"]',
  "{}",
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"a":{"b":{"c":[1,{"d":null}]}}}',
  '{"k":"a\\udfffb"}',
  '{"a\\ud800":1}',
  '{"x":{"y":[1,{"\\udc00z":"v"}]}}',
  '{"x":{"y":["ok","\\udbff"]}}',
  '{"big":1e400}',
  '{"a":{"__proto__":{"polluted":true}}}',
  `"${"y".repeat(40_000)}"`,
];

const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const storableText = (s: string) => !s.includes("\u0000") && !LONE.test(s);

/** The documented metadata rules (README, POST body), checked independently of the schema. */
function storableMetadata(v: unknown): boolean {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  if (Buffer.byteLength(JSON.stringify(v)) > 16 * 1024) return false;
  const walk = (item: unknown, depth: number): boolean => {
    if (typeof item === "string") return storableText(item);
    if (typeof item === "number") return Number.isFinite(item);
    if (item === null || typeof item !== "object") return true;
    if (depth > METADATA_MAX_DEPTH) return false;
    return Object.entries(item).every(([k, child]) => k !== "__proto__" && storableText(k) && walk(child, depth + 1));
  };
  return walk(v, 1);
}

/** Which raw values are acceptable for each field; the generator only uses the others. */
const VALID: Record<string, (v: unknown) => boolean> = {
  prompt: (v) => typeof v === "string" && v.length >= 1 && v.length <= 32000 && storableText(v),
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
  metadata: storableMetadata,
};
const FIELDS = Object.keys(VALID);
const UNKNOWN_FIELDS = [
  "__proto__",
  "constructor",
  "prototype",
  "Prompt",
  "prompt ",
  "",
  "\u0000",
  "toString",
  "\udfff",
];

/** A job body with at least one invalid field, and the paths the 400 must name. */
function invalidJobBody(r: ReturnType<typeof prng>): { body: string; paths: string[] } {
  const parts: string[] = [];
  const paths: string[] = [];
  if (r.next() < 0.8) parts.push('"prompt":"a fuzzed prompt"');
  else paths.push("prompt");
  const mode = r.int(3);
  if (mode === 0) {
    const unknown = r.pick(UNKNOWN_FIELDS);
    parts.push(`${JSON.stringify(unknown)}:${r.pick(JUNK_VALUES)}`);
    paths.push(unknown);
  } else {
    const field = r.pick(FIELDS);
    const candidates = JUNK_VALUES.filter((raw) => !VALID[field]?.(JSON.parse(raw)));
    parts.push(`${JSON.stringify(field)}:${r.pick(candidates)}`);
    paths.push(field);
    if (mode === 2) {
      // Another field: the same one again would be a duplicate key whose last value wins.
      const other = r.pick(FIELDS.filter((f) => f !== field && f !== "prompt"));
      parts.push(`${JSON.stringify(other)}:${r.pick(JUNK_VALUES)}`);
    }
  }
  return { body: `{${parts.join(",")}}`, paths };
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
      // Never a lone digit or whitespace only: those are valid JSON (a number, an empty body).
      return `{${Array.from({ length: 1 + r.int(40) }, () => String.fromCharCode(r.int(256))).join("")}`;
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
  "whd_01J00000000000000000000000",
  "..",
  "..%2F..%2Fadmin%2Fapi%2Fkeys",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "%00",
  "job_01J0000000000000000000000%00",
  "%F0%9F%92%A5",
  "%E2%80%AE",
  "%ED%A0%80",
  "%ff%fe",
  "%",
  "%zz",
  "1%20OR%201%3D1",
  "'%3B%20DROP%20TABLE%20%22Job%22%3B--",
  "x".repeat(2000),
];
/** Express answers 400 for a path segment that is not valid percent-encoding, 404 for any other junk id. */
const junkIdStatus = (id: string) => {
  try {
    decodeURIComponent(id);
    return 404;
  } catch {
    return 400;
  }
};

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
  "limit=1e400",
  `limit=${"9".repeat(400)}`,
  "limit=1.5",
  "limit=abc",
  "limit=",
  "limit=9007199254740993",
  "limit=1&limit=2",
  "cursor=nope",
  "cursor=job_01J0000000000000000000000%00",
  "cursor=%ED%B0%80",
  "cursor=job_01J00000000000000000000000%ED%A0%80",
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
  "status=%ED%A0%80",
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
  "Token dr_x",
  "Bearer\tdr_x",
  "Bearer null",
  "Bearer undefined",
  "Bearer dr_' OR '1'='1",
  `Bearer ${ADMIN_TOKEN}x`,
  `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
];

/** How each Content-Type reaches a route: the JSON parser runs for every route, before auth. */
const CONTENT_TYPES: readonly {
  type: string;
  outcome: "not-json" | "parsed-other-type" | "undecodable" | "bad-charset";
}[] = [
  { type: "text/plain", outcome: "not-json" },
  { type: "application/x-www-form-urlencoded", outcome: "not-json" },
  { type: "multipart/form-data; boundary=x", outcome: "not-json" },
  { type: "application/json; charset=utf-16", outcome: "undecodable" },
  { type: "APPLICATION/JSON; CHARSET=UTF-16LE", outcome: "undecodable" },
  { type: "application/json; charset=latin1", outcome: "bad-charset" },
  { type: "application/json; charset=nope", outcome: "bad-charset" },
  { type: "application/problem+json", outcome: "parsed-other-type" },
  { type: "application/jsonx", outcome: "not-json" },
  { type: "json", outcome: "not-json" },
  { type: "application/json, text/plain", outcome: "not-json" },
  { type: "", outcome: "not-json" },
];

/**
 * The status of a POST with this Content-Type: a body the parser cannot decode is 400 and an
 * unsupported charset 415 before anything else; then `authorized`, then the route's own answer
 * (`needsJson`: 415 for anything but application/json).
 */
function contentTypeStatus(
  outcome: (typeof CONTENT_TYPES)[number]["outcome"],
  authorized: boolean,
  needsJson: boolean,
  otherwise: number,
): number {
  if (outcome === "undecodable") return 400;
  if (outcome === "bad-charset") return 415;
  if (!authorized) return 401;
  return needsJson ? 415 : otherwise;
}

/** What `POST /admin/api/keys` accepts as `name`. */
const isValidName = (v: unknown) =>
  typeof v === "string" && v.trim().length >= 1 && v.trim().length <= 200 && storableText(v);

/** The deterministic part: about 1,100 requests drawn from a seeded generator. */
function generated(seed: number, count: number): FuzzRequest[] {
  const r = prng(seed);
  const out: FuzzRequest[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r.int(14);
    const n = `gen#${i}`;
    switch (kind) {
      case 0:
      case 1:
      case 2: {
        const headers: Record<string, string> = JSON_HEADERS(key);
        const badKey = r.next() < 0.2;
        if (badKey) headers["idempotency-key"] = r.pick(["a b", "k".repeat(300), "\u00e9t\u00e9", "x\ty"]);
        if (r.next() < 0.2) headers.prefer = r.pick(["wait=abc", "wait=-1", "wait=1e309", "wait", "wait=,"]);
        const { body, paths } = invalidJobBody(r);
        // The Idempotency-Key is checked before the body, so it is then the only error named.
        out.push({
          name: `${n} invalid job body`,
          method: "POST",
          path: "/v1/jobs",
          headers,
          body,
          expect: [400],
          paths: badKey ? ["Idempotency-Key"] : paths,
        });
        break;
      }
      case 3:
        out.push({
          name: `${n} broken JSON`,
          method: "POST",
          path: "/v1/jobs",
          headers: JSON_HEADERS(key),
          body: brokenJson(r),
          expect: [400],
        });
        break;
      case 4: {
        const target = r.pick(["/v1/jobs", "/admin/api/keys"]);
        const asAdmin = r.next() < 0.5;
        const ct = r.pick(CONTENT_TYPES);
        out.push({
          name: `${n} content type ${ct.type}`,
          method: "POST",
          path: target,
          headers: { authorization: `Bearer ${asAdmin ? ADMIN_TOKEN : key}`, "content-type": ct.type },
          body: r.next() < 0.5 ? '{"prompt":"x","n":0}' : '{"name":""}',
          expect: [contentTypeStatus(ct.outcome, asAdmin === (target === "/admin/api/keys"), true, 0)],
        });
        break;
      }
      case 5: {
        const query = r.pick(QUERY_JUNK);
        out.push({
          name: `${n} list query`,
          method: "GET",
          path: `${r.next() < 0.7 ? "/v1/jobs" : "/admin/api/jobs"}?${query}`,
          headers: JSON_HEADERS(key),
          expect: [400],
        });
        const last = out.at(-1);
        if (last?.path.startsWith("/admin")) last.headers = JSON_HEADERS(ADMIN_TOKEN);
        break;
      }
      case 6: {
        const sub = r.pick(["", "/cancel", "/retry", "/events", "/webhook-deliveries", "/images/0"]);
        const method = sub === "/cancel" || sub === "/retry" ? "POST" : "GET";
        const headers: Record<string, string> = { authorization: `Bearer ${key}` };
        if (r.next() < 0.3) headers.prefer = r.pick(["wait=abc", "wait=0", "wait=99999999"]);
        const id = r.pick(JUNK_IDS);
        out.push({
          name: `${n} junk id`,
          method,
          path: `/v1/jobs/${id}${sub}`,
          headers,
          expect: [junkIdStatus(id)],
        });
        break;
      }
      case 7:
        out.push({
          name: `${n} junk Last-Event-ID`,
          method: "GET",
          path: `/v1/jobs/${jobId}/events${r.next() < 0.3 ? `?after=${r.pick(["x", "-1", "1e3", "99999999999999999999"])}` : ""}`,
          headers: {
            authorization: `Bearer ${key}`,
            accept: r.pick(["text/event-stream", "text/event-stream, */*", "application/json, text/event-stream"]),
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
          expect: [400],
          paths: ["Last-Event-ID"],
        });
        break;
      case 8:
        out.push({
          name: `${n} junk after`,
          method: "GET",
          path: `/v1/jobs/${jobId}/events?after=${r.pick(["x", "-1", "1.5", "1e309", "%00", "99999999999999999999", "1&after=2"])}`,
          headers: { authorization: `Bearer ${key}` },
          expect: [400],
          paths: ["after"],
        });
        break;
      case 9: {
        const q = r.pick([
          { q: "expires=abc&signature=zzz", signed: true },
          { q: "expires=1&signature=x", signed: true },
          { q: "expires=99999999999&signature=", signed: true },
          { q: "expires=99999999999&signature=%00%00", signed: true },
          { q: `expires=99999999999&signature=${"A".repeat(43)}`, signed: true },
          { q: `expires=99999999999&signature=${"%C3%A9".repeat(43)}`, signed: true },
          { q: "expires=1e309&signature=x", signed: true },
          { q: "expires=&signature=", signed: true },
          // Repeated or renamed parameters: a signed request all the same, refused as not canonical.
          { q: "expires=99999999999&signature=a&signature=b", signed: true },
          { q: "expires[]=1&signature=x", signed: true },
          // No signed parameter at all: the API key is required.
          { q: "expiry=1&sig=x", signed: false },
        ]);
        const index = r.pick(["0", "1", "3", "99", "-1", "1.5", "x", "999", "%00"]);
        const real = r.next() < 0.7;
        const id = real ? jobId : r.pick(JUNK_IDS);
        // The id and index are checked first (404), then the signature (403) or the missing key (401).
        const shaped = real && /^\d{1,2}$/.test(index);
        out.push({
          name: `${n} image signature`,
          method: "GET",
          path: `/v1/jobs/${id}/images/${index}?${q.q}`,
          expect: [real ? (shaped ? (q.signed ? 403 : 401) : 404) : junkIdStatus(id)],
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
          "/admin/api/overview",
          "/admin/api/jobs",
          `/admin/api/jobs/${jobId}`,
          "/admin/api/stream",
        ]);
        out.push({
          name: `${n} bad auth`,
          method: r.pick(["GET", "POST"]),
          path: route,
          headers: { authorization: r.pick(AUTH_JUNK), "content-type": "application/json" },
          body: '{"prompt":"x"}',
          expect: [401],
        });
        break;
      }
      case 11: {
        const asAdmin = r.next() < 0.5;
        const target = r.pick([
          "/v1/jobs",
          `/v1/jobs/${jobId}`,
          `/v1/jobs/${jobId}/cancel`,
          `/v1/jobs/${jobId}/retry`,
          `/v1/jobs/${jobId}/events`,
          "/admin/api/keys",
          "/admin/api/jobs",
          "/healthz",
        ]);
        const guarded = target.startsWith("/v1/") ? !asAdmin : target.startsWith("/admin/") ? asAdmin : true;
        out.push({
          name: `${n} wrong method`,
          method: r.pick(["PUT", "DELETE", "PATCH", "PROPFIND", "PURGE"]),
          path: target,
          headers: JSON_HEADERS(asAdmin ? ADMIN_TOKEN : key),
          body: "{}",
          expect: [guarded ? 404 : 401],
        });
        break;
      }
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
          expect: [400],
        });
        break;
      default: {
        const retry = r.next() < 0.5;
        out.push({
          name: `${n} retry wrong state / redeliver junk`,
          method: "POST",
          path: retry
            ? `/v1/jobs/${jobId}/retry`
            : `/v1/webhook-deliveries/${r.pick(["whd_x", "..", "%00", "whd_01J0000000000000000000000", "whd_01J00000000000000000000000"])}/redeliver`,
          headers: { authorization: `Bearer ${key}` },
          // A queued job cannot be retried; a delivery id that is not one, or not this tenant's, is unknown.
          expect: [retry ? 409 : 404],
        });
      }
    }
  }
  return out;
}

/** The hand-written part: the cases named one by one. */
function handWritten(): FuzzRequest[] {
  const auth = { authorization: `Bearer ${key}` };
  const json = JSON_HEADERS(key);
  const deep = (depth: number, open: string, close: string, inner: string) =>
    `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
  const post = (name: string, body: string, expected: number, paths?: string[]): FuzzRequest => ({
    name,
    method: "POST",
    path: "/v1/jobs",
    headers: json,
    body,
    expect: [expected],
    paths,
  });
  return [
    post("1 MB prompt", JSON.stringify({ prompt: "p".repeat(1_000_000) }), 400, ["prompt"]),
    post("2 MB body", JSON.stringify({ prompt: "p".repeat(2_000_000) }), 413),
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
    post("deep array body", deep(100_000, "[", "]", "1"), 400, [""]),
    post("deep object body", deep(100_000, '{"a":', "}", "1"), 400, ["a"]),
    post("deep webhook_events", `{"prompt":"x","webhook_events":${deep(100_000, "[", "]", "1")}}`, 400, [
      "webhook_events",
    ]),
    // Lone surrogates: high, low, reversed, in values, keys and nested, in every string field.
    post("lone low surrogate in metadata value", '{"prompt":"ok","metadata":{"k":"a\\udfffb"}}', 400, ["metadata.k"]),
    post("lone high surrogate in metadata value", '{"prompt":"ok","metadata":{"k":"a\\ud800"}}', 400, ["metadata.k"]),
    post("reversed pair in metadata value", '{"prompt":"ok","metadata":{"k":"\\udc00\\ud800"}}', 400, ["metadata.k"]),
    post("lone surrogate in metadata key", '{"prompt":"ok","metadata":{"a\\udfffb":"v"}}', 400, ["metadata.a\\udfffb"]),
    post("lone surrogate nested in metadata", '{"prompt":"ok","metadata":{"x":{"y":[1,{"z":"\\ud800"}]}}}', 400, [
      "metadata.x.y.1.z",
    ]),
    post("lone surrogate in a nested metadata key", '{"prompt":"ok","metadata":{"x":[{"\\udbff":1}]}}', 400, [
      "metadata.x.0.\\udbff",
    ]),
    post("lone surrogate in prompt", '{"prompt":"a\\udfffb"}', 400, ["prompt"]),
    post("lone high surrogate ending prompt", '{"prompt":"abc\\ud83d"}', 400, ["prompt"]),
    post("lone surrogate in webhook_url", '{"prompt":"ok","webhook_url":"https://example.com/\\udfff"}', 400, [
      "webhook_url",
    ]),
    post("lone surrogate in webhook_events", '{"prompt":"ok","webhook_events":["job.\\ud800"]}', 400, [
      "webhook_events.0",
    ]),
    post("lone surrogate as an unknown field", '{"prompt":"ok","\\udfff":1}', 400),
    {
      name: "lone surrogate in admin key name",
      method: "POST",
      path: "/admin/api/keys",
      headers: JSON_HEADERS(ADMIN_TOKEN),
      body: '{"name":"team\\udfff"}',
      expect: [400],
      paths: ["name"],
    },
    // Numbers JSON.parse cannot keep.
    post("1e400 in an integer field", '{"prompt":"x","n":1e400}', 400, ["n"]),
    post("400-digit integer", `{"prompt":"x","max_attempts":${"9".repeat(400)}}`, 400, ["max_attempts"]),
    post("-0", '{"prompt":"x","n":-0}', 400, ["n"]),
    post("-0 deadline", '{"prompt":"x","deadline_seconds":-0}', 400, ["deadline_seconds"]),
    post("1e309", '{"prompt":"x","n":1e309}', 400, ["n"]),
    post("2**53+1", '{"prompt":"x","max_attempts":9007199254740993}', 400, ["max_attempts"]),
    post("1e400 in metadata", '{"prompt":"x","metadata":{"big":1e400}}', 400, ["metadata.big"]),
    post("400-digit integer in metadata", `{"prompt":"x","metadata":{"d":[-${"9".repeat(400)}]}}`, 400, [
      "metadata.d.0",
    ]),
    // Prototype keys: never a field, never a metadata key.
    post("__proto__ at top", '{"prompt":"x","__proto__":{"n":99}}', 400, ["__proto__"]),
    post("constructor at top", '{"prompt":"x","constructor":{"prototype":{"x":1}}}', 400, ["constructor"]),
    post("__proto__ in metadata", '{"prompt":"x","metadata":{"__proto__":{"n":99}}}', 400, ["metadata.__proto__"]),
    post("__proto__ nested in metadata", '{"prompt":"x","metadata":{"a":[{"__proto__":{}}]}}', 400, [
      "metadata.a.0.__proto__",
    ]),
    {
      name: "__proto__ admin",
      method: "POST",
      path: "/admin/api/keys",
      headers: JSON_HEADERS(ADMIN_TOKEN),
      body: '{"__proto__":{"name":"x"}}',
      expect: [400],
      paths: ["__proto__", "name"],
    },
    // Duplicate keys: the last one wins (JSON.parse), so this body's n is "two".
    post("duplicate keys", '{"prompt":"x","n":1,"n":"two"}', 400, ["n"]),
    post("duplicate prompt, last empty", '{"prompt":"x","prompt":""}', 400, ["prompt"]),
    post("NUL in prompt", '{"prompt":"a\\u0000b"}', 400, ["prompt"]),
    post("NUL in metadata", '{"prompt":"a","metadata":{"k":"\\u0000"}}', 400, ["metadata"]),
    post("NUL in metadata key", '{"prompt":"a","metadata":{"\\u0000":1}}', 400, ["metadata"]),
    post("NUL in prompt with bad n", '{"prompt":"a\\u0000b","n":0}', 400, ["prompt", "n"]),
    post("array body", '[{"prompt":"x"}]', 400, [""]),
    post("string body", '"prompt"', 400, [""]),
    post("null body", "null", 400, [""]),
    post("empty body", "", 400, ["prompt"]),
    post("whitespace body", " \n\t ", 400),
    { name: "no content-type", method: "POST", path: "/v1/jobs", headers: auth, body: '{"prompt":"x"}', expect: [415] },
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
      expect: [400],
    },
    {
      name: "deflate header, plain body",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "content-encoding": "deflate" },
      body: '{"prompt":"x"}',
      expect: [400],
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
      expect: [400],
    },
    {
      name: "unknown encoding",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, "content-encoding": "rot13" },
      body: "{}",
      expect: [415],
    },
    {
      name: "duplicated content-type",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...auth, "content-type": ["text/plain", "application/json"] },
      body: '{"prompt":"x"}',
      expect: [415],
    },
    ...[
      ["duplicated idempotency key", ["a", "b"]],
      ["idempotency key with spaces", "a b c"],
      ["idempotency key 256", "k".repeat(256)],
      ["idempotency key empty", ""],
      ["idempotency key latin-1", "\u00e9t\u00e9"],
      ["idempotency key tab", "x\ty"],
    ].map(
      ([name, value]): FuzzRequest => ({
        name: String(name),
        method: "POST",
        path: "/v1/jobs",
        headers: { ...json, "idempotency-key": value as string | string[] },
        body: '{"prompt":"x"}',
        expect: [400],
        paths: ["Idempotency-Key"],
      }),
    ),
    {
      name: "long x-request-id",
      method: "GET",
      path: "/v1/jobs/nope",
      headers: { ...auth, "x-request-id": "r".repeat(8000) },
      expect: [404],
    },
    {
      name: "long junk header",
      method: "GET",
      path: "/v1/jobs/nope",
      headers: { ...auth, "x-junk": "j".repeat(12_000) },
      expect: [404],
    },
    {
      name: "headers over Node's 16 KiB limit",
      method: "GET",
      path: "/v1/jobs",
      headers: { ...auth, "x-junk": "j".repeat(20_000) },
      expect: [431],
    },
    {
      name: "Prefer wait=abc",
      method: "POST",
      path: "/v1/jobs",
      headers: { ...json, prefer: "wait=abc" },
      body: "{}",
      expect: [400],
    },
    {
      name: "Prefer wait=abc get",
      method: "GET",
      path: "/v1/jobs/job_01J0000000000000000000000Z",
      headers: { ...auth, prefer: "wait=abc" },
      expect: [404],
    },
    {
      name: "duplicated authorization",
      method: "GET",
      path: "/v1/jobs",
      headers: { authorization: ["Bearer dr_nope", `Bearer ${key}`] },
      expect: [401],
    },
    { name: "path traversal", method: "GET", path: "/v1/jobs/../../admin/api/keys", headers: auth, expect: [404] },
    {
      name: "encoded traversal",
      method: "GET",
      path: "/v1/jobs/..%2f..%2fadmin%2fapi%2fkeys",
      headers: auth,
      expect: [404],
    },
    { name: "double slash", method: "GET", path: "//v1//jobs", headers: auth, expect: [404] },
    {
      name: "absolute-form target",
      method: "GET",
      path: `http://evil.example/v1/jobs/${jobId}/nope`,
      headers: auth,
      expect: [404],
    },
    { name: "bad percent encoding", method: "GET", path: "/v1/jobs/%E0%A4%A", headers: auth, expect: [400] },
    { name: "lone percent", method: "POST", path: "/v1/jobs/%/cancel", headers: auth, expect: [400] },
    { name: "bad percent image", method: "GET", path: "/v1/jobs/%zz/images/0?expires=1&signature=x", expect: [400] },
    { name: "events, json, junk id", method: "GET", path: "/v1/jobs/%00/events", headers: auth, expect: [404] },
    {
      name: "events sse junk Last-Event-ID",
      method: "GET",
      path: `/v1/jobs/${jobId}/events`,
      headers: { ...auth, accept: "text/event-stream", "last-event-id": "'; DROP TABLE x" },
      expect: [400],
      paths: ["Last-Event-ID"],
    },
    { name: "unknown route", method: "GET", path: "/v2/jobs", headers: auth, expect: [404] },
    {
      name: "admin wrong token",
      method: "POST",
      path: "/admin/api/keys",
      headers: JSON_HEADERS(`${ADMIN_TOKEN}x`),
      body: '{"name":"x"}',
      expect: [401],
    },
    {
      name: "admin no token",
      method: "POST",
      path: "/admin/api/keys",
      headers: { "content-type": "application/json" },
      body: '{"name":"x"}',
      expect: [401],
    },
    {
      name: "admin unknown path",
      method: "GET",
      path: "/admin/api/keys/../../healthz",
      headers: JSON_HEADERS(ADMIN_TOKEN),
      expect: [404],
    },
    {
      name: "admin NUL name",
      method: "POST",
      path: "/admin/api/keys",
      headers: JSON_HEADERS(ADMIN_TOKEN),
      body: '{"name":"\\u0000"}',
      expect: [400],
      paths: ["name"],
    },
  ];
}

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every method + path pattern the Express app serves (`/v1/jobs/:id` and so on). */
function servedRoutes(app: Express): { method: string; path: string }[] {
  const out = new Map<string, { method: string; path: string }>();
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route && typeof layer.route.path === "string") {
        for (const method of Object.keys(layer.route.methods))
          out.set(`${method} ${layer.route.path}`, { method: method.toUpperCase(), path: layer.route.path });
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return [...out.values()];
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The dashboard is served only once built (`npm run build`); otherwise its paths answer 404. */
const dashboardBuilt = existsSync(path.resolve(here, "../../dashboard/dist/index.html"));

type Guard = "api-key" | "admin" | "public";
const guardOf = (p: string): Guard =>
  p.startsWith("/admin/api/") ? "admin" : p.startsWith("/v1/") ? "api-key" : "public";

/**
 * The answer with the right credentials and real parameters, where this file knows it; a route
 * added later is still fuzzed, with "not a 5xx" as its only exact expectation until listed here.
 */
const KNOWN_ANSWER: Record<string, number> = {
  "GET /healthz": 200,
  "GET /readyz": 200,
  "GET /metrics": 200,
  "GET /openapi.json": 200,
  "GET /docs": 200,
  "GET /dashboard": 302,
  "GET /v1/jobs": 200,
  "GET /v1/jobs/:id": 200,
  "GET /v1/jobs/:id/events": 200,
  "GET /v1/jobs/:id/webhook-deliveries": 200,
  // The fuzzer's job is queued: it has no image yet.
  "GET /v1/jobs/:id/images/:index": 404,
  "POST /v1/jobs/:id/retry": 409,
  "POST /v1/webhook-deliveries/:id/redeliver": 404,
  // Without a JSON body.
  "POST /v1/jobs": 415,
  "POST /admin/api/keys": 415,
  "GET /admin/api/overview": 200,
  "GET /admin/api/jobs": 200,
  "GET /admin/api/jobs/:id": 200,
  "GET /admin/api/stream": 200,
  "GET /admin/api/tenants": 200,
  // The filler id is a job's, so no tenant or key has it.
  "GET /admin/api/tenants/:id": 404,
  "PATCH /admin/api/tenants/:id": 404,
  "GET /admin/api/tenants/:id/keys": 404,
  "POST /admin/api/tenants/:id/keys": 404,
  "POST /admin/api/keys/:id/revoke": 404,
  "POST /admin/api/tenants/:id/webhook-secret/rotate": 404,
};
/** Routes whose parameters are not this tenant's job (their ids are well formed but unknown). */
const PARAM_VALUE: Record<string, (p: string) => string> = {
  id: (p) => (p.startsWith("/v1/webhook-deliveries/") ? "whd_01J00000000000000000000000" : jobId),
  index: () => "0",
};
const fill = (p: string, params: Record<string, string> = {}) =>
  p.replace(/:(\w+)/g, (_, name: string) => params[name] ?? PARAM_VALUE[name]?.(p) ?? "x");
/** Cancel would end the fuzzer's job, which other requests rely on being queued. */
const DESTRUCTIVE = new Set(["POST /v1/jobs/:id/cancel"]);

/** Requests derived from the served routes: auth, parameters, methods and headers, route by route. */
function perRoute(routes: { method: string; path: string }[]): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  const credentials = (g: Guard): Record<string, string> =>
    g === "admin"
      ? { authorization: `Bearer ${ADMIN_TOKEN}` }
      : g === "api-key"
        ? { authorization: `Bearer ${key}` }
        : {};
  const paths = [...new Set(routes.map((r) => r.path))];
  for (const route of routes) {
    const id = `${route.method} ${route.path}`;
    const guard = guardOf(route.path);
    const good = credentials(guard);
    const known = KNOWN_ANSWER[id];
    const base = known === undefined ? NOT_5XX : [known];
    // Authorization: none, junk, and the other kind of secret.
    if (guard !== "public") {
      const wrong = guard === "admin" ? `Bearer ${key}` : `Bearer ${ADMIN_TOKEN}`;
      for (const authorization of [undefined, wrong, ...AUTH_JUNK]) {
        out.push({
          name: `${id} auth ${authorization === undefined ? "(none)" : authorization.slice(0, 30)}`,
          method: route.method,
          path: fill(route.path),
          headers: authorization === undefined ? {} : { authorization },
          expect: [401],
        });
      }
    }
    // Parameters: every junk id in every parameter, with the right credentials.
    for (const name of route.path.match(/:(\w+)/g) ?? []) {
      for (const junk of JUNK_IDS) {
        out.push({
          name: `${id} ${name}=${junk.slice(0, 30)}`,
          method: route.method,
          path: fill(route.path, { [name.slice(1)]: junk }),
          headers: good,
          expect: [junkIdStatus(junk)],
        });
      }
    }
    if (DESTRUCTIVE.has(id)) continue;
    // Headers the API reads, on every route: none of them may turn an answer into a 5xx or a hang.
    const headerSets: { name: string; headers: Record<string, string>; expect?: number[] }[] = [
      { name: "plain", headers: {} },
      ...["text/event-stream", "application/xml", "*/*;q=0", "", "text/event-stream;q=0, application/json"].map(
        (accept) => ({ name: `Accept ${accept}`, headers: { accept } }),
      ),
      ...[
        "wait=abc",
        "wait=-1",
        "wait=1e309",
        "wait",
        "wait=,",
        "wait=0",
        `wait=${"9".repeat(400)}`,
        "respond-async",
      ].map((prefer) => ({
        name: `Prefer ${prefer}`,
        headers: { prefer },
        // A valid wait that runs out before the (queued) job ends answers 202 on GET; others are ignored.
        expect: id === "GET /v1/jobs/:id" && prefer === "wait=0" ? [202] : undefined,
      })),
      ...["abc", "-1", "99999999999999999999", "1e3", "\u00e9"].map((lastEventId) => ({
        name: `Last-Event-ID ${lastEventId}`,
        headers: { accept: "text/event-stream", "last-event-id": lastEventId },
        // Only the job event stream reads it strictly; the dashboard stream starts from now instead.
        expect: id === "GET /v1/jobs/:id/events" ? [400] : undefined,
      })),
      { name: "Idempotency-Key junk", headers: { "idempotency-key": "a b" } },
      { name: "x-request-id junk", headers: { "x-request-id": "<script>" } },
    ];
    for (const set of headerSets) {
      out.push({
        name: `${id} ${set.name}`,
        method: route.method,
        path: fill(route.path),
        headers: { ...good, ...set.headers },
        expect: set.expect ?? base,
      });
    }
    // Content types with a body: the JSON parser sees them on every route, before the route.
    if (route.method === "POST") {
      const needsJson = id === "POST /v1/jobs" || id === "POST /admin/api/keys";
      for (const ct of CONTENT_TYPES) {
        out.push({
          name: `${id} Content-Type ${ct.type}`,
          method: "POST",
          path: fill(route.path),
          headers: { ...good, "content-type": ct.type },
          body: '{"prompt":"x","name":"y"}',
          expect: known === undefined ? NOT_5XX : [contentTypeStatus(ct.outcome, true, needsJson, known)],
        });
      }
    }
  }
  // Methods no route serves on a path: 404 once authenticated (never 405 guesses, never a 5xx).
  for (const p of paths) {
    const served = new Set(routes.filter((r) => r.path === p).map((r) => r.method));
    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "PROPFIND"]) {
      if (served.has(method) || DESTRUCTIVE.has(`${method} ${p}`)) continue;
      out.push({
        name: `${method} ${p} (not served)`,
        method,
        path: fill(p),
        headers: { ...credentials(guardOf(p)), "content-type": "application/json" },
        body: "{}",
        expect: [404],
      });
    }
  }
  // The dashboard's files and client routes (static files and a pattern route, not listed above).
  const page = dashboardBuilt ? 200 : 404;
  for (const [p, status] of [
    ["/dashboard/", page],
    ["/dashboard/index.html", page],
    [`/dashboard/jobs/${jobId}`, page],
    ["/dashboard/assets/nope.js", 404],
    // Built, a path the static files refuse falls through to the client-side routes (index.html).
    ["/dashboard/../admin/api/keys", page],
    ["/dashboard/%2e%2e/%2e%2e/package.json", page],
  ] as const) {
    for (const authorization of [undefined, `Bearer ${ADMIN_TOKEN}`, "Bearer junk"]) {
      out.push({
        name: `dashboard ${p} ${authorization ?? ""}`,
        method: "GET",
        path: p,
        headers: authorization === undefined ? {} : { authorization },
        expect: [status],
      });
    }
  }
  return out;
}

/** Requests whose bytes node:http would not send: lying or conflicting framing headers. */
function framing(): { name: string; text: string; halfClose: boolean; expect: number[] }[] {
  const head = (p: string, secret: string, extra: string) =>
    `POST ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${secret}\r\nContent-Type: application/json\r\n${extra}\r\n`;
  const out: { name: string; text: string; halfClose: boolean; expect: number[] }[] = [];
  for (const [p, secret, body] of [
    ["/v1/jobs", key, '{"prompt":"x"}'],
    ["/admin/api/keys", ADMIN_TOKEN, '{"name":"x"}'],
  ] as const) {
    const cases: [string, string, boolean][] = [
      ["Content-Length longer than the body, then EOF", `Content-Length: ${body.length + 50}\r\n`, true],
      ["Content-Length shorter than the body", "Content-Length: 5\r\n", false],
      ["Content-Length 0 with a body", "Content-Length: 0\r\n", false],
      ["Content-Length not a number", "Content-Length: abc\r\n", false],
      ["Content-Length negative", "Content-Length: -1\r\n", false],
      ["Content-Length 20 digits", "Content-Length: 99999999999999999999\r\n", false],
      [
        "two different Content-Lengths",
        `Content-Length: ${body.length}\r\nContent-Length: ${body.length + 1}\r\n`,
        false,
      ],
      [
        "Content-Length and Transfer-Encoding",
        `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`,
        false,
      ],
    ];
    for (const [name, extra, halfClose] of cases)
      out.push({ name: `${p} ${name}`, text: head(p, secret, extra) + body, halfClose, expect: [400] });
    out.push({
      name: `${p} a chunk size that is not hex`,
      text: `${head(p, secret, "Transfer-Encoding: chunked\r\n")}zz\r\n${body}\r\n0\r\n\r\n`,
      halfClose: false,
      expect: [400],
    });
  }
  return out;
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

/** What is wrong with an answer: the status, the problem+json shape of a 4xx, the fields it names. */
function problemOf(req: Pick<FuzzRequest, "name" | "method" | "path" | "expect" | "paths">, res: FuzzResponse) {
  const label = `${req.name}: ${req.method} ${req.path.slice(0, 120)}`;
  if (res.status >= 500 || !req.expect.includes(res.status))
    return `${label} -> ${res.status} (expected ${req.expect.length > 20 ? "not a 5xx" : req.expect.join("/")}) ${res.body.slice(0, 300)}`;
  if (res.status < 400) return null;
  if (!String(res.headers["content-type"]).startsWith("application/problem+json"))
    return `${label} -> ${res.status} with content-type ${res.headers["content-type"]}`;
  try {
    const body = JSON.parse(res.body) as { code?: unknown; request_id?: unknown; status?: unknown; errors?: unknown };
    if (typeof body.code !== "string" || typeof body.request_id !== "string" || body.status !== res.status)
      return `${label} -> problem without code/request_id/status: ${res.body.slice(0, 300)}`;
    const named = Array.isArray(body.errors) ? body.errors.map((e) => String((e as { path?: unknown }).path)) : [];
    for (const p of req.paths ?? []) {
      if (!named.some((n) => n === p || (p !== "" && n.startsWith(`${p}.`))))
        return `${label} -> errors do not name ${JSON.stringify(p)}: ${res.body.slice(0, 300)}`;
    }
  } catch {
    return `${label} -> unparseable problem body: ${res.body.slice(0, 300)}`;
  }
  return null;
}

function problemsOf(results: Awaited<ReturnType<typeof runAll>>): string[] {
  const problems: string[] = [];
  for (const { req, res, error } of results) {
    const problem =
      res === undefined ? `${req.name}: ${req.method} ${req.path.slice(0, 120)} -> ${error}` : problemOf(req, res);
    if (problem !== null) problems.push(problem);
  }
  return problems;
}

describe("fuzzing every route", () => {
  it("refuses the hand-written hostile requests with the exact 4xx, as problem+json", { timeout: 60_000 }, async () => {
    const results = await runAll(handWritten());
    expect(problemsOf(results)).toEqual([]);
  });

  it("refuses 1,100 generated malformed requests with the exact 4xx, as problem+json", {
    timeout: 60_000,
  }, async () => {
    const requests = generated(0xda2c, 1_100);
    const results = await runAll(requests);
    expect(results).toHaveLength(1_100);
    expect(problemsOf(results)).toEqual([]);
  });

  it("fuzzes every served route with every auth header, junk parameter, method and header the API reads", {
    timeout: 60_000,
  }, async () => {
    const routes = servedRoutes(h.api.app);
    // The derivation itself: it must see the routers mounted at the top, /admin/api and /v1 alike.
    const ids = routes.map((r) => `${r.method} ${r.path}`);
    for (const known of Object.keys(KNOWN_ANSWER)) expect(ids).toContain(known);
    expect(ids).toContain("POST /v1/jobs/:id/cancel");
    const requests = perRoute(routes);
    expect(requests.length).toBeGreaterThan(routes.length * 20);
    expect(problemsOf(await runAll(requests))).toEqual([]);
  });

  it("answers lying or conflicting Content-Length and Transfer-Encoding with a 400 problem+json", async () => {
    const problems: string[] = [];
    for (const c of framing()) {
      try {
        const res = await sendRaw(c.text, c.halfClose);
        const problem = problemOf({ name: c.name, method: "POST", path: "(raw)", expect: c.expect }, res);
        if (problem !== null) problems.push(problem);
      } catch (error) {
        problems.push(`${c.name} -> ${(error as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("refuses deeply nested metadata with 400, not a stack overflow", async () => {
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
        expect: [400],
        paths: ["metadata"],
      },
      {
        name: "deep metadata array",
        method: "POST",
        path: "/v1/jobs",
        headers: json,
        body: `{"prompt":"x","metadata":{"a":${deep(150_000, "[", "]", "1")}}}`,
        expect: [400],
        paths: ["metadata"],
      },
    ];
    expect(problemsOf(await runAll(requests))).toEqual([]);
  });

  it(`accepts metadata nested exactly ${METADATA_MAX_DEPTH} levels deep and refuses ${METADATA_MAX_DEPTH + 1}`, async () => {
    // `levels` containers inside each other, metadata itself being the first.
    const nested = (levels: number, open: string, close: string) =>
      `{"a":${open.repeat(levels - 1)}"leaf"${close.repeat(levels - 1)}}`;
    const containers: [string, string][] = [
      ['{"a":', "}"],
      ["[", "]"],
    ];
    for (const [open, close] of containers) {
      const edge = nested(METADATA_MAX_DEPTH, open, close);
      const ok = await h.request("POST", "/v1/jobs", {
        key,
        raw: `{"prompt":"edge","metadata":${edge}}`,
        headers: { "content-type": "application/json" },
      });
      expect(ok.status).toBe(202);
      expect(((await ok.json()) as { metadata: unknown }).metadata).toEqual(JSON.parse(edge));
      const over = await h.request("POST", "/v1/jobs", {
        key,
        raw: `{"prompt":"edge","metadata":${nested(METADATA_MAX_DEPTH + 1, open, close)}}`,
        headers: { "content-type": "application/json" },
      });
      expect(over.status).toBe(400);
      expect(((await over.json()) as { errors: unknown }).errors).toEqual([
        { path: "metadata", message: `must be nested at most ${METADATA_MAX_DEPTH} levels deep` },
      ]);
    }
  });

  it("stores what JSON means: last duplicate wins, doubles round, prototype keys change nothing", async () => {
    const tenant = (await h.newTenant("fuzz-pollution")).apiKey;
    const create = async (raw: string) => {
      const res = await h.request("POST", "/v1/jobs", {
        key: tenant,
        raw,
        headers: { "content-type": "application/json" },
      });
      return { status: res.status, job: (await res.json()) as Record<string, unknown> };
    };
    const dup = await create('{"prompt":"dup","n":"two","n":2}');
    expect(dup.status).toBe(202);
    expect(dup.job.n).toBe(2);
    const rounded = await create('{"prompt":"round","max_attempts":1.0000000000000000001,"n":0.1e1}');
    expect(rounded.status).toBe(202);
    expect(rounded.job).toMatchObject({ max_attempts: 1, n: 1 });
    // constructor.prototype is plain data: stored as sent, and the job's own fields keep their defaults.
    const shaped = await create('{"prompt":"shaped","metadata":{"constructor":{"prototype":{"n":99}}}}');
    expect(shaped.status).toBe(202);
    expect(shaped.job).toMatchObject({ n: 1, max_attempts: 4, metadata: { constructor: { prototype: { n: 99 } } } });
    for (const raw of [
      '{"prompt":"proto","__proto__":{"n":99}}',
      '{"prompt":"proto","metadata":{"__proto__":{"n":99}}}',
      '{"prompt":"proto","metadata":{"a":{"__proto__":{"n":99}}}}',
    ])
      expect((await create(raw)).status, raw).toBe(400);
    const list = await h.request("GET", "/v1/jobs?limit=100", { key: tenant });
    const jobs = ((await list.json()) as { data: { prompt: string; n: number }[] }).data;
    expect(jobs.map((j) => j.prompt).sort()).toEqual(["dup", "round", "shaped"]);
    for (const stored of [dup.job, rounded.job, shaped.job]) {
      const again = await h.request("GET", `/v1/jobs/${String(stored.id)}`, { key: tenant });
      expect(await again.json()).toMatchObject({ n: stored.n, metadata: stored.metadata });
    }
  });

  it("leaves the process healthy and unpolluted afterwards, with nothing logged at error level", async () => {
    // Every answered request logs one line: over 2,000 of them, none an unhandled error.
    expect(logLines.filter((l) => l.msg === "request").length).toBeGreaterThan(2_000);
    expect(logLines.filter((l) => l.level === "error" || l.level === "fatal")).toEqual([]);
    const probe = {} as Record<string, unknown>;
    expect([probe.polluted, probe.n, probe.name, probe.x]).toEqual([undefined, undefined, undefined, undefined]);
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain("polluted");
    expect((await h.request("GET", "/healthz")).status).toBe(200);
    const job = await h.request("GET", `/v1/jobs/${jobId}`, { key });
    expect(job.status).toBe(200);
    expect(await job.json()).toMatchObject({ status: "queued", n: 1, metadata: {} });
  });
});
