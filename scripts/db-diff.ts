// Writes the next migration: the SQL from the schema as of the last migration to prisma/schema.prisma.
// Usage: npm run db:diff -- --name add_something
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadEnvOrExit } from "@darkroom/config";
import { type DiffSource, diffDatamodels, findMigrationsDir, listMigrations } from "@darkroom/db";

const { values } = parseArgs({ options: { name: { type: "string" } } });
if (values.name === undefined || !/^[a-z0-9_]+$/.test(values.name)) {
  console.error("--name is required: lower-case letters, digits and _");
  process.exit(2);
}
const env = loadEnvOrExit();
const migrationsDir = await findMigrationsDir(path.dirname(fileURLToPath(import.meta.url)));
const schemaPath = path.join(migrationsDir, "..", "schema.prisma");
const migrations = await listMigrations(migrationsDir);
const last = migrations.at(-1);
// Each migration folder keeps the schema it was made from, so the next diff starts from there.
const from: DiffSource =
  last === undefined
    ? { kind: "empty" }
    : {
        kind: "datamodel",
        fileName: "schema.prisma",
        content: await readFile(path.join(migrationsDir, last.name, "schema.prisma"), "utf8"),
      };
const content = await readFile(schemaPath, "utf8");
const sql = await diffDatamodels(from, { kind: "datamodel", fileName: "schema.prisma", content }, env.DATABASE_URL);
if (sql.trim() === "" || /^-- This is an empty migration\.?\s*$/.test(sql.trim())) {
  console.log("schema.prisma matches the last migration: nothing to write");
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const dir = path.join(migrationsDir, `${stamp}_${values.name}`);
await mkdir(dir, { recursive: true });
await writeFile(path.join(dir, "migration.sql"), sql);
await writeFile(path.join(dir, "schema.prisma"), content);
console.log(`wrote ${path.relative(process.cwd(), dir)}/migration.sql`);
