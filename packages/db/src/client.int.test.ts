import { createTestDatabase, type TestDatabase } from "@darkroom/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createPrismaClient, type PrismaClient, queryRows, StatementNames } from "./client";
import { Prisma } from "./generated/prisma/client";

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

  it("sends queryRows on the pool outside a transaction, through Prisma inside one, with the same rows", async () => {
    const query = (id: string) => Prisma.sql`
      SELECT ${id}::text AS id, 3::int AS n, true AS ok, '2026-12-05T10:00:00.123Z'::timestamptz AS at,
        ARRAY['a', ${id}]::text[] AS tags, json_build_object('k', ${[1, 2]}::int[]) AS data,
        unnest(${["x", null]}::text[]) AS maybe`;
    const row = {
      id: "ten_q",
      n: 3,
      ok: true,
      at: new Date("2026-12-05T10:00:00.123Z"),
      tags: ["a", "ten_q"],
      data: { k: [1, 2] },
    };
    const expected = [
      { ...row, maybe: "x" },
      { ...row, maybe: null },
    ];
    const viaPrisma = vi.spyOn(db, "$queryRaw");
    try {
      // Outside a transaction: Prisma's $queryRaw is not called.
      expect(await queryRows(db, query("ten_q"))).toEqual(expected);
      expect(viaPrisma).not.toHaveBeenCalled();
      // Inside one, the statement must run on the transaction's connection: Prisma's.
      const inside = await db.$transaction((tx) => queryRows(tx, query("ten_q")));
      expect(inside).toEqual(expected);
    } finally {
      viaPrisma.mockRestore();
    }
  });
});
