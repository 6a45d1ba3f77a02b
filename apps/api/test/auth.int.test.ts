import { createHmac, randomBytes } from "node:crypto";
import { imageUrlSecret, parseEnv } from "@darkroom/config";
import { claimJob, completeJob, createPrismaClient, type PrismaClient } from "@darkroom/db";
import { ImageUrlSigner } from "@darkroom/domain";
import { imageDigest, imageKey, LocalDiskStorage } from "@darkroom/storage";
import { readSse } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
let db: PrismaClient;
beforeAll(async () => {
  h = await startApiHarness("auth");
  db = createPrismaClient({ databaseUrl: h.databaseUrl });
});
afterAll(async () => {
  await db?.$disconnect();
  await h.close();
});

interface StoredJob {
  id: string;
  images: Buffer[];
}

/**
 * A job of the tenant that succeeded with `count` stored images. This harness runs no worker, so the
 * test does the worker's part through the same db and storage calls: claim, store the bytes, complete.
 */
async function succeededJob(apiKey: string, count: number): Promise<StoredJob> {
  const created = await h.request("POST", "/v1/jobs", {
    key: apiKey,
    // A public literal address: accepted without DNS, and it makes the terminal event's delivery row.
    body: { prompt: "tenant a's secret", n: count, webhook_url: "https://8.8.8.8/hook" },
  });
  expect(created.status).toBe(202);
  const { id } = (await created.json()) as { id: string };
  const claim = await claimJob(db, {
    jobId: id,
    leaseOwner: "auth-test",
    leaseMs: 60_000,
  });
  if (claim === null) throw new Error(`job ${id} was not claimable`);
  const storage = new LocalDiskStorage(h.storageDir);
  const images = Array.from({ length: count }, () => randomBytes(64));
  const stored = await Promise.all(
    images.map(async (bytes, index) => {
      const sha256 = imageDigest(bytes);
      const storageKey = imageKey(id, index, sha256, "png");
      await storage.put(storageKey, bytes);
      return {
        index,
        storageKey,
        contentType: "image/png",
        bytes: bytes.length,
        sha256,
        width: null,
        height: null,
        sourceUrl: null,
      };
    }),
  );
  const done = await completeJob(db, {
    jobId: id,
    attempt: claim.attempt,
    model: claim.model,
    images: stored,
    usage: null,
    costMicroUsd: 0,
    facts: {},
  });
  if (!done) throw new Error(`job ${id} was not completed`);
  return { id, images };
}

function signerOf(api: ApiHarness["api"]): ImageUrlSigner {
  return new ImageUrlSigner(() => api.url, api.config.imageUrlSecret, api.config.imageUrlTtlSeconds);
}

/** The path and query of a signed URL, requested without any API key. */
function fetchSigned(url: string): Promise<Response> {
  const parsed = new URL(url);
  return h.request("GET", `${parsed.pathname}${parsed.search}`);
}

describe("authentication and tenant isolation", () => {
  it("answers 401 without a key, with a malformed header and with an unknown key", async () => {
    const variants: Record<string, string>[] = [
      {},
      { authorization: "Basic abc" },
      { authorization: "Bearer dr_nope" },
    ];
    for (const headers of variants) {
      const res = await h.request("GET", "/v1/jobs", { headers });
      expect(res.status).toBe(401);
      const body = (await res.json()) as { code: string };
      expect(body.code).toBe("unauthorized");
    }
  });

  it("hides one tenant's jobs and images from another with 404, never 403", async () => {
    const a = await h.newTenant("a");
    const b = await h.newTenant("b");
    const created = await h.request("POST", "/v1/jobs", { key: a.apiKey, body: { prompt: "tenant a's secret" } });
    const job = (await created.json()) as { id: string };
    expect((await h.request("GET", `/v1/jobs/${job.id}`, { key: a.apiKey })).status).toBe(200);
    const other = await h.request("GET", `/v1/jobs/${job.id}`, { key: b.apiKey });
    expect(other.status).toBe(404);
    expect(((await other.json()) as { code: string }).code).toBe("not_found");
    const list = (await (await h.request("GET", "/v1/jobs", { key: b.apiKey })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);

    // An image that exists: the owner gets its bytes, the other tenant the same 404 as a missing job.
    const done = await succeededJob(a.apiKey, 1);
    const mine = await h.request("GET", `/v1/jobs/${done.id}/images/0`, { key: a.apiKey });
    expect(mine.status).toBe(200);
    expect(Buffer.from(await mine.arrayBuffer()).equals(done.images[0] ?? Buffer.alloc(0))).toBe(true);
    const theirs = await h.request("GET", `/v1/jobs/${done.id}/images/0`, { key: b.apiKey });
    expect(theirs.status).toBe(404);
    expect(((await theirs.json()) as { code: string }).code).toBe("not_found");
  });

  it("hides another tenant's event stream, webhook deliveries, redelivery and Prefer: wait with 404", async () => {
    const a = await h.newTenant("a-streams");
    const b = await h.newTenant("b-streams");
    const done = await succeededJob(a.apiKey, 1);
    const live = (await (
      await h.request("POST", "/v1/jobs", { key: a.apiKey, body: { prompt: "still queued" } })
    ).json()) as { id: string };

    // The live stream of a queued job: open for the owner (first event arrives), 404 for the other tenant.
    const ownStream = await readSse(`${h.url}/v1/jobs/${live.id}/events`, {
      headers: { authorization: `Bearer ${a.apiKey}` },
      stop: () => true,
      timeoutMs: 10_000,
    });
    expect(ownStream.status).toBe(200);
    expect(ownStream.events.map((e) => e.event)).toEqual(["job.queued"]);
    const otherStream = await h.request("GET", `/v1/jobs/${live.id}/events`, {
      key: b.apiKey,
      headers: { accept: "text/event-stream" },
    });
    expect(otherStream.status).toBe(404);
    expect(otherStream.headers.get("content-type")).toMatch(/^application\/problem\+json/);

    const deliveries = await h.request("GET", `/v1/jobs/${done.id}/webhook-deliveries`, { key: a.apiKey });
    expect(deliveries.status).toBe(200);
    const [delivery] = ((await deliveries.json()) as { data: { id: string }[] }).data;
    expect(delivery?.id).toMatch(/^whd_/);
    expect((await h.request("GET", `/v1/jobs/${done.id}/webhook-deliveries`, { key: b.apiKey })).status).toBe(404);

    const stolen = await h.request("POST", `/v1/webhook-deliveries/${delivery?.id}/redeliver`, { key: b.apiKey });
    expect(stolen.status).toBe(404);
    expect(((await stolen.json()) as { code: string }).code).toBe("not_found");
    const own = await h.request("POST", `/v1/webhook-deliveries/${delivery?.id}/redeliver`, { key: a.apiKey });
    expect(own.status).toBe(202);

    // Prefer: wait must not wait on (or reveal) another tenant's job.
    const started = Date.now();
    const waited = await h.request("GET", `/v1/jobs/${live.id}`, { key: b.apiKey, headers: { prefer: "wait=3" } });
    expect(waited.status).toBe(404);
    expect(Date.now() - started).toBeLessThan(2_500);
    const finished = await h.request("GET", `/v1/jobs/${done.id}`, { key: b.apiKey, headers: { prefer: "wait=3" } });
    expect(finished.status).toBe(404);
    const ownFinished = await h.request("GET", `/v1/jobs/${done.id}`, { key: a.apiKey, headers: { prefer: "wait=3" } });
    expect(ownFinished.status).toBe(200);
    expect(((await ownFinished.json()) as { status: string }).status).toBe("succeeded");
  });

  it("stores keys hashed, never in the clear", async () => {
    const { apiKey } = await h.newTenant("hashed");
    const pg = await import("pg");
    const client = new pg.default.Client({ connectionString: h.databaseUrl });
    await client.connect();
    const rows = await client.query('SELECT "keyHash", prefix FROM "ApiKey"');
    await client.end();
    expect(JSON.stringify(rows.rows)).not.toContain(apiKey);
    expect(rows.rows.some((r: { prefix: string }) => apiKey.startsWith(r.prefix))).toBe(true);
  });

  it("guards the admin API with ADMIN_TOKEN", async () => {
    expect((await h.request("POST", "/admin/api/keys", { body: { name: "x" } })).status).toBe(401);
    expect((await h.request("POST", "/admin/api/keys", { key: `${ADMIN_TOKEN}x`, body: { name: "x" } })).status).toBe(
      401,
    );
    const bad = await h.request("POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name: "" } });
    expect(bad.status).toBe(400);
    const ok = await h.request("POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name: "acme" } });
    expect(ok.status).toBe(201);
    const body = (await ok.json()) as Record<string, string>;
    expect(body.tenant_id).toMatch(/^ten_/);
    expect(body.api_key).toMatch(/^dr_/);
    expect(body.webhook_secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  });

  it("opens an image by its signed URL, and refuses a forged or expired signature with 403", async () => {
    const { apiKey } = await h.newTenant("img");
    const done = await succeededJob(apiKey, 1);
    const signer = signerOf(h.api);
    const fresh = await fetchSigned(signer.url(done.id, 0));
    expect(fresh.status).toBe(200);
    expect(Buffer.from(await fresh.arrayBuffer()).equals(done.images[0] ?? Buffer.alloc(0))).toBe(true);

    const forged = await h.request("GET", `/v1/jobs/${done.id}/images/0?expires=9999999999&signature=AAAA`);
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { code: string }).code).toBe("forbidden");
    // Correctly signed with the API's own secret, but its expiry lies in the past.
    const ttlMs = h.api.config.imageUrlTtlSeconds * 1000;
    const expiredUrl = signer.url(done.id, 0, Date.now() - 3 * ttlMs);
    expect(Number(new URL(expiredUrl).searchParams.get("expires")) * 1000).toBeLessThan(Date.now());
    const expired = await fetchSigned(expiredUrl);
    expect(expired.status).toBe(403);
    expect(((await expired.json()) as { code: string }).code).toBe("forbidden");
  });

  it("refuses a signed URL in any but its canonical form, or expiring further ahead than any it signs, with 403 saying why", async () => {
    const { apiKey } = await h.newTenant("img-canonical");
    const done = await succeededJob(apiKey, 1);
    const url = new URL(signerOf(h.api).url(done.id, 0));
    const path = `${url.pathname}${url.search}`;
    expect((await h.request("GET", path)).status).toBe(200);
    const expires = url.searchParams.get("expires") ?? "";
    const signature = url.searchParams.get("signature") ?? "";
    const refused = async (target: string, detail: RegExp) => {
      const res = await h.request("GET", target);
      expect(res.status, target).toBe(403);
      const body = (await res.json()) as { code: string; detail: string };
      expect(body.code).toBe("forbidden");
      expect(body.detail, target).toMatch(detail);
    };
    const notCanonical = /not in the form Darkroom signs/;
    await refused(`${url.pathname}?signature=${signature}&expires=${expires}`, notCanonical);
    await refused(`${path}&download=1`, notCanonical);
    await refused(`${path}&signature=${signature}`, notCanonical);
    await refused(`${url.pathname}?expires=0${expires}&signature=${signature}`, notCanonical);
    await refused(`/v1/jobs/${done.id}/images/00?expires=${expires}&signature=${signature}`, notCanonical);
    await refused(`${url.pathname}?expires=${expires}&signature=${signature.toUpperCase()}`, /does not match/);
    // Correctly signed with the API's own key, for an expiry no URL it signs ever has.
    const far = 999999999999;
    const farSignature = createHmac("sha256", h.api.config.imageUrlSecret)
      .update(`${done.id}:0:${far}`)
      .digest("base64url");
    await refused(`${url.pathname}?expires=${far}&signature=${farSignature}`, /further ahead than any URL/);
  });

  it("signs image URLs with IMAGE_URL_SECRET when set: a URL signed with the ADMIN_TOKEN-derived key no longer opens", async () => {
    const { apiKey } = await h.newTenant("img-secret");
    const done = await succeededJob(apiKey, 1);
    // h.api runs without IMAGE_URL_SECRET: its key is derived from ADMIN_TOKEN.
    expect(h.api.config.imageUrlSecret).toBe(imageUrlSecret(parseEnv({ ADMIN_TOKEN })));
    const derived = new URL(signerOf(h.api).url(done.id, 0));
    const own = await h.addApi({ IMAGE_URL_SECRET: "an-image-url-secret-of-its-own" });
    expect(own.config.imageUrlSecret).toBe("an-image-url-secret-of-its-own");
    const refused = await fetch(`${own.url}${derived.pathname}${derived.search}`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/does not match/);
    const ownUrl = new URL(signerOf(own).url(done.id, 0));
    expect((await fetch(`${own.url}${ownUrl.pathname}${ownUrl.search}`)).status).toBe(200);
  });

  it("binds a signed URL to its job and image: image 0's signature opens neither image 1 nor another job", async () => {
    const { apiKey } = await h.newTenant("img-binding");
    const first = await succeededJob(apiKey, 2);
    const second = await succeededJob(apiKey, 1);
    const signer = signerOf(h.api);
    const url = new URL(signer.url(first.id, 0));
    expect((await fetchSigned(url.toString())).status).toBe(200);
    // Both targets exist and open with their own signed URLs, so only the binding refuses them.
    expect((await fetchSigned(signer.url(first.id, 1))).status).toBe(200);
    expect((await fetchSigned(signer.url(second.id, 0))).status).toBe(200);
    const otherIndex = await h.request("GET", `/v1/jobs/${first.id}/images/1${url.search}`);
    expect(otherIndex.status).toBe(403);
    const otherJob = await h.request("GET", `/v1/jobs/${second.id}/images/0${url.search}`);
    expect(otherJob.status).toBe(403);
  });

  it("carries an x-request-id on every response, echoing a sane incoming one", async () => {
    const mine = await h.request("GET", "/healthz", { headers: { "x-request-id": "trace-123" } });
    expect(mine.headers.get("x-request-id")).toBe("trace-123");
    const generated = await h.request("GET", "/nope");
    expect(generated.status).toBe(404);
    expect(generated.headers.get("x-request-id")).toMatch(/^req_/);
  });
});
