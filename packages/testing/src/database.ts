import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findMigrationsDir, migrate } from "@darkroom/db/migrate";
import { isProcessAlive } from "@darkroom/domain";
import pg from "pg";
import { ownerPidOf, testRunId } from "./run";

export const TEST_SERVER_URL = "postgresql://postgres@127.0.0.1:5432";

/**
 * The migrated template of the current run. Each run has its own, so runs sharing a machine never
 * drop each other's template or the clones made from it.
 */
export function templateDatabase(): string {
  return `darkroom_tpl_${testRunId()}`;
}

/** A database name of the current run: `darkroom_test_<run>_<label>_<random>`. */
function runDatabaseName(label: string): string {
  const clean = label
    .replace(/[^a-z0-9]/gi, "")
    .slice(0, 20)
    .toLowerCase();
  return `darkroom_test_${testRunId()}_${clean}_${randomBytes(4).toString("hex")}`;
}

function urlFor(database: string): string {
  return `${TEST_SERVER_URL}/${database}`;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlFor("postgres") });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Builds this run's migrated template database, which every test database is cloned from. */
export async function prepareTemplateDatabase(): Promise<void> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  await migrate(urlFor(templateDatabase()), await findMigrationsDir(here));
}

const RUN_DATABASE = /^darkroom_(?:tpl|test)_(r\d+x[0-9a-f]{4})(?:_|$)/;

/**
 * Drops the databases of a run: the current one (`runId` given) or, without it, every run whose
 * owning process is gone (leftovers of a run that was killed). Live runs are never touched.
 */
export async function dropRunDatabases(runId?: string): Promise<string[]> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'darkroom\\_tpl\\_%' OR datname LIKE 'darkroom\\_test\\_%'",
    );
    const dropped: string[] = [];
    // clones first: a template cannot be dropped while a clone is being made from it
    const names = rows
      .map((r) => r.datname)
      .sort((a, b) => Number(a.startsWith("darkroom_tpl_")) - Number(b.startsWith("darkroom_tpl_")));
    for (const name of names) {
      const owner = RUN_DATABASE.exec(name)?.[1];
      if (!owner) continue;
      const pid = ownerPidOf(owner);
      const ours = runId !== undefined ? owner === runId : pid !== null && !isProcessAlive(pid);
      if (!ours) continue;
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      dropped.push(name);
    }
    return dropped;
  });
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A pg pool for a test's own statements on its database. The database's drop at teardown
 * (`WITH (FORCE)`) terminates its backends: an idle client then gets the server's "terminating
 * connection" error, which the pool re-emits as its own "error" event, and without a listener that
 * is an uncaught exception that fails the whole run (seen in a CI run, from admin-trends.int.test.ts).
 */
export function testPool(connectionString: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on("error", () => undefined);
  return pool;
}

/** A fresh database cloned from the migrated template: one per test file, dropped afterwards. */
export async function createTestDatabase(label = "t"): Promise<TestDatabase> {
  const name = runDatabaseName(label);
  await withAdmin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${templateDatabase()}`));
  return {
    name,
    url: urlFor(name),
    drop: () =>
      withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** An empty database (no migrations), for tests of the migration runner itself. */
export async function createEmptyDatabase(label = "empty"): Promise<TestDatabase> {
  const name = runDatabaseName(label);
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: urlFor(name),
    drop: () =>
      withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
