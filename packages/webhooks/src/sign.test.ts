import { describe, expect, it } from "vitest";
import {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
  type WebhookVerificationReason,
  webhookHeaders,
} from "./sign";

const secret = generateWebhookSecret();
const body = JSON.stringify({ type: "job.succeeded", timestamp: "2025-01-01T00:00:00.000Z", data: { id: "job_1" } });
const now = 1_750_000_000_000;

function reasonOf(run: () => void): WebhookVerificationReason | "no error" {
  try {
    run();
  } catch (error) {
    if (error instanceof WebhookVerificationError) return error.reason;
    throw error;
  }
  return "no error";
}

describe("happy", () => {
  it("generates whsec_ secrets carrying 32 random bytes", () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), "base64")).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });

  it("matches the Standard Webhooks reference vector", () => {
    // Test vector from the Standard Webhooks specification repository.
    const signature = signWebhook(
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      "msg_p5jXN8AQM9LWM0D4loKWxJek",
      1614265330,
      '{"test": 2432232314}',
    );
    expect(signature).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("round-trips: headers from webhookHeaders verify against the same body", () => {
    const headers = webhookHeaders(secret, "evt_1", body, now);
    expect(headers).toMatchObject({
      "webhook-id": "evt_1",
      "webhook-timestamp": String(now / 1000),
      "content-type": "application/json",
      "user-agent": "Darkroom-Webhooks/1",
    });
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(() => verifyWebhook(secret, headers, body, { now })).not.toThrow();
    expect(() => verifyWebhook(secret, new Headers(headers), body, { now })).not.toThrow();
  });

  it("accepts header names in any case, as frameworks may present them", () => {
    const headers = webhookHeaders(secret, "evt_1", body, now);
    const upper = Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toUpperCase(), value]));
    expect(reasonOf(() => verifyWebhook(secret, upper, body, { now }))).toBe("no error");
  });

  it("accepts any one matching signature among several (secret rotation)", () => {
    const headers = webhookHeaders(secret, "evt_1", body, now);
    const other = signWebhook(generateWebhookSecret(), "evt_1", now / 1000, body);
    const multiple = { ...headers, "webhook-signature": `v1a,ignored ${other} ${headers["webhook-signature"]}` };
    expect(reasonOf(() => verifyWebhook(secret, multiple, body, { now }))).toBe("no error");
    const asArray = { ...headers, "webhook-signature": [other, headers["webhook-signature"] ?? ""] };
    expect(reasonOf(() => verifyWebhook(secret, asArray, body, { now }))).toBe("no error");
  });

  it("accepts timestamps within the tolerance either way", () => {
    const headers = webhookHeaders(secret, "evt_1", body, now);
    expect(reasonOf(() => verifyWebhook(secret, headers, body, { now: now + 300_000 }))).toBe("no error");
    expect(reasonOf(() => verifyWebhook(secret, headers, body, { now: now - 300_000 }))).toBe("no error");
    expect(reasonOf(() => verifyWebhook(secret, headers, body, { now: now + 900_000, toleranceSeconds: 900 }))).toBe(
      "no error",
    );
  });
});

describe("security", () => {
  const headers = webhookHeaders(secret, "evt_1", body, now);

  it("rejects a tampered body", () => {
    expect(reasonOf(() => verifyWebhook(secret, headers, body.replace("job_1", "job_2"), { now }))).toBe(
      "no_matching_signature",
    );
  });

  it("rejects a tampered id", () => {
    const tampered = { ...headers, "webhook-id": "evt_2" };
    expect(reasonOf(() => verifyWebhook(secret, tampered, body, { now }))).toBe("no_matching_signature");
  });

  it("rejects a tampered timestamp", () => {
    const tampered = { ...headers, "webhook-timestamp": String(now / 1000 + 1) };
    expect(reasonOf(() => verifyWebhook(secret, tampered, body, { now }))).toBe("no_matching_signature");
  });

  it("rejects another tenant's secret", () => {
    expect(reasonOf(() => verifyWebhook(generateWebhookSecret(), headers, body, { now }))).toBe(
      "no_matching_signature",
    );
  });

  it("rejects stale and future timestamps (replays)", () => {
    expect(reasonOf(() => verifyWebhook(secret, headers, body, { now: now + 301_000 }))).toBe("timestamp_too_old");
    expect(reasonOf(() => verifyWebhook(secret, headers, body, { now: now - 301_000 }))).toBe("timestamp_too_new");
    expect(reasonOf(() => verifyWebhook(secret, headers, body, { now: now + 11_000, toleranceSeconds: 10 }))).toBe(
      "timestamp_too_old",
    );
  });

  it("rejects missing headers and a non-numeric timestamp", () => {
    const { "webhook-signature": _omitted, ...unsigned } = headers;
    expect(reasonOf(() => verifyWebhook(secret, unsigned, body, { now }))).toBe("missing_headers");
    expect(reasonOf(() => verifyWebhook(secret, {}, body, { now }))).toBe("missing_headers");
    const bad = { ...headers, "webhook-timestamp": "1e9" };
    expect(reasonOf(() => verifyWebhook(secret, bad, body, { now }))).toBe("invalid_timestamp");
  });

  it("rejects signatures of another version or with a truncated value", () => {
    const value = headers["webhook-signature"] ?? "";
    const wrongVersion = { ...headers, "webhook-signature": value.replace("v1,", "v2,") };
    expect(reasonOf(() => verifyWebhook(secret, wrongVersion, body, { now }))).toBe("no_matching_signature");
    const truncated = { ...headers, "webhook-signature": value.slice(0, -4) };
    expect(reasonOf(() => verifyWebhook(secret, truncated, body, { now }))).toBe("no_matching_signature");
  });
});

describe("error", () => {
  it("throws a clear error for a malformed secret", () => {
    expect(() => signWebhook("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 1, "{}")).toThrow(/must start with "whsec_"/);
    expect(() => signWebhook("whsec_", "id", 1, "{}")).toThrow(/non-empty base64/);
    expect(() => signWebhook("whsec_not base64!", "id", 1, "{}")).toThrow(/non-empty base64/);
    expect(() => verifyWebhook("whsec_%%%%", {}, "{}")).toThrow(/Malformed webhook secret/);
  });
});
