import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from "@darkroom/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findMigrationsDir, listMigrations } from "./migrate";
import { diffDatamodels } from "./schema-engine";

/** Everything about a schema that Prisma's client depends on, as comparable text. */
async function describeSchema(url: string): Promise<Record<string, string[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const q = async (sql: string) => (await client.query(sql)).rows.map((r) => Object.values(r).join(" | "));
    return {
      columns: await q(`SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
          character_maximum_length, datetime_precision
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
        ORDER BY table_name, column_name`),
      indexes: await q(`SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY tablename, indexname`),
      constraints: await q(`SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT IN ('_prisma_migrations', '"_prisma_migrations"')
        ORDER BY 1, 2`),
      enums: await q(`SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        ORDER BY t.typname, e.enumsortorder`),
    };
  } finally {
    await client.end();
  }
}

describe("migrations and schema.prisma", () => {
  let migrated: TestDatabase;
  let fromSchema: TestDatabase;

  beforeAll(async () => {
    migrated = await createTestDatabase("agree");
    fromSchema = await createEmptyDatabase("fromschema");
  });
  afterAll(async () => {
    await migrated?.drop();
    await fromSchema?.drop();
  });

  it("the migrated database is exactly what schema.prisma describes", async () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const schemaPath = path.join(await findMigrationsDir(here), "..", "schema.prisma");
    const content = await readFile(schemaPath, "utf8");
    // Prisma's own SQL for the schema as it stands now, applied to an empty database...
    const sql = await diffDatamodels(
      { kind: "empty" },
      { kind: "datamodel", fileName: "schema.prisma", content },
      fromSchema.url,
    );
    expect(sql).toContain("CREATE TABLE");
    const client = new pg.Client({ connectionString: fromSchema.url });
    await client.connect();
    await client.query(sql);
    await client.end();
    // ...must equal the database the committed migrations produce. If this fails, run
    // `npm run db:diff -- --name <change>` and commit the new migration. Indexes Prisma cannot
    // describe (expressions) are named `…_search_idx` and exist in the migrated database only.
    const migratedSchema = await describeSchema(migrated.url);
    const searchIndexes = (migratedSchema.indexes ?? []).filter((line) => /_search_idx \|/.test(line));
    expect(searchIndexes.map((line) => line.split(" | ")[1])).toEqual(["Job_prompt_search_idx"]);
    migratedSchema.indexes = (migratedSchema.indexes ?? []).filter((line) => !searchIndexes.includes(line));
    expect(migratedSchema).toEqual(await describeSchema(fromSchema.url));
  });

  it("the newest migration keeps the whole schema it leaves behind (the next db:diff starts from it)", async () => {
    // Two branches that each add a migration merge cleanly in SQL, but the newer folder's copy of
    // schema.prisma lacks the other's change: the next db:diff would write that change again.
    const here = path.dirname(fileURLToPath(import.meta.url));
    const dir = await findMigrationsDir(here);
    const last = (await listMigrations(dir)).at(-1);
    if (last === undefined) throw new Error("no migrations");
    const kept = await readFile(path.join(dir, last.name, "schema.prisma"), "utf8");
    expect(kept, `copy prisma/schema.prisma into prisma/migrations/${last.name}/`).toBe(
      await readFile(path.join(dir, "..", "schema.prisma"), "utf8"),
    );
  });
});
