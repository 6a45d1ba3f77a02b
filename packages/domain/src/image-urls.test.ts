import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { IMAGE_URL_CLOCK_SKEW_SECONDS, ImageUrlSigner } from "./image-urls";

const SECRET = "a-secret-of-at-least-16-chars";
const TTL = 3600;
const JOB = "job_01JA0000000000000000000000";
const OTHER_JOB = "job_01JB0000000000000000000000";
const NOW = Date.UTC(2026, 11, 1, 12, 34, 56, 789);

const signer = new ImageUrlSigner(() => "http://api.test", SECRET, TTL);

function parts(url: string): { path: string; expires: string; signature: string } {
  const parsed = new URL(url);
  return {
    path: parsed.pathname,
    expires: parsed.searchParams.get("expires") ?? "",
    signature: parsed.searchParams.get("signature") ?? "",
  };
}

describe("ImageUrlSigner", () => {
  it("signs a URL of the image that verifies for that image", () => {
    const url = signer.url(JOB, 2, NOW);
    const { path, expires, signature } = parts(url);
    expect(url.startsWith("http://api.test/v1/jobs/")).toBe(true);
    expect(path).toBe(`/v1/jobs/${JOB}/images/2`);
    expect(signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(signer.verify(JOB, 2, expires, signature, NOW)).toBe(true);
  });

  it("refuses the URL once its expiry has passed, and accepts it up to that second", () => {
    const { expires, signature } = parts(signer.url(JOB, 0, NOW));
    const expiresMs = Number(expires) * 1000;
    expect(signer.verify(JOB, 0, expires, signature, expiresMs)).toBe(true);
    expect(signer.verify(JOB, 0, expires, signature, expiresMs + 1)).toBe(false);
    expect(signer.verify(JOB, 0, expires, signature, expiresMs + 24 * 3600 * 1000)).toBe(false);
  });

  it("binds the signature to its job, index, expiry and secret", () => {
    const { expires, signature } = parts(signer.url(JOB, 0, NOW));
    expect(signer.verify(JOB, 1, expires, signature, NOW)).toBe(false);
    expect(signer.verify(OTHER_JOB, 0, expires, signature, NOW)).toBe(false);
    // A later expiry with the same signature: extending a URL's life needs the secret.
    expect(signer.verify(JOB, 0, String(Number(expires) + TTL), signature, NOW)).toBe(false);
    const otherSecret = new ImageUrlSigner(() => "http://api.test", `${SECRET}-other`, TTL);
    expect(otherSecret.verify(JOB, 0, expires, signature, NOW)).toBe(false);
  });

  it("refuses malformed expiries and signatures", () => {
    const { expires, signature } = parts(signer.url(JOB, 0, NOW));
    for (const bad of ["", "-1", "1e12", `${expires}.0`, `+${expires}`, `${expires} `, "9".repeat(13)])
      expect(signer.verify(JOB, 0, bad, signature, NOW), bad).toBe(false);
    expect(signer.verify(JOB, 0, expires, "", NOW)).toBe(false);
    expect(signer.verify(JOB, 0, expires, signature.slice(1), NOW)).toBe(false);
    expect(signer.verify(JOB, 0, expires, `${signature}A`, NOW)).toBe(false);
  });

  it("keeps every URL valid at least the TTL (and under two), on a TTL boundary, the same within one window", () => {
    for (const ttl of [60, 3600, 7 * 24 * 3600]) {
      const s = new ImageUrlSigner(() => "http://api.test", SECRET, ttl);
      const windowStart = Math.floor(NOW / 1000 / ttl) * ttl * 1000;
      // The first and last millisecond of a window, and points in between.
      for (const now of [windowStart, windowStart + 1, NOW, windowStart + ttl * 1000 - 1]) {
        const expiresMs = Number(parts(s.url(JOB, 0, now)).expires) * 1000;
        expect(expiresMs - now, `ttl ${ttl}, now ${now}`).toBeGreaterThanOrEqual(ttl * 1000);
        expect(expiresMs - now, `ttl ${ttl}, now ${now}`).toBeLessThanOrEqual(2 * ttl * 1000);
        expect((expiresMs / 1000) % ttl).toBe(0);
      }
      // Cache-friendly: one job renders one URL for the whole window.
      expect(s.url(JOB, 0, windowStart)).toBe(s.url(JOB, 0, windowStart + ttl * 1000 - 1));
      expect(s.url(JOB, 0, windowStart)).not.toBe(s.url(JOB, 0, windowStart + ttl * 1000));
    }
  });

  it("signs webhook URLs for the retry window plus the TTL, and no longer", () => {
    const window = 28 * 3600;
    const s = new ImageUrlSigner(() => "http://api.test", SECRET, TTL, window);
    const { expires, signature } = parts(s.webhookUrl(JOB, 0, NOW));
    const lifetimeMs = Number(expires) * 1000 - NOW;
    expect(lifetimeMs).toBeGreaterThanOrEqual((window + TTL) * 1000);
    expect(lifetimeMs).toBeLessThanOrEqual((window + 2 * TTL) * 1000);
    expect(s.verify(JOB, 0, expires, signature, NOW)).toBe(true);
    expect(s.verify(JOB, 0, expires, signature, NOW + (window + TTL) * 1000)).toBe(true);
    // The same URL, checked by a process that knows no window, is too far ahead to be one it signs.
    expect(signer.check(JOB, 0, `expires=${expires}&signature=${signature}`, NOW)).toBe("too_far_ahead");
  });

  it("refuses a correctly signed expiry further ahead than the longest lifetime signed (plus clock skew)", () => {
    const sign = (exp: number) =>
      `expires=${exp}&signature=${createHmac("sha256", SECRET).update(`${JOB}:0:${exp}`).digest("base64url")}`;
    const nowSeconds = Math.floor(NOW / 1000);
    const limit = nowSeconds + signer.maxLifetimeSeconds + IMAGE_URL_CLOCK_SKEW_SECONDS;
    expect(signer.maxLifetimeSeconds).toBe(2 * TTL);
    expect(signer.check(JOB, 0, sign(limit), nowSeconds * 1000)).toBeNull();
    expect(signer.check(JOB, 0, sign(limit + 1), nowSeconds * 1000)).toBe("too_far_ahead");
    expect(signer.check(JOB, 0, sign(999999999999), NOW)).toBe("too_far_ahead");
  });

  it("accepts only the canonical form of the query", () => {
    const query = new URL(signer.url(JOB, 0, NOW)).search.slice(1);
    const { expires, signature } = parts(signer.url(JOB, 0, NOW));
    expect(signer.check(JOB, 0, query, NOW)).toBeNull();
    const flipped = signature.replace(/[a-z]/, (c) => c.toUpperCase());
    for (const variant of [
      `signature=${signature}&expires=${expires}`,
      `${query}&x=1`,
      `x=1&${query}`,
      `${query}&`,
      `${query}&signature=${signature}`,
      `expires=${expires}&expires=${expires}&signature=${signature}`,
      `expires=0${expires}&signature=${signature}`,
      `expires=%3${expires.slice(0, 1)}${expires.slice(1)}&signature=${signature}`,
      `expires=${expires}&signature=${signature}%3D`,
      `expires=${expires}&signature=${signature}=`,
      `EXPIRES=${expires}&SIGNATURE=${signature}`,
      `expires=${expires}&signature=${flipped}`,
    ]) {
      expect(signer.check(JOB, 0, variant, NOW), variant).not.toBeNull();
    }
    expect(signer.check(JOB, 0, `expires=${expires}&signature=${flipped}`, NOW)).toBe("bad_signature");
    expect(signer.check(JOB, 0, `signature=${signature}&expires=${expires}`, NOW)).toBe("not_canonical");
  });
});
