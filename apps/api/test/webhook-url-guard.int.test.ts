import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
let key: string;
beforeAll(async () => {
  h = await startApiHarness("ssrf"); // ALLOW_PRIVATE_WEBHOOK_URLS is false by default
  key = (await h.newTenant()).apiKey;
});
afterAll(() => h.close());

async function refusal(webhookUrl: string) {
  const res = await h.request("POST", "/v1/jobs", { key, body: { prompt: "x", webhook_url: webhookUrl } });
  const body = (await res.json()) as { code: string; errors?: { path: string; message: string }[] };
  return { status: res.status, body };
}

describe("webhook_url SSRF guard at creation", () => {
  it.each([
    "http://127.0.0.1:8080/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:9000/hook",
    "http://localhost:3000/hook",
    "http://192.168.0.10/hook",
    "http://[::ffff:10.0.0.1]/hook",
  ])("refuses %s with 400 naming webhook_url", async (url) => {
    const { status, body } = await refusal(url);
    expect(status).toBe(400);
    expect(body.code).toBe("validation_failed");
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]?.path).toBe("webhook_url");
    expect(body.errors?.[0]?.message).toMatch(/^is refused: /);
    // The refusal says what allows such a URL: a developer meets it first when testing locally.
    expect(body.errors?.[0]?.message).toMatch(/ALLOW_PRIVATE_WEBHOOK_URLS=loopback .*=true/);
  });

  it("refuses a hostname that resolves to a private address", async () => {
    const name = hostname();
    // Precondition of this machine: its own name resolves to loopback (see /etc/hosts).
    const resolved = await lookup(name, { all: true });
    expect(resolved.some((r) => r.address.startsWith("127.") || r.address === "::1")).toBe(true);
    const { status, body } = await refusal(`http://${name}:8080/hook`);
    expect(status).toBe(400);
    expect(body.errors?.[0]?.message).toMatch(/resolves to/);
  });

  it("refuses credentials in the URL and accepts a public literal address", async () => {
    // The same public address the guard accepts below: only the credentials can be the reason.
    const { status, body } = await refusal("https://user:pw@8.8.8.8/hook");
    expect(status).toBe(400);
    expect(body.errors).toEqual([
      { path: "webhook_url", message: "is refused: must not contain a username or password" },
    ]);
    const ok = await h.request("POST", "/v1/jobs", { key, body: { prompt: "x", webhook_url: "https://8.8.8.8/hook" } });
    expect(ok.status).toBe(202);
    const job = (await ok.json()) as { webhook_url: string; webhook_events: string[] };
    expect(job.webhook_url).toBe("https://8.8.8.8/hook");
    expect(job.webhook_events).toEqual(["job.succeeded", "job.failed", "job.canceled"]);
  });
});

describe("webhook_url with ALLOW_PRIVATE_WEBHOOK_URLS=loopback (what npm start sets in development)", () => {
  it("accepts this machine's addresses and still refuses private ones", async () => {
    const loop = await startApiHarness("ssrf-loopback", { ALLOW_PRIVATE_WEBHOOK_URLS: "loopback" });
    try {
      const { apiKey } = await loop.newTenant();
      for (const url of ["http://127.0.0.1:3901/hook", "http://localhost:3901/hook", "http://[::1]:3901/hook"]) {
        const res = await loop.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "x", webhook_url: url } });
        expect(res.status, url).toBe(202);
      }
      for (const url of ["http://10.1.2.3/hook", "http://169.254.169.254/", "http://192.168.0.10/hook"]) {
        const res = await loop.request("POST", "/v1/jobs", { key: apiKey, body: { prompt: "x", webhook_url: url } });
        expect(res.status, url).toBe(400);
        const body = (await res.json()) as { errors: { path: string; message: string }[] };
        expect(body.errors[0]?.path).toBe("webhook_url");
        expect(body.errors[0]?.message).toMatch(/ALLOW_PRIVATE_WEBHOOK_URLS/);
      }
    } finally {
      await loop.close();
    }
  });
});
