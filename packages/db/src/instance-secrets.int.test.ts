import { createTestDatabase, type TestDatabase } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "./client";
import { ensureDevelopmentSecrets } from "./instance-secrets";
import { findTenantByApiKey, revokeApiKey } from "./tenants";

let db: TestDatabase;
let clients: PrismaClient[];
beforeAll(async () => {
  db = await createTestDatabase("instance-secrets");
  // Two clients: two `npm start`s on one database.
  clients = [createPrismaClient({ databaseUrl: db.url, poolSize: 2 }), createPrismaClient({ databaseUrl: db.url })];
});
afterAll(async () => {
  for (const c of clients ?? []) await c.$disconnect();
  await db?.drop();
});

describe("ensureDevelopmentSecrets", () => {
  it("makes one set on the first start, even when two start at once, and gives it back on every later start", async () => {
    const [a, b] = clients;
    if (a === undefined || b === undefined) throw new Error("no clients");
    const [one, two] = await Promise.all([ensureDevelopmentSecrets(a), ensureDevelopmentSecrets(b)]);
    expect(two).toEqual(one);
    expect(one.adminToken).toMatch(/^adm_/);
    expect(one.imageUrlSecret.length).toBeGreaterThanOrEqual(32);
    expect(one.webhookSecret).toMatch(/^whsec_/);
    expect(await findTenantByApiKey(a, one.apiKey)).toMatchObject({ tenantId: one.tenantId });
    expect(await ensureDevelopmentSecrets(a)).toEqual(one);
    expect(await a.tenant.count({ where: { name: "development" } })).toBe(1);
    // Configured values win and are not stored over the made-up ones.
    const configured = await ensureDevelopmentSecrets(a, {
      adminToken: "configured-admin-token",
      imageUrlSecret: "configured-image-secret",
    });
    expect(configured).toMatchObject({
      adminToken: "configured-admin-token",
      imageUrlSecret: "configured-image-secret",
    });
    expect((await ensureDevelopmentSecrets(a)).adminToken).toBe(one.adminToken);
  });

  it("makes a new development key (and tenant) when the stored one was revoked, keeping the other secrets", async () => {
    const [a] = clients;
    if (a === undefined) throw new Error("no client");
    const before = await ensureDevelopmentSecrets(a);
    const key = await a.apiKey.findFirstOrThrow({ where: { tenantId: before.tenantId } });
    await revokeApiKey(a, key.id);
    const after = await ensureDevelopmentSecrets(a);
    expect(after.apiKey).not.toBe(before.apiKey);
    expect(await findTenantByApiKey(a, after.apiKey)).not.toBeNull();
    expect(after).toMatchObject({ adminToken: before.adminToken, imageUrlSecret: before.imageUrlSecret });
    expect(await ensureDevelopmentSecrets(a)).toEqual(after);
  });
});
