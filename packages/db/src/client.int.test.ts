import { createTestDatabase, type TestDatabase } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient, StatementNames } from "./client";

/**
 * The process's client prepares the statements that recur (parsed and planned once per
 * connection), and only those: a text seen once, or one past the bound, stays unnamed.
 */

describe("StatementNames", () => {
  it("names a text from its second use on, the same name every time, a different one per text", () => {
    const names = new StatementNames();
    expect(names.nameOf("SELECT 1")).toBeUndefined();
    const first = names.nameOf("SELECT 1");
    expect(first).toMatch(/^dr_[0-9a-f]{24}$/);
    expect(names.nameOf("SELECT 1")).toBe(first);
    names.nameOf("SELECT 2");
    expect(names.nameOf("SELECT 2")).not.toBe(first);
    expect(names.prepared).toBe(2);
  });

  it("prepares at most 500 texts per process", () => {
    const names = new StatementNames();
    for (let i = 0; i < 600; i++) {
      names.nameOf(`SELECT ${i}`);
      names.nameOf(`SELECT ${i}`);
    }
    expect(names.prepared).toBe(500);
    expect(names.nameOf("SELECT 599")).toBeUndefined();
    expect(names.nameOf("SELECT 0")).toMatch(/^dr_/);
  });

  it("never names a text longer than 8 KiB (an IN list of thousands of ids)", () => {
    const names = new StatementNames();
    const long = `SELECT 1 WHERE 1 IN (${Array.from({ length: 2000 }, (_, i) => `$${i + 1}`).join(",")})`;
    for (let i = 0; i < 3; i++) expect(names.nameOf(long)).toBeUndefined();
    expect(names.prepared).toBe(0);
  });
});

describe("createPrismaClient", () => {
  let database: TestDatabase;
  let db: PrismaClient;

  beforeAll(async () => {
    database = await createTestDatabase("prepared-statements");
    // One connection: the session that ran the statements is the one asked about them.
    db = createPrismaClient({ databaseUrl: database.url, poolSize: 1 });
  });
  afterAll(async () => {
    await db?.$disconnect();
    await database?.drop();
  });

  const prepared = async () =>
    (
      await db.$queryRawUnsafe<{ statement: string }[]>(
        "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'dr\\_%'",
      )
    ).map((row) => row.statement);

  it("runs a recurring statement as a prepared one on the connection, with its results unchanged", async () => {
    const tenants = async (id: string) =>
      db.$queryRaw<{ id: string; n: bigint }[]>`SELECT ${id}::text AS id, count(*) AS n FROM "Tenant" WHERE id = ${id}`;
    expect(await tenants("ten_a")).toEqual([{ id: "ten_a", n: 0n }]);
    expect((await prepared()).filter((s) => s.includes('FROM "Tenant" WHERE id ='))).toHaveLength(0);
    expect(await tenants("ten_b")).toEqual([{ id: "ten_b", n: 0n }]);
    expect(await tenants("ten_c")).toEqual([{ id: "ten_c", n: 0n }]);
    expect((await prepared()).filter((s) => s.includes('FROM "Tenant" WHERE id ='))).toHaveLength(1);
  });
});
