import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/prisma/client";

export type { Prisma } from "./generated/prisma/client";
export { PrismaClient } from "./generated/prisma/client";

/** A client or an open transaction: callers decide the transaction. */
export type DbClient = PrismaClient | Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

export interface CreateDbOptions {
  databaseUrl: string;
  /** Pool size per process. */
  poolSize?: number;
  /**
   * How long a query may wait for a pooled connection (or for a new one to connect) before it
   * fails; 5 s unless given. Waiters queue in arrival order meanwhile.
   */
  acquireTimeoutMs?: number;
}

/** The one PrismaClient of a process, on the pg driver adapter. */
export function createPrismaClient(options: CreateDbOptions): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.acquireTimeoutMs ?? 5_000,
  });
  return new PrismaClient({ adapter });
}
