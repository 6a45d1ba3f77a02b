// The migration runner, on pg alone. Code that needs only migrations imports it as
// `@darkroom/db/migrate` (the migrate bundle, the test helpers): the package's index also loads the
// Prisma client, about 0.2 s of a process's start.
import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
  createdDatabase: boolean;
}

/** Thrown when the database's migration history cannot be trusted; names the migration. */
export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationError";
  }
}

// Any fixed number: every process that migrates takes the same lock, so an API and a worker
// starting together never apply one migration twice.
const MIGRATION_LOCK_KEY = 72_201_773;

/** Creates the database named in `databaseUrl` when it does not exist. Returns true if it did. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (name === "") throw new MigrationError("DATABASE_URL names no database");
  const admin = new URL(databaseUrl);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount !== 0) return false;
    try {
      await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    } catch (error) {
      // Another process created it between our check and our CREATE (42P04 duplicate_database,
      // or 23505 when both CREATEs race on the catalog's unique index).
      const code = (error as { code?: string }).code;
      if (code !== "42P04" && code !== "23505") throw error;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

export async function listMigrations(
  migrationsDir: string,
): Promise<{ name: string; sql: string; checksum: string }[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(migrationsDir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    }),
  );
}

/**
 * Applies `prisma/migrations/*\/migration.sql` in order and records each in Prisma's
 * `_prisma_migrations` table, so `prisma migrate deploy` agrees with this runner.
 */
export async function migrate(databaseUrl: string, migrationsDir: string): Promise<MigrationResult> {
  const createdDatabase = await ensureDatabase(databaseUrl);
  const migrations = await listMigrations(migrationsDir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  const alreadyApplied: string[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const rows = await client.query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
    }>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"');
    for (const row of rows.rows) {
      if (row.finished_at === null && row.rolled_back_at === null) {
        throw new MigrationError(
          `Migration ${row.migration_name} started but did not finish; fix the database, then mark it rolled back.`,
        );
      }
    }
    const done = new Map(rows.rows.filter((r) => r.finished_at !== null).map((r) => [r.migration_name, r.checksum]));
    for (const migration of migrations) {
      const checksum = done.get(migration.name);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new MigrationError(`Migration ${migration.name} was changed after it was applied (checksum differs).`);
        }
        alreadyApplied.push(migration.name);
        continue;
      }
      const id = randomUUID();
      await client.query(
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
        [id, migration.checksum, migration.name],
      );
      try {
        await client.query("BEGIN");
        await client.query(migration.sql);
        await client.query(
          'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1',
          [id],
        );
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        await client.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, String(error)]);
        throw new MigrationError(`Migration ${migration.name} failed: ${(error as Error).message}`);
      }
      applied.push(migration.name);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
  return { applied, alreadyApplied, createdDatabase };
}

/** Walks up from `fromDir` to the folder holding `prisma/migrations` (works from sources and from dist/). */
export async function findMigrationsDir(fromDir: string): Promise<string> {
  let dir = fromDir;
  for (;;) {
    const candidate = path.join(dir, "prisma", "migrations");
    try {
      await readdir(candidate);
      return candidate;
    } catch {
      const parent = path.dirname(dir);
      if (parent === dir) throw new MigrationError(`No prisma/migrations folder above ${fromDir}`);
      dir = parent;
    }
  }
}
