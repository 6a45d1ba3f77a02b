import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { STACK_ADMIN_TOKEN, type Stack } from "@darkroom/testing";
import { Webhook } from "standardwebhooks";

export interface JobJson {
  id: string;
  status: string;
  progress: { percent: number; stage: string };
  fallback_used: boolean;
  hedge_after_seconds: number | null;
  result: {
    model: string;
    images: { url: string; sha256: string; bytes: number; width: number; height: number; content_type: string }[];
  } | null;
  attempts: {
    number: number;
    model: string;
    status: string;
    error: { code: string; class: string | null; retryable: boolean; http_status: number | null } | null;
    upstream_request_id: string | null;
    time_to_first_byte_ms: number | null;
    last_progress: number | null;
    skipped: string | null;
    hedge: boolean;
    counted: boolean;
    started_at: string;
    finished_at: string | null;
  }[];
  error: { code: string; message: string; retryable: boolean } | null;
  max_attempts: number;
  attempts_used: number;
  created_at: string;
  finished_at: string | null;
}

/** POST /admin/api/keys: a new tenant's API key and webhook secret. */
export async function newTenant(stack: Stack, name = `t-${randomBytes(3).toString("hex")}`) {
  const res = await fetch(`${stack.apiUrl}/admin/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 201) throw new Error(`POST /admin/api/keys answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { api_key: string; webhook_secret: string };
  return { apiKey: body.api_key, webhookSecret: body.webhook_secret };
}

/** A client of one stack with one tenant's key. */
export function client(stack: Stack, key: string) {
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  return {
    async create(body: Record<string, unknown>): Promise<JobJson> {
      const res = await fetch(`${stack.apiUrl}/v1/jobs`, { method: "POST", headers, body: JSON.stringify(body) });
      if (res.status !== 202) throw new Error(`create answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as JobJson;
    },
    async get(id: string): Promise<JobJson> {
      const res = await fetch(`${stack.apiUrl}/v1/jobs/${id}`, { headers });
      return (await res.json()) as JobJson;
    },
    post(path: string): Promise<Response> {
      return fetch(`${stack.apiUrl}${path}`, { method: "POST", headers });
    },
    /** Polls until the job is terminal; `percents` holds every distinct percentage seen. */
    async waitTerminal(id: string, timeoutMs = 20_000): Promise<JobJson> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await this.get(id);
        if (["succeeded", "failed", "canceled"].includes(job.status)) return job;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async waitFor(id: string, predicate: (job: JobJson) => boolean, timeoutMs = 10_000): Promise<JobJson> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await this.get(id);
        if (predicate(job)) return job;
        if (Date.now() > deadline) throw new Error(`job ${id} never matched; last: ${JSON.stringify(job)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** An attempt as the admin API shows it: the public fields plus the upstream's own words. */
export interface OperatorAttemptJson {
  number: number;
  error: { code: string; message: string } | null;
  upstream_detail: string | null;
  stream_head: string | null;
  last_progress: number | null;
  last_stage: string | null;
  progress_stood_ms: number | null;
  started_at: string;
  finished_at: string | null;
}

/** A job's attempts from `GET /admin/api/jobs/{id}` (ADMIN_TOKEN). */
export async function operatorAttempts(stack: Stack, id: string): Promise<OperatorAttemptJson[]> {
  const res = await fetch(`${stack.apiUrl}/admin/api/jobs/${id}`, {
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}` },
  });
  if (res.status !== 200) throw new Error(`admin job answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { job: { attempts: OperatorAttemptJson[] } }).job.attempts;
}

/** A prompt of its own, so the simulator's per-prompt call counter starts at zero. */
export function uniquePrompt(directives: string): string {
  return `test ${randomBytes(4).toString("hex")} ${directives}`;
}

/** The upstream calls (chat or images) the simulator saw for a prompt, in order. */
export function upstreamCalls(stack: Stack, prompt: string) {
  const nonce = prompt.split(" ")[1] ?? prompt;
  return stack.simulator.calls.filter(
    (c) =>
      (c.path === "/v1/chat/completions" || c.path === "/v1/images/generations") && (c.prompt ?? "").includes(nonce),
  );
}

/** `chat` / `images` for each upstream call of a prompt. */
export function callKinds(stack: Stack, prompt: string): string[] {
  return upstreamCalls(stack, prompt).map((c) => (c.path === "/v1/chat/completions" ? "chat" : "images"));
}

export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1 that answers 200 and keeps every delivery. */
export async function startWebhookReceiver() {
  const received: ReceivedWebhook[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      received.push({ path: req.url ?? "/", headers: req.headers, body });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    /** The first delivery to `path` (polled; fails after `timeoutMs`). */
    async waitFor(path: string, timeoutMs = 20_000): Promise<ReceivedWebhook> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = received.find((r) => r.path === path);
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) throw new Error(`no webhook to ${path}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

/** Whether a delivery's `webhook-signature` verifies with `secret` (Standard Webhooks). */
export function verifiesWith(secret: string, delivery: ReceivedWebhook): boolean {
  try {
    new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}
