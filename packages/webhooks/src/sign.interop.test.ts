import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { generateWebhookSecret, signWebhook, verifyWebhook, webhookHeaders } from "./sign";

// Kept apart from sign.test.ts so that a missing devDependency fails only this file.
const secret = generateWebhookSecret();
const body = JSON.stringify({ type: "job.succeeded", timestamp: "2025-01-01T00:00:00.000Z", data: { id: "job_1" } });

describe("interoperability with the standardwebhooks package", () => {
  it("their verifier accepts our signature, and ours accepts theirs", () => {
    const id = "evt_interop";
    const realNow = Date.now();
    const ours = webhookHeaders(secret, id, body, realNow);
    expect(new Webhook(secret).verify(body, ours)).toEqual(JSON.parse(body));

    const timestamp = Math.floor(realNow / 1000);
    const theirs = new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
    expect(theirs).toBe(signWebhook(secret, id, timestamp, body));
    const headers = { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": theirs };
    expect(() => verifyWebhook(secret, headers, body)).not.toThrow();
  });

  it("with two secrets (a rotation), their verifier accepts the message under either secret, and no other", () => {
    const previous = generateWebhookSecret();
    const headers = webhookHeaders([secret, previous], "evt_rotation", body);
    expect(headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(previous).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
  });
});
