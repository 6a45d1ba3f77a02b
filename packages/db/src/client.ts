import { createHash } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { type Prisma, PrismaClient } from "./generated/prisma/client";

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
  /** A pool of the caller's to run on (tests count its statements); then `poolSize` and `acquireTimeoutMs` are its own. */
  pool?: pg.Pool;
}

/**
 * How long an interactive transaction may wait for a pool connection. Contention must slow work
 * down, never fail it: Prisma's default (2 s) failed jobs with "Unable to start a transaction in
 * the given time" when a worker's pool was busy. The hot paths use no interactive transaction.
 */
const TRANSACTION_MAX_WAIT_MS = 10 * 60_000;

/** A statement is prepared once it ran this often in the process. */
const PREPARE_AFTER_USES = 2;
/** At most this many statements are prepared per process (and so per connection). */
const MAX_PREPARED = 500;
/** Texts counted at most: beyond, a new text is never prepared (a text built per call, e.g. an IN list). */
const MAX_COUNTED = 1_000;
/** Longer texts are never prepared nor kept (an IN list of thousands of ids is not worth a name). */
const MAX_PREPARED_LENGTH = 8_192;

/**
 * Names the statements that recur, so that each pooled connection parses and plans them once
 * (the extended protocol's named prepared statements) instead of on every call: the hot paths run
 * the same few statements thousands of times a second, and Postgres spent about half of each
 * call's CPU parsing and planning it again. A text seen once stays unnamed; the number of names
 * is bounded, since each lives on every connection until it closes. The name is a hash of the
 * text, so two texts never share one.
 */
export class StatementNames {
  private readonly uses = new Map<string, number>();
  private readonly names = new Map<string, string>();

  nameOf(sql: string): string | undefined {
    if (sql.length > MAX_PREPARED_LENGTH) return undefined;
    const named = this.names.get(sql);
    if (named !== undefined) return named;
    const count = (this.uses.get(sql) ?? 0) + 1;
    if (count < PREPARE_AFTER_USES || this.names.size >= MAX_PREPARED) {
      if (this.uses.has(sql) || this.uses.size < MAX_COUNTED) this.uses.set(sql, count);
      return undefined;
    }
    this.uses.delete(sql);
    const name = `dr_${createHash("sha1").update(sql).digest("hex").slice(0, 24)}`;
    this.names.set(sql, name);
    return name;
  }

  get prepared(): number {
    return this.names.size;
  }
}

/** The pg pool under a client, with the client's statement names: for statements that skip Prisma. */
export interface PgAccess {
  pool: pg.Pool;
  statements: StatementNames;
}

const pools = new WeakMap<object, PgAccess>();

/** The one PrismaClient of a process, on the pg driver adapter. */
export function createPrismaClient(options: CreateDbOptions): PrismaClient {
  const statements = new StatementNames();
  const pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      // Unless told otherwise, a query waits in the pool's queue for a free connection as long as it takes.
      connectionTimeoutMillis: options.acquireTimeoutMs ?? 0,
    });
  // An idle connection that breaks (Postgres restarted) is dropped from the pool; the next query
  // reports the outage. Without a listener, the pool's "error" event would end the process before
  // Prisma adds its own (at its first query).
  pool.on("error", () => undefined);
  const adapter = new PrismaPg(pool, {
    statementNameGenerator: (query) => statements.nameOf(query.sql) as string,
    // The client owns a pool it made: `$disconnect` ends it.
    disposeExternalPool: options.pool === undefined,
  });
  const client = new PrismaClient({ adapter, transactionOptions: { maxWait: TRANSACTION_MAX_WAIT_MS } });
  pools.set(client, { pool, statements });
  return client;
}

/**
 * The pg pool under a client made by `createPrismaClient` (the one Prisma itself queries), or null
 * for a transaction or any other client. A statement sent here skips Prisma's query engine and its
 * work per call (argument mapping, its query interpreter, result mapping): on the create path that
 * was about 7 % of the API's busy CPU. Its rows come back with pg's own type parsing, so the caller
 * converts them to what Prisma would return.
 */
export function poolOf(db: DbClient): PgAccess | null {
  return pools.get(db) ?? null;
}

/** The rows of `text` sent on a client's own pg pool, as a named prepared statement once it recurs. */
export async function poolRows<Row>(access: PgAccess, text: string, values: unknown[]): Promise<Row[]> {
  const result = await access.pool.query({ name: access.statements.nameOf(text), text, values });
  return result.rows as Row[];
}

/**
 * The rows of a raw statement, sent on the client's own pg pool (named as a prepared statement once
 * it recurs) when it has one: a statement the worker sends for a batch of jobs, many times a second,
 * skips Prisma's work per call (its query interpreter and result mapping, about 8 % of a draining
 * worker's CPU). Inside a transaction, or on any other client, it goes through `$queryRaw`. Only for
 * statements whose columns pg and Prisma give alike: text, int4, bool, timestamptz, text[] and json
 * (not numeric or int8, which pg gives as strings).
 */
export async function queryRows<Rows extends unknown[]>(db: DbClient, query: Prisma.Sql): Promise<Rows> {
  const direct = poolOf(db);
  if (direct === null) return db.$queryRaw<Rows>(query);
  return (await poolRows(direct, query.text, query.values)) as Rows;
}
