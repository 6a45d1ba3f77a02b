import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, type JobJson } from "./support";

/**
 * The whole system at `LOG_LEVEL=trace`, driven through every path that handles a secret: key
 * creation, authenticated calls, webhooks signed with the tenant's secret, upstream calls with the
 * upstream key, failures, a cancel, wrong keys and a wrong admin token. Afterwards no line of any
 * process's output may contain a secret, nor a long prompt in full.
 */

let stack: Stack;
let stopped = false;
let receiver: http.Server;
let receiverUrl: string;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  stack = await startStack({
    label: "log-secrets",
    simulatorStepMs: 5,
    env: { LOG_LEVEL: "trace", ALLOW_PRIVATE_WEBHOOK_URLS: "true", WEBHOOK_RETRY_SCHEDULE: "1s,1s" },
  });
});
afterAll(async () => {
  if (!stopped) await stack?.stop();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

/** A prompt well over the 200 characters a log may show, unique so it is found if leaked. */
function longPrompt(directives: string): string {
  const marker = randomBytes(8).toString("hex");
  return `${directives} secret-prompt-${marker} ${"a very long and detailed description ".repeat(10)}end-${marker}`;
}

async function createKey(name: string): Promise<{ api_key: string; webhook_secret: string; tenant_id: string }> {
  const res = await fetch(`${stack.apiUrl}/admin/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { api_key: string; webhook_secret: string; tenant_id: string };
}

async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("no secret reaches a log, at any level", () => {
  it("keeps keys, secrets, tokens and long prompts out of the API's and the worker's output", async () => {
    const tenantA = await createKey("log-secrets-a");
    const tenantB = await createKey("log-secrets-b");
    const a = client(stack, tenantA.api_key);
    const webhook = {
      webhook_url: receiverUrl,
      webhook_events: ["job.started", "job.succeeded", "job.failed", "job.canceled"],
    };

    const okPrompt = longPrompt("");
    const ok = await a.create({ prompt: okPrompt, ...webhook, metadata: { note: "hello" } });
    const failPrompt = longPrompt("[[sim script=http401]]");
    const failed = await a.create({ prompt: failPrompt, ...webhook });
    const cancelPrompt = longPrompt("[[sim step_ms=400]]");
    const toCancel = await a.create({ prompt: cancelPrompt, ...webhook });

    const done = await a.waitTerminal(ok.id, 30_000);
    expect(done.status).toBe("succeeded");
    const bad = await a.waitTerminal(failed.id, 30_000);
    expect(bad.status).toBe("failed");
    expect(bad.error?.code).toBe("upstream_auth");
    await a.waitFor(toCancel.id, (j: JobJson) => j.status === "running", 15_000).catch(() => undefined);
    const canceled = await a.post(`/v1/jobs/${toCancel.id}/cancel`);
    expect(canceled.status).toBe(200);

    // Every job's terminal webhook arrives, signed with tenant A's secret.
    await waitUntil(
      () =>
        ["job.succeeded", "job.failed", "job.canceled"].every((type) =>
          received.some((r) => r.body.includes(`"type":"${type}"`)),
        ),
      20_000,
      "the terminal webhooks",
    );
    for (const { headers, body } of received) {
      const signed = {
        "webhook-id": String(headers["webhook-id"]),
        "webhook-timestamp": String(headers["webhook-timestamp"]),
        "webhook-signature": String(headers["webhook-signature"]),
      };
      // The reference implementation of Standard Webhooks, not our own verifier.
      expect(new Webhook(tenantA.webhook_secret).verify(body, signed)).toMatchObject({ type: expect.any(String) });
      expect(() => new Webhook(tenantB.webhook_secret).verify(body, signed)).toThrow(WebhookVerificationError);
    }
    const deliveries = await fetch(`${stack.apiUrl}/v1/jobs/${ok.id}/webhook-deliveries`, {
      headers: { authorization: `Bearer ${tenantA.api_key}` },
    });
    expect(deliveries.status).toBe(200);
    // Reads with the other tenant's key and an image download with the key.
    expect(
      (await fetch(`${stack.apiUrl}/v1/jobs`, { headers: { authorization: `Bearer ${tenantB.api_key}` } })).status,
    ).toBe(200);
    const image = await fetch(`${stack.apiUrl}/v1/jobs/${ok.id}/images/0`, {
      headers: { authorization: `Bearer ${tenantA.api_key}` },
    });
    expect(image.status).toBe(200);

    // Wrong credentials: their values must not be logged either.
    const wrongKey = `dr_${randomBytes(24).toString("base64url")}`;
    const wrongAdmin = `adm_${randomBytes(16).toString("hex")}`;
    const unauthorized = await fetch(`${stack.apiUrl}/v1/jobs/${ok.id}`, {
      headers: { authorization: `Bearer ${wrongKey}` },
    });
    expect(unauthorized.status).toBe(401);
    const badAdmin = await fetch(`${stack.apiUrl}/admin/api/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${wrongAdmin}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "nope" }),
    });
    expect(badAdmin.status).toBe(401);
    const keyInBody = await fetch(`${stack.apiUrl}/v1/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenantA.api_key}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "x", api_key: tenantA.api_key, webhook_secret: tenantA.webhook_secret }),
    });
    expect(keyInBody.status).toBe(400);

    // Stopping flushes every process's log before the output is read.
    stopped = true;
    await stack.stop();

    const outputs: Record<string, string> = {
      api: stack.api.output(),
      ...Object.fromEntries(stack.workers.map((w, i) => [`worker${i}`, w.output()])),
    };
    // The output covers the flows above, so the search below means something. (Today the API logs at
    // info and the worker at info/warn/error; LOG_LEVEL=trace makes sure no level is filtered out.)
    expect(outputs.api).toContain(ok.id);
    await expect.poll(() => stack.workers[0]?.output(), { timeout: 5_000 }).toContain(failed.id);

    const secrets: Record<string, string> = {
      "tenant A api key": tenantA.api_key,
      "tenant B api key": tenantB.api_key,
      "tenant A webhook secret": tenantA.webhook_secret,
      "tenant B webhook secret": tenantB.webhook_secret,
      "tenant A webhook secret (key part)": tenantA.webhook_secret.slice("whsec_".length),
      "upstream key": stack.env.COMETAPI_KEY ?? "missing",
      "admin token": STACK_ADMIN_TOKEN,
      "wrong api key": wrongKey,
      "wrong admin token": wrongAdmin,
      "successful job's prompt": okPrompt,
      "failed job's prompt": failPrompt,
      "canceled job's prompt": cancelPrompt,
    };
    const leaks: string[] = [];
    for (const [process, output] of Object.entries(outputs)) {
      output.split("\n").forEach((line, index) => {
        for (const [name, secret] of Object.entries(secrets)) {
          // JSON logs escape quotes and slashes differently than the raw value: look for both.
          if (line.includes(secret) || line.includes(JSON.stringify(secret).slice(1, -1))) {
            leaks.push(`${process} line ${index + 1}: ${name}: ${line.slice(0, 400)}`);
          }
        }
      });
    }
    expect(leaks).toEqual([]);
  });
});
