import { runBundle, STACK_ADMIN_TOKEN, type Stack, startStack } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ReceivedWebhook, startWebhookReceiver, verifiesWith, type WebhookReceiver } from "./support";

// 10.8 s: long enough for a job and its webhook under load, short enough to wait out in a test.
const GRACE_HOURS = "0.003";

let stack: Stack;
let secondApi: string;
let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await startWebhookReceiver();
  stack = await startStack({
    label: "tenant-keys",
    simulatorStepMs: 5,
    env: { ALLOW_PRIVATE_WEBHOOK_URLS: "true", WEBHOOK_SECRET_GRACE_HOURS: GRACE_HOURS },
  });
  secondApi = (await stack.addApi()).url;
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

const admin = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};
const listJobs = async (base: string, key: string) =>
  (await fetch(`${base}/v1/jobs?limit=1`, { headers: { authorization: `Bearer ${key}` } })).status;

/** Milliseconds from `since` until `base` refuses `key` (polled; fails after 5 s). */
async function untilRefused(base: string, key: string, since: number): Promise<number> {
  const deadline = since + 5_000;
  while ((await listJobs(base, key)) !== 401) {
    if (Date.now() > deadline) throw new Error(`${base} still accepts the revoked key`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - since;
}

describe("API keys across API processes", () => {
  it("a revoked key answers 401 on every API process within 2 s; the tenant's other key keeps working", async () => {
    const created = await admin("POST", "/admin/api/keys", { name: "Two processes" });
    const tenantId = created.json.tenant_id as string;
    const spare = (await admin("POST", `/admin/api/tenants/${tenantId}/keys`, { name: "spare" })).json as {
      id: string;
      api_key: string;
    };
    const doomed = (await admin("POST", `/admin/api/tenants/${tenantId}/keys`, { name: "leaked" })).json as {
      id: string;
      api_key: string;
    };
    for (const base of [stack.apiUrl, secondApi]) {
      expect(await listJobs(base, doomed.api_key)).toBe(200);
      expect(await listJobs(base, spare.api_key)).toBe(200);
    }
    const revokedAt = Date.now();
    expect((await admin("POST", `/admin/api/keys/${doomed.id}/revoke`)).status).toBe(200);
    const [first, second] = await Promise.all([
      untilRefused(stack.apiUrl, doomed.api_key, revokedAt),
      untilRefused(secondApi, doomed.api_key, revokedAt),
    ]);
    console.log(`revoked key refused after ${first} ms (first API) and ${second} ms (second API)`);
    expect(first).toBeLessThan(2_000);
    expect(second).toBeLessThan(2_000);
    for (const base of [stack.apiUrl, secondApi]) expect(await listJobs(base, spare.api_key)).toBe(200);
  });
});

describe("API keys across API processes, revoked from the CLI", () => {
  it("npm run cli -- keys revoke reaches the cache of every API process within 2 s", async () => {
    const created = await admin("POST", "/admin/api/keys", { name: "CLI revoke" });
    const tenantId = created.json.tenant_id as string;
    const doomed = (await admin("POST", `/admin/api/tenants/${tenantId}/keys`, { name: "leaked" })).json as {
      id: string;
      api_key: string;
    };
    // Each process has now authenticated, and so cached, the key.
    for (const base of [stack.apiUrl, secondApi]) expect(await listJobs(base, doomed.api_key)).toBe(200);
    const { stdout } = await runBundle("cli.js", ["keys", "revoke", doomed.id, "--json"], stack.env);
    expect(JSON.parse(stdout)).toMatchObject({ id: doomed.id, revoked_at: expect.any(String) });
    // Timed from the command's end: starting a Node process takes seconds on a loaded machine.
    const revokedAt = Date.now();
    const [first, second] = await Promise.all([
      untilRefused(stack.apiUrl, doomed.api_key, revokedAt),
      untilRefused(secondApi, doomed.api_key, revokedAt),
    ]);
    console.log(`CLI-revoked key refused after ${first} ms (first API) and ${second} ms (second API)`);
    expect(first).toBeLessThan(2_000);
    expect(second).toBeLessThan(2_000);
  });
});

describe("webhook secret rotation", () => {
  it("signs with both secrets during the grace period and with the new one only after it", async () => {
    const created = await admin("POST", "/admin/api/keys", { name: "Rotating" });
    const {
      api_key: key,
      tenant_id: tenantId,
      webhook_secret: oldSecret,
    } = created.json as {
      api_key: string;
      tenant_id: string;
      webhook_secret: string;
    };
    const deliveryOf = async (label: string): Promise<ReceivedWebhook> => {
      const res = await fetch(`${stack.apiUrl}/v1/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({
          prompt: `rotation ${label}`,
          webhook_url: `${receiver.url}/${label}`,
          webhook_events: ["job.succeeded"],
        }),
      });
      expect(res.status).toBe(202);
      return receiver.waitFor(`/${label}`);
    };
    const signatures = (r: ReceivedWebhook) => String(r.headers["webhook-signature"]).split(" ");

    const before = await deliveryOf("before");
    expect(signatures(before)).toHaveLength(1);
    expect(verifiesWith(oldSecret, before)).toBe(true);

    const rotated = await admin("POST", `/admin/api/tenants/${tenantId}/webhook-secret/rotate`);
    expect(rotated.status).toBe(200);
    const newSecret = rotated.json.webhook_secret as string;
    const validUntil = Date.parse(rotated.json.previous_valid_until as string);
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    expect(validUntil - Date.now()).toBeGreaterThan(5_000);
    expect(validUntil - Date.now()).toBeLessThanOrEqual(Number(GRACE_HOURS) * 3_600_000);
    const tenant = await admin("GET", `/admin/api/tenants/${tenantId}`);
    expect(tenant.json.previous_webhook_secret_valid_until).toBe(rotated.json.previous_valid_until);

    const during = await deliveryOf("during");
    // Signed before the grace ended, or this check would prove nothing.
    expect(Number(during.headers["webhook-timestamp"]) * 1000).toBeLessThan(validUntil);
    expect(signatures(during)).toHaveLength(2);
    expect(verifiesWith(newSecret, during)).toBe(true);
    expect(verifiesWith(oldSecret, during)).toBe(true);

    while (Date.now() <= validUntil) await new Promise((r) => setTimeout(r, 100));
    const after = await deliveryOf("after");
    expect(signatures(after)).toHaveLength(1);
    expect(verifiesWith(newSecret, after)).toBe(true);
    expect(verifiesWith(oldSecret, after)).toBe(false);
  }, 90_000);
});
