import { createTestDatabase, type TestDatabase } from "@darkroom/testing";
import { afterAll, beforeAll } from "vitest";
import { createPrismaClient, type PrismaClient } from "./client";
import { createTenantWithKey } from "./tenants";

/** What {@link useTestDatabase} gives a test file; its fields are set once the file's tests start. */
export interface TestDatabaseContext {
  database: TestDatabase;
  db: PrismaClient;
  /** A tenant made for the file's jobs. */
  tenantId: string;
}

/**
 * For a test file of this package (test-only, not exported by the package): a migrated database of
 * its own (`label` names it), a Prisma client with a pool of two and a tenant, made before the
 * file's first test; the client closed and the database dropped after its last.
 */
export function useTestDatabase(label: string): TestDatabaseContext {
  const context = {} as TestDatabaseContext;
  beforeAll(async () => {
    context.database = await createTestDatabase(label);
    context.db = createPrismaClient({ databaseUrl: context.database.url, poolSize: 2 });
    context.tenantId = (await createTenantWithKey(context.db, "t")).tenantId;
  });
  afterAll(async () => {
    await context.db?.$disconnect();
    await context.database?.drop();
  });
  return context;
}
