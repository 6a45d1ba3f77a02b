import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findMigrationsDir, migrate } from "@darkroom/db";
import pg from "pg";

export const TEST_SERVER_URL = "postgresql://postgres@127.0.0.1:5432";
export const TEMPLATE_DATABASE = "darkroom_test_template";

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

/** Rebuilds the migrated template database that every test database is cloned from. */
export async function prepareTemplateDatabase(): Promise<void> {
  await withAdmin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
  });
  const here = path.dirname(fileURLToPath(import.meta.url));
  await migrate(urlFor(TEMPLATE_DATABASE), await findMigrationsDir(here));
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template: one per test file, dropped afterwards. */
export async function createTestDatabase(label = "t"): Promise<TestDatabase> {
  const name = `darkroom_test_${label
    .replace(/[^a-z0-9]/gi, "")
    .slice(0, 20)
    .toLowerCase()}_${randomBytes(4).toString("hex")}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`));
  return {
    name,
    url: urlFor(name),
    drop: () =>
      withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** An empty database (no migrations), for tests of the migration runner itself. */
export async function createEmptyDatabase(label = "empty"): Promise<TestDatabase> {
  const name = `darkroom_test_${label}_${randomBytes(4).toString("hex")}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: urlFor(name),
    drop: () =>
      withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
