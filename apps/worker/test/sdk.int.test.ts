import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  DarkroomClient,
  DarkroomError,
  type DarkroomEvent,
  DarkroomTimeoutError,
  verifyWebhook,
  WebhookVerificationError,
} from "@darkroom/sdk";
import { type Stack, startStack } from "@darkroom/testing";
import { generateWebhookSecret, webhookHeaders } from "@darkroom/webhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newTenant, uniquePrompt } from "./support";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

let stack: Stack;
let sdk: DarkroomClient;
let webhookSecret: string;
let receiver: Server;
let receiverUrl: string;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString("utf8");
    });
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  stack = await startStack({ label: "sdk", simulatorStepMs: 5, env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true" } });
  const tenant = await newTenant(stack, "sdk");
  webhookSecret = tenant.webhookSecret;
  sdk = new DarkroomClient({ baseUrl: stack.apiUrl, apiKey: tenant.apiKey });
});
afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function collect(events: AsyncIterable<DarkroomEvent>): Promise<DarkroomEvent[]> {
  const all: DarkroomEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => new Error("expected a rejection"),
    (error: unknown) => error,
  );

/**
 * A fetch whose first event stream is cut after `chunks` chunks, as a reset connection (`error`)
 * or as a server that ends the stream early (`end`); it records every event-stream request.
 */
function cuttingFetch(mode: "error" | "end", chunks: number) {
  const requests: { lastEventId: string | null; at: number }[] = [];
  const state = { cutAt: 0 };
  const cut: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const headers = new Headers(init?.headers);
    if (headers.get("accept") !== "text/event-stream" || response.body === null) return response;
    requests.push({ lastEventId: headers.get("last-event-id"), at: Date.now() });
    if (requests.length > 1) return response;
    const reader = response.body.getReader();
    let seen = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        controller.enqueue(value);
        if (++seen < chunks) return;
        await reader.cancel();
        state.cutAt = Date.now();
        if (mode === "error") controller.error(new TypeError("terminated: other side closed"));
        else controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  return { fetch: cut, requests, state };
}

describe("@darkroom/sdk against the whole system", () => {
  it("creates a job, waits for it and downloads a PNG", async () => {
    const { job, replayed, finished } = await sdk.createJob({ prompt: uniquePrompt(""), n: 2, priority: "low" });
    expect(job.status).toBe("queued");
    expect(job.priority).toBe("low");
    expect(replayed).toBe(false);
    expect(finished).toBe(false);
    const done = await sdk.waitForJob(job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe("succeeded");
    expect(done.result?.images).toHaveLength(2);
    const image = await sdk.downloadImage(job.id, 1);
    expect(image.contentType).toBe("image/png");
    expect([...image.bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
    expect(image.bytes.length).toBe(done.result?.images[1]?.bytes);
  });

  it("replays a request with the same Idempotency-Key and refuses the key with another body", async () => {
    const idempotencyKey = `sdk-${Date.now()}`;
    const input = { prompt: uniquePrompt(""), metadata: { order: 42 } };
    const first = await sdk.createJob(input, { idempotencyKey });
    const again = await sdk.createJob(input, { idempotencyKey });
    expect(first.replayed).toBe(false);
    expect(again.replayed).toBe(true);
    expect(again.job.id).toBe(first.job.id);
    const error = await rejection(sdk.createJob({ ...input, n: 2 }, { idempotencyKey }));
    expect(error).toBeInstanceOf(DarkroomError);
    expect(error).toMatchObject({ status: 422, code: "idempotency_mismatch" });
  });

  it("waitSeconds holds the answer until the job is finished", async () => {
    const waited = await sdk.createJob({ prompt: uniquePrompt("") }, { waitSeconds: 30 });
    expect(waited.finished).toBe(true);
    expect(waited.job.status).toBe("succeeded");
    const quick = await sdk.createJob({ prompt: uniquePrompt("[[sim step_ms=40]]") }, { waitSeconds: 0 });
    expect(quick.finished).toBe(false);
    const later = await sdk.getJob(quick.job.id, { waitSeconds: 30 });
    expect(later.status).toBe("succeeded");
    await expect(sdk.getJob(quick.job.id, { waitSeconds: 61 })).rejects.toThrow(RangeError);
  });

  it("streams a job's events from job.queued to job.succeeded in seq order, then returns", async () => {
    const { job } = await sdk.createJob({ prompt: uniquePrompt("[[sim step_ms=40]]") });
    const events = await collect(sdk.streamEvents(job.id));
    const types = events.map((e) => e.type);
    expect(types[0]).toBe("job.queued");
    expect(types.filter((t) => t === "job.progress").length).toBeGreaterThanOrEqual(3);
    expect(types.at(-1)).toBe("job.succeeded");
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(events.at(-1)?.job?.status).toBe("succeeded");
  });

  it("resumes a stream with lastEventId without duplicates, and ends at once when nothing is left", async () => {
    const { job } = await sdk.createJob({ prompt: uniquePrompt("[[sim step_ms=60]]") });
    const first: DarkroomEvent[] = [];
    for await (const event of sdk.streamEvents(job.id)) {
      first.push(event);
      if (first.filter((e) => e.type === "job.progress").length >= 2) break;
    }
    const rest = await collect(sdk.streamEvents(job.id, { lastEventId: String(first.at(-1)?.seq) }));
    const seqs = [...first, ...rest].map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(rest.at(-1)?.type).toBe("job.succeeded");
    const log = await sdk.listEvents(job.id);
    expect(seqs).toEqual(log.data.map((e) => e.seq));
    const after = await sdk.listEvents(job.id, { after: first.at(-1)?.seq });
    expect(after.data.map((e) => e.seq)).toEqual(rest.map((e) => e.seq));
    const startedAt = Date.now();
    expect(await collect(sdk.streamEvents(job.id, { lastEventId: String(seqs.at(-1)) }))).toEqual([]);
    expect(Date.now() - startedAt).toBeLessThan(1500);
  });

  for (const mode of ["error", "end"] as const) {
    it(`reconnects with Last-Event-ID after the server's retry delay when a stream ${mode === "error" ? "drops" : "ends early"}`, async () => {
      const cutting = cuttingFetch(mode, 4);
      const client = new DarkroomClient({
        baseUrl: stack.apiUrl,
        apiKey: (await newTenant(stack)).apiKey,
        fetch: cutting.fetch,
      });
      const { job } = await client.createJob({ prompt: uniquePrompt("[[sim step_ms=60]]") });
      const events = await collect(client.streamEvents(job.id));
      expect(cutting.requests.length).toBeGreaterThanOrEqual(2);
      const resumed = cutting.requests[1];
      expect(resumed?.lastEventId).toMatch(/^\d+$/);
      // The server says `retry: 2000`.
      expect((resumed?.at ?? 0) - cutting.state.cutAt).toBeGreaterThanOrEqual(1900);
      const seqs = events.map((e) => e.seq);
      expect((await client.listEvents(job.id)).data.map((e) => e.seq)).toEqual(seqs);
      expect(events.at(-1)?.type).toBe("job.succeeded");
    });
  }

  it("a content-policy refusal fails the job with error.code content_policy", async () => {
    const { job } = await sdk.createJob({ prompt: uniquePrompt("[[sim script=content_filter]]") });
    const done = await sdk.waitForJob(job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("content_policy");
    const events = await collect(sdk.streamEvents(job.id));
    expect(events.at(-1)?.type).toBe("job.failed");
  });

  it("throws DarkroomError with the problem document's fields", async () => {
    const invalid = await rejection(sdk.createJob({ prompt: "", n: 9 }));
    expect(invalid).toBeInstanceOf(DarkroomError);
    expect(invalid).toMatchObject({ status: 400, code: "validation_failed", retryable: false });
    const fields = (invalid as DarkroomError).errors.map((e) => e.path);
    expect(fields[0]).toBe("prompt");
    expect(fields).toContain("n");
    expect((invalid as DarkroomError).requestId).toEqual(expect.any(String));

    const missing = await rejection(sdk.getJob("job_01ARZ3NDEKTSV4RRFFQ69G5FAV"));
    expect(missing).toMatchObject({ status: 404, code: "not_found" });
    await expect(collect(sdk.streamEvents("job_01ARZ3NDEKTSV4RRFFQ69G5FAV"))).rejects.toMatchObject({
      code: "not_found",
    });

    const stranger = new DarkroomClient({ baseUrl: stack.apiUrl, apiKey: "dr_not_a_key" });
    await expect(stranger.listJobs()).rejects.toMatchObject({ status: 401, code: "unauthorized" });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const offline = new DarkroomClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: "dr_x" });
    await expect(offline.getJob("job_01ARZ3NDEKTSV4RRFFQ69G5FAV")).rejects.toMatchObject({
      status: null,
      code: "network_error",
      retryable: true,
    });
  });

  it("listAllJobs follows the cursors over every page", async () => {
    const client = new DarkroomClient({ baseUrl: stack.apiUrl, apiKey: (await newTenant(stack)).apiKey });
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await client.createJob({ prompt: uniquePrompt("") })).job.id);
    const page = await client.listJobs({ limit: 2, created_after: new Date(Date.now() - 60_000) });
    expect(page.data).toHaveLength(2);
    expect(page.nextCursor).not.toBeNull();
    const all: string[] = [];
    for await (const job of client.listAllJobs({ limit: 2 })) all.push(job.id);
    expect(all).toHaveLength(5);
    expect([...all].sort()).toEqual([...created].sort());
    expect(all[0]).toBe(created.at(-1));
  });

  it("cancels a running job, refuses to cancel it twice, retries it, and waitForJob times out", async () => {
    const { job } = await sdk.createJob({ prompt: uniquePrompt("[[sim step_ms=200]]") });
    for await (const event of sdk.streamEvents(job.id)) if (event.type === "job.progress") break;
    const canceled = await sdk.cancelJob(job.id);
    expect(canceled.status).toBe("canceled");
    expect((await collect(sdk.streamEvents(job.id))).at(-1)?.type).toBe("job.canceled");
    await expect(sdk.cancelJob(job.id)).rejects.toMatchObject({ status: 409, code: "conflict" });

    const retried = await sdk.retryJob(job.id);
    expect(retried.status).toBe("queued");
    const timeout = await rejection(sdk.waitForJob(job.id, { timeoutMs: 1200 }));
    expect(timeout).toBeInstanceOf(DarkroomTimeoutError);
    expect((timeout as DarkroomTimeoutError).job.status).toMatch(/queued|running/);
    expect((await sdk.cancelJob(job.id)).status).toBe("canceled");
  });

  it("verifyWebhook accepts Darkroom's deliveries and refuses forgeries; deliveries can be listed and redelivered", async () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: "job.succeeded", timestamp: new Date().toISOString(), data: {} });
    const headers = webhookHeaders(secret, "evt_01ARZ3NDEKTSV4RRFFQ69G5FAV", body);
    verifyWebhook(secret, headers, body);
    verifyWebhook(secret, new Headers(headers), body);
    expect(() => verifyWebhook(secret, headers, body.replace("succeeded", "failed"))).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(generateWebhookSecret(), headers, body)).toThrow(WebhookVerificationError);

    const { job } = await sdk.createJob({ prompt: uniquePrompt(""), webhook_url: receiverUrl });
    await sdk.waitForJob(job.id, { timeoutMs: 20_000 });
    const delivered = await eventually(
      () => sdk.listWebhookDeliveries(job.id),
      (list) => list.some((d) => d.status === "succeeded"),
    );
    expect(delivered).toHaveLength(1);
    const first = received.find((r) => r.body.includes(job.id));
    if (first === undefined) throw new Error(`no delivery of ${job.id} received`);
    expect(() => verifyWebhook(webhookSecret, first.headers, first.body)).not.toThrow();
    expect(first.headers["webhook-id"]).toBe(delivered[0]?.event_id);

    const again = await sdk.redeliverWebhook(delivered[0]?.id ?? "");
    expect(again.manual).toBe(true);
    const both = await eventually(
      async () => received.filter((r) => r.body.includes(job.id)),
      (list) => list.length === 2,
    );
    expect(both[1]?.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(both[1]?.body).toBe(first.body);
  });

  it("sendTestWebhook sends a signed webhook.test event and resolves with the receiver's answer", async () => {
    const outcome = await sdk.sendTestWebhook(`${receiverUrl}?test=1`);
    expect(outcome).toMatchObject({ object: "webhook_test", ok: true, status: 200, error: null });
    const arrived = received.find((r) => r.headers["webhook-id"] === outcome.event_id);
    if (arrived === undefined) throw new Error("the test event did not arrive");
    expect(() => verifyWebhook(webhookSecret, arrived.headers, arrived.body)).not.toThrow();
    expect(JSON.parse(arrived.body)).toMatchObject({ type: "webhook.test" });
    const refused = await sdk.sendTestWebhook("ftp://127.0.0.1/").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DarkroomError);
    expect((refused as DarkroomError).errors?.map((e) => e.path)).toEqual(["url"]);
  });
});
