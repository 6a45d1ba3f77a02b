import { claimJob, completeJob, createPrismaClient } from "@darkroom/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./harness";

let h: ApiHarness;
let key: string;
const ids: string[] = [];
beforeAll(async () => {
  h = await startApiHarness("listing");
  key = (await h.newTenant()).apiKey;
  for (let i = 0; i < 7; i++) {
    const model = i % 2 === 0 ? "gpt-4o-image" : "gpt-image-1";
    const res = await h.request("POST", "/v1/jobs", { key, body: { prompt: `job ${i}`, model } });
    ids.push(((await res.json()) as { id: string }).id);
    await new Promise((r) => setTimeout(r, 3));
  }
});
afterAll(() => h.close());

type Page = {
  data: { id: string; model: string; created_at: string; result: { model: string } | null }[];
  next_cursor: string | null;
};

describe("GET /v1/jobs", () => {
  it("pages newest first with a cursor, every job exactly once", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await h.request("GET", `/v1/jobs?limit=3${cursor === null ? "" : `&cursor=${cursor}`}`, { key });
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page;
      seen.push(...page.data.map((j) => j.id));
      cursor = page.next_cursor;
      pages++;
      // a job created while paging must not shift later pages
      if (pages === 1) await h.request("POST", "/v1/jobs", { key, body: { prompt: "late" } });
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it("filters by model, status and creation time", async () => {
    const byModel = (await (await h.request("GET", "/v1/jobs?model=gpt-image-1&limit=100", { key })).json()) as Page;
    expect(byModel.data.map((j) => j.id)).toEqual([ids[5], ids[3], ids[1]]);
    const none = (await (await h.request("GET", "/v1/jobs?status=succeeded", { key })).json()) as Page;
    expect(none.data).toEqual([]);
    const all = (await (await h.request("GET", "/v1/jobs?limit=100", { key })).json()) as Page;
    const pivot = all.data.find((j) => j.id === ids[3]);
    const after = (await (
      await h.request("GET", `/v1/jobs?limit=100&created_after=${encodeURIComponent(pivot?.created_at ?? "")}`, { key })
    ).json()) as Page;
    expect(after.data.map((j) => j.id)).toEqual(expect.arrayContaining([ids[4], ids[5], ids[6]]));
    expect(after.data.map((j) => j.id)).not.toContain(ids[3]);
    const before = (await (
      await h.request("GET", `/v1/jobs?limit=100&created_before=${encodeURIComponent(pivot?.created_at ?? "")}`, {
        key,
      })
    ).json()) as Page;
    expect(before.data.map((j) => j.id)).toEqual([ids[2], ids[1], ids[0]]);
  });

  it("model matches the model asked for; result_model the one that stored the images (a fallback's too)", async () => {
    const tenant = (await h.newTenant()).apiKey;
    const create = async (model: string) =>
      (
        (await (await h.request("POST", "/v1/jobs", { key: tenant, body: { prompt: "m", model } })).json()) as {
          id: string;
        }
      ).id;
    const fellBack = await create("gpt-4o-image");
    const direct = await create("gpt-image-1");
    const primary = await create("gpt-4o-image");
    await create("gpt-4o-image"); // still queued: no result model
    const db = createPrismaClient({ databaseUrl: h.databaseUrl });
    try {
      // As a worker does: fellBack's primary circuit is open, so its attempt goes to gpt-image-1.
      for (const [id, circuitOpen] of [
        [fellBack, ["gpt-4o-image"]],
        [direct, []],
        [primary, []],
      ] as const) {
        const claim = await claimJob(db, { jobId: id, leaseOwner: "test", leaseMs: 60_000, circuitOpen });
        if (claim === null) throw new Error(`${id} not claimable`);
        const image = { index: 0, storageKey: `t/${id}`, contentType: "image/png", bytes: 1, sha256: "0".repeat(64) };
        const done = await completeJob(db, {
          jobId: id,
          attempt: claim.attempt,
          model: claim.model,
          images: [{ ...image, width: null, height: null, sourceUrl: null }],
          usage: null,
          costMicroUsd: 0,
          facts: {},
        });
        expect(done).toBe(true);
      }
    } finally {
      await db.$disconnect();
    }
    const list = async (query: string) =>
      ((await (await h.request("GET", `/v1/jobs?limit=100&${query}`, { key: tenant })).json()) as Page).data;
    expect((await list("model=gpt-image-1")).map((j) => j.id)).toEqual([direct]);
    expect((await list("result_model=gpt-image-1")).map((j) => [j.id, j.model, j.result?.model])).toEqual([
      [direct, "gpt-image-1", "gpt-image-1"],
      [fellBack, "gpt-4o-image", "gpt-image-1"],
    ]);
    expect((await list("result_model=gpt-4o-image")).map((j) => j.id)).toEqual([primary]);
    expect((await list("model=gpt-4o-image&result_model=gpt-image-1")).map((j) => j.id)).toEqual([fellBack]);
    const bad = await h.request("GET", "/v1/jobs?result_model=dall-e", { key: tenant });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(["result_model"]);
  });
});
