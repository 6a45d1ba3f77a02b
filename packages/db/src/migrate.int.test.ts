import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { TEST_SERVER_URL } from "@darkroom/testing";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { MigrationError, migrate } from "./migrate";

const created: string[] = [];
async function dropAll() {
  const client = new pg.Client({ connectionString: `${TEST_SERVER_URL}/postgres` });
  await client.connect();
  for (const name of created.splice(0)) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await client.end();
}
afterEach(dropAll);

async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "darkroom-migrations-"));
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

function newDatabaseUrl(): string {
  const name = `darkroom_test_mig_${randomBytes(4).toString("hex")}`;
  created.push(name);
  return `${TEST_SERVER_URL}/${name}`;
}

async function rows(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("migration runner", () => {
  it("creates a missing database, applies migrations in order and records them as Prisma does", async () => {
    const url = newDatabaseUrl();
    const first = "CREATE TABLE a (id int);";
    const dir = await migrationsDir({
      "20260101000000_a": first,
      "20260102000000_b": "ALTER TABLE a ADD COLUMN b text;",
    });
    const result = await migrate(url, dir);
    expect(result).toEqual({
      applied: ["20260101000000_a", "20260102000000_b"],
      alreadyApplied: [],
      createdDatabase: true,
    });
    const recorded = await rows(
      url,
      'SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name',
    );
    expect(recorded[0]).toEqual({
      migration_name: "20260101000000_a",
      checksum: createHash("sha256").update(first).digest("hex"),
      finished: true,
      applied_steps_count: 1,
    });
    expect(
      await rows(url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'a' ORDER BY 1"),
    ).toEqual([{ column_name: "b" }, { column_name: "id" }]);
    const again = await migrate(url, dir);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toHaveLength(2);
  });

  it("two processes migrating at once apply each migration once", async () => {
    const url = newDatabaseUrl();
    const dir = await migrationsDir({ "1_a": "CREATE TABLE a (id int);", "2_b": "CREATE TABLE b (id int);" });
    const [x, y] = await Promise.all([migrate(url, dir), migrate(url, dir)]);
    expect([...x.applied, ...y.applied].sort()).toEqual(["1_a", "2_b"]);
    expect(await rows(url, 'SELECT count(*)::int AS n FROM "_prisma_migrations"')).toEqual([{ n: 2 }]);
  });

  it("refuses a migration edited after it was applied, and stops after a failed one", async () => {
    const url = newDatabaseUrl();
    const dir = await migrationsDir({ "1_a": "CREATE TABLE a (id int);" });
    await migrate(url, dir);
    await writeFile(path.join(dir, "1_a", "migration.sql"), "CREATE TABLE a (id bigint);");
    await expect(migrate(url, dir)).rejects.toThrow(/1_a was changed after it was applied/);

    const url2 = newDatabaseUrl();
    const broken = await migrationsDir({ "1_ok": "CREATE TABLE ok (id int);", "2_bad": "CREATE TABLE nope (id int" });
    await expect(migrate(url2, broken)).rejects.toThrow(MigrationError);
    // The failed migration left nothing half-done, and the next run says which one to repair.
    expect(await rows(url2, "SELECT to_regclass('nope') IS NULL AS absent")).toEqual([{ absent: true }]);
    await expect(migrate(url2, broken)).rejects.toThrow(/2_bad started but did not finish/);
  });
});
