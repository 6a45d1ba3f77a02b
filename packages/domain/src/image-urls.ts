import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * How far ahead of the verifier's clock a signer's clock may run: the API verifies URLs that other
 * processes (workers, other API replicas) signed.
 */
export const IMAGE_URL_CLOCK_SKEW_SECONDS = 60;

/** The one form of a signed query Darkroom writes: anything else (order, extra or repeated parameters, leading zeros, percent-encoding) is refused. */
const CANONICAL_QUERY = /^expires=([1-9][0-9]{0,11})&signature=([A-Za-z0-9_-]{43})$/;

/** Why a signed image URL was refused, worded for the person holding the link. */
export type ImageUrlRefusal = "not_canonical" | "expired" | "too_far_ahead" | "bad_signature";

export const IMAGE_URL_REFUSAL_MESSAGES: Record<ImageUrlRefusal, string> = {
  not_canonical:
    "The image URL is not in the form Darkroom signs (exactly ?expires=<unix seconds>&signature=<43 characters>, nothing added or changed); use the url of the job as given.",
  expired: "The image URL has expired; fetch the job again for a fresh URL.",
  too_far_ahead:
    "The image URL's expiry is further ahead than any URL Darkroom signs; fetch the job again for a fresh URL.",
  bad_signature: "The image URL's signature does not match; fetch the job again for a fresh URL.",
};

/**
 * Signed image URLs let an `<img>` tag show a result without an API key. The expiry is rounded up
 * to the TTL's boundary so the same job renders the same URL for a while (cache-friendly). URLs in
 * webhook bodies live `webhookWindowSeconds` longer: a body is built once and sent verbatim by every
 * retry, so its links must outlive the retry schedule. No URL verifies whose expiry is further ahead
 * than the longest lifetime ever signed (plus {@link IMAGE_URL_CLOCK_SKEW_SECONDS}).
 */
export class ImageUrlSigner {
  constructor(
    private readonly baseUrl: () => string,
    private readonly secret: string,
    private readonly ttlSeconds: number,
    private readonly webhookWindowSeconds = 0,
  ) {}

  /** The longest time from signing to expiry of any URL this signer makes. */
  get maxLifetimeSeconds(): number {
    return 2 * this.ttlSeconds + this.webhookWindowSeconds;
  }

  private signature(jobId: string, index: number, expires: number): string {
    return createHmac("sha256", this.secret).update(`${jobId}:${index}:${expires}`).digest("base64url");
  }

  private signed(jobId: string, index: number, expires: number): string {
    const sig = this.signature(jobId, index, expires);
    return `${this.baseUrl()}/v1/jobs/${jobId}/images/${index}?expires=${expires}&signature=${sig}`;
  }

  /** Valid at least `ttlSeconds` (and under twice that), for the job object in API answers. */
  url(jobId: string, index: number, now: number = Date.now()): string {
    const nowSeconds = Math.floor(now / 1000);
    return this.signed(jobId, index, (Math.floor(nowSeconds / this.ttlSeconds) + 2) * this.ttlSeconds);
  }

  /** Valid at least the webhook retry window plus `ttlSeconds`, for a webhook body built at `now`. */
  webhookUrl(jobId: string, index: number, now: number = Date.now()): string {
    const nowSeconds = Math.floor(now / 1000);
    const expires = (Math.floor(nowSeconds / this.ttlSeconds) + 2) * this.ttlSeconds + this.webhookWindowSeconds;
    return this.signed(jobId, index, expires);
  }

  /**
   * Checks the raw query string of a signed URL (without `?`): its one canonical form, an expiry
   * neither past nor further ahead than any signed, and the signature. Null when it verifies.
   */
  check(jobId: string, index: number, rawQuery: string, now: number = Date.now()): ImageUrlRefusal | null {
    const match = CANONICAL_QUERY.exec(rawQuery);
    if (match === null) return "not_canonical";
    const [, expires = "", signature = ""] = match;
    const exp = Number(expires);
    if (exp * 1000 < now) return "expired";
    if (exp * 1000 > now + (this.maxLifetimeSeconds + IMAGE_URL_CLOCK_SKEW_SECONDS) * 1000) return "too_far_ahead";
    const expected = Buffer.from(this.signature(jobId, index, exp));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given) ? null : "bad_signature";
  }

  /** True when the signature matches, in canonical form, and is neither expired nor too far ahead. */
  verify(jobId: string, index: number, expires: string, signature: string, now: number = Date.now()): boolean {
    return this.check(jobId, index, `expires=${expires}&signature=${signature}`, now) === null;
  }
}
