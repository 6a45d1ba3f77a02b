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
   * fails; unbounded unless given. Waiters queue in arrival order meanwhile.
   */
  acquireTimeoutMs?: number;
}

/**
 * How long an interactive transaction may wait for a pool connection. Contention must slow work
 * down, never fail it: Prisma's default (2 s) failed jobs with "Unable to start a transaction in
 * the given time" when a worker's pool was busy. The hot paths use no interactive transaction.
 */
const TRANSACTION_MAX_WAIT_MS = 10 * 60_000;

/** The one PrismaClient of a process, on the pg driver adapter. */
export function createPrismaClient(options: CreateDbOptions): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 10,
    // Unless told otherwise, a query waits in the pool's queue for a free connection as long as it takes.
    connectionTimeoutMillis: options.acquireTimeoutMs ?? 0,
  });
  return new PrismaClient({ adapter, transactionOptions: { maxWait: TRANSACTION_MAX_WAIT_MS } });
}
