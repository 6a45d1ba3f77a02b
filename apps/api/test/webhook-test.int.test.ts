import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { WebhookTestResult } from "@darkroom/sdk";
import { freePort } from "@darkroom/testing";
import { verifyWebhook } from "@darkroom/webhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

let h: ApiHarness;
let tenant: { apiKey: string; tenantId: string; webhookSecret: string };
let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];

beforeAll(async () => {
  h = await startApiHarness("webhook-test", { ALLOW_PRIVATE_WEBHOOK_URLS: "loopback" });
  tenant = await h.newTenant();
  // Answers with the status its path names: /hook/200, /hook/500.
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const status = Number((req.url ?? "").split("/").at(-1)) || 200;
      res.writeHead(status).end(status === 200 ? "thanks" : "receiver is unwell");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await h.close();
});

type TestOutcome = WebhookTestResult;

const sendTest = (body: unknown, key = tenant.apiKey) => h.request("POST", "/v1/webhooks/test", { key, body });

describe("POST /v1/webhooks/test", () => {
  it("sends a webhook.test event signed like real deliveries and answers what the receiver did", async () => {
    const before = received.length;
    const res = await sendTest({ url: `${receiverUrl}/hook/200` });
    expect(res.status).toBe(200);
    const outcome = (await res.json()) as TestOutcome;
    expect(outcome).toMatchObject({
      object: "webhook_test",
      url: `${receiverUrl}/hook/200`,
      ok: true,
      status: 200,
      error: null,
      response_body: "thanks",
    });
    expect(outcome.event_id).toMatch(/^evt_/);
    const delivery = received[before];
    if (delivery === undefined) throw new Error("nothing arrived");
    expect(received).toHaveLength(before + 1);
    expect(delivery.headers["webhook-id"]).toBe(outcome.event_id);
    expect(delivery.headers["user-agent"]).toBe("Darkroom-Webhooks/1");
    expect(() => verifyWebhook(tenant.webhookSecret, delivery.headers, delivery.body)).not.toThrow();
    const other = await h.newTenant("other");
    expect(() => verifyWebhook(other.webhookSecret, delivery.headers, delivery.body)).toThrow();
    expect(JSON.parse(delivery.body)).toMatchObject({ type: "webhook.test", data: { tenant_id: tenant.tenantId } });
  });

  it("reports a receiver's error status and a connection that fails, as the outcome", async () => {
    const failing = (await (await sendTest({ url: `${receiverUrl}/hook/500` })).json()) as TestOutcome;
    expect(failing).toMatchObject({
      ok: false,
      status: 500,
      error: "receiver answered HTTP 500",
      response_body: "receiver is unwell",
    });
    const closed = `http://127.0.0.1:${await freePort()}/hook`;
    const refused = (await (await sendTest({ url: closed })).json()) as TestOutcome;
    expect(refused).toMatchObject({ ok: false, status: null, error: "connection refused" });
  });

  it("answers 400 naming url for bad input and for addresses webhooks may not reach", async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /./],
      [{ url: 42 }, /./],
      [{ url: "not a url" }, /is not a valid absolute URL/],
      [{ url: "ftp://127.0.0.1/x" }, /must use http or https/],
      [{ url: "http://10.0.0.7/hook" }, /private address \(10\.0\.0\.7\).*ALLOW_PRIVATE_WEBHOOK_URLS/],
    ];
    for (const [body, message] of cases) {
      const res = await sendTest(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const problem = (await res.json()) as { code: string; errors: { path: string; message: string }[] };
      expect(problem.code).toBe("validation_failed");
      expect(problem.errors.map((e) => e.path)).toEqual(["url"]);
      expect(problem.errors[0]?.message).toMatch(message);
    }
    const extra = (await (await sendTest({ url: `${receiverUrl}/hook/200`, foo: 1 })).json()) as {
      errors: { path: string }[];
    };
    expect(extra.errors.map((e) => e.path)).toEqual(["foo"]);
    expect((await h.request("POST", "/v1/webhooks/test", { key: "dr_nope", body: { url: receiverUrl } })).status).toBe(
      401,
    );
  });

  it("refuses this machine where ALLOW_PRIVATE_WEBHOOK_URLS does not allow it, naming the variable", async () => {
    const strict = await startApiHarness("webhook-test-strict");
    try {
      const { apiKey } = await strict.newTenant();
      const before = received.length;
      const res = await strict.request("POST", "/v1/webhooks/test", {
        key: apiKey,
        body: { url: `${receiverUrl}/hook/200` },
      });
      expect(res.status).toBe(400);
      const problem = (await res.json()) as { errors: { path: string; message: string }[] };
      expect(problem.errors[0]?.path).toBe("url");
      expect(problem.errors[0]?.message).toMatch(/loopback address \(127\.0\.0\.1\).*ALLOW_PRIVATE_WEBHOOK_URLS/);
      expect(received).toHaveLength(before);
    } finally {
      await strict.close();
    }
  });
});
