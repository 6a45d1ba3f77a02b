import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signed image URLs let an `<img>` tag show a result without an API key. The expiry is rounded up
 * to the TTL's boundary so the same job renders the same URL for a while (cache-friendly).
 */
export class ImageUrlSigner {
  constructor(
    private readonly baseUrl: () => string,
    private readonly secret: string,
    private readonly ttlSeconds: number,
  ) {}

  private signature(jobId: string, index: number, expires: number): string {
    return createHmac("sha256", this.secret).update(`${jobId}:${index}:${expires}`).digest("base64url");
  }

  url(jobId: string, index: number, now: number = Date.now()): string {
    const nowSeconds = Math.floor(now / 1000);
    const expires = (Math.floor(nowSeconds / this.ttlSeconds) + 2) * this.ttlSeconds;
    const sig = this.signature(jobId, index, expires);
    return `${this.baseUrl()}/v1/jobs/${jobId}/images/${index}?expires=${expires}&signature=${sig}`;
  }

  /** True when the signature matches and has not expired. */
  verify(jobId: string, index: number, expires: string, signature: string, now: number = Date.now()): boolean {
    if (!/^\d{1,12}$/.test(expires)) return false;
    const exp = Number(expires);
    if (exp * 1000 < now) return false;
    const expected = Buffer.from(this.signature(jobId, index, exp));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}
