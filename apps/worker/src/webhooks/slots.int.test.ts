import { createTestRedis } from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { type DeliveryRoute, type WebhookSlotOptions, WebhookSlots } from "./slots";

const testRedis = createTestRedis("webhook-slots");
const redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
afterAll(async () => {
  redis.disconnect();
  await testRedis.cleanup();
});

let n = 0;
/** Slots under a prefix of their own; `woken` records every wake-up, `parked` says who can be woken. */
function slots(options: Partial<WebhookSlotOptions> = {}) {
  const woken: string[] = [];
  const parked = new Set<string>();
  const s = new WebhookSlots(redis, {
    prefix: `${testRedis.prefix}:${n++}`,
    perEndpoint: 2,
    perTenant: 3,
    leaseMs: 10_000,
    wake: async (id) => {
      woken.push(id);
      return parked.delete(id);
    },
    ...options,
  });
  return { s, woken, parked };
}

const a1: DeliveryRoute = { tenantId: "ten_a", url: "https://hooks.a.example/one" };
const a1Other: DeliveryRoute = { tenantId: "ten_a", url: "https://hooks.a.example:443/two?x=1" };
const a2: DeliveryRoute = { tenantId: "ten_a", url: "https://other.a.example/" };
const b1: DeliveryRoute = { tenantId: "ten_b", url: "https://hooks.a.example/one" };

describe("webhook in-flight caps", () => {
  it("caps each receiver (origin, per tenant) and each tenant; other tenants on the same host are not counted", async () => {
    const { s } = slots();
    expect(await s.acquire(a1, "whd_1")).not.toBeNull();
    // Another path of the same origin is the same receiver.
    expect(await s.acquire(a1Other, "whd_2")).not.toBeNull();
    expect(await s.acquire(a1, "whd_3")).toBeNull();
    // The tenant's other receiver has room until the tenant's cap (3) is reached.
    expect(await s.acquire(a2, "whd_4")).not.toBeNull();
    expect(await s.acquire(a2, "whd_5")).toBeNull();
    // Another tenant sending to the same host has caps of its own.
    expect(await s.acquire(b1, "whd_6")).not.toBeNull();
    expect(await s.acquire(b1, "whd_7")).not.toBeNull();
  });

  it("a released slot can be taken again; a slot never released (its process died) comes back when its lease ends", async () => {
    const { s } = slots({ leaseMs: 300 });
    const first = await s.acquire(a1, "whd_1");
    expect(await s.acquire(a1, "whd_2")).not.toBeNull();
    expect(await s.acquire(a1, "whd_3")).toBeNull();
    await first?.release();
    // whd_2's holder dies now (it never releases); whd_3 is live and takes the other slot later.
    await new Promise((r) => setTimeout(r, 150));
    expect(await s.acquire(a1, "whd_3")).not.toBeNull();
    expect(await s.acquire(a1, "whd_4")).toBeNull();
    // whd_2's lease has ended (the key itself lives on through whd_3's): its slot is free again.
    await new Promise((r) => setTimeout(r, 200));
    expect(await s.acquire(a1, "whd_4")).not.toBeNull();
  });

  it("a release wakes the oldest parked delivery of each cap, skipping those that are no longer parked", async () => {
    const { s, woken, parked } = slots({ perEndpoint: 1, perTenant: 2 });
    const held = await s.acquire(a1, "whd_held");
    for (const id of ["whd_w1", "whd_w2", "whd_w3"]) {
      expect(await s.acquire(a1, id)).toBeNull();
      expect(await s.park(a1, id)).toBe(true);
      await new Promise((r) => setTimeout(r, 2));
    }
    // whd_w1 came back by itself meanwhile (it is not parked any more): the wake-up goes to whd_w2.
    parked.add("whd_w2").add("whd_w3");
    await held?.release();
    expect(woken).toEqual(["whd_w1", "whd_w2"]);
    // The woken one takes the slot; whd_w1, back by itself, is refused and parks again: behind whd_w3.
    const w2 = await s.acquire(a1, "whd_w2");
    expect(w2).not.toBeNull();
    expect(await s.acquire(a1, "whd_w1")).toBeNull();
    expect(await s.park(a1, "whd_w1")).toBe(true);
    parked.add("whd_w1");
    await w2?.release();
    expect(woken).toEqual(["whd_w1", "whd_w2", "whd_w3"]);
  });

  it("park answers false when a slot was freed since the refusal, so that no wake-up is missed", async () => {
    const { s } = slots({ perEndpoint: 1 });
    const held = await s.acquire(a1, "whd_held");
    expect(await s.acquire(a1, "whd_late")).toBeNull();
    await held?.release();
    expect(await s.park(a1, "whd_late")).toBe(false);
  });

  it("a delivery refused by its tenant's cap waits on the tenant's list and is woken by any receiver's release", async () => {
    const { s, woken, parked } = slots({ perEndpoint: 5, perTenant: 1 });
    const held = await s.acquire(a2, "whd_held");
    expect(await s.acquire(a1, "whd_t")).toBeNull();
    expect(await s.park(a1, "whd_t")).toBe(true);
    parked.add("whd_t");
    await held?.release();
    expect(woken).toEqual(["whd_t"]);
  });
});
