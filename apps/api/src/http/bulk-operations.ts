import { randomUUID } from "node:crypto";
import { type AdminJobFilter, adminJobsExtent, listAdminJobIds, type PrismaClient } from "@darkroom/db";
import { AppError, newId } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import { z } from "zod";
import type { ApiDeps } from "../deps";
import { AdminJobFilterSchema, toAdminJobFilter } from "./admin-job-filter";
import { jobActions } from "./job-actions";

/** Jobs per batch: one progress write per batch. */
export const BULK_BATCH = 100;
/** An operation whose process has not reported for this long is taken over by another (or a restart). */
export const BULK_STALE_MS = 30_000;

/** Body of `POST /admin/api/jobs/bulk`. */
export const BulkRequestSchema = z.strictObject({
  action: z.enum(["retry", "cancel"], { error: "must be retry or cancel" }).meta({
    description: "`retry` queues failed or canceled jobs again; `cancel` stops queued or running ones",
  }),
  filter: AdminJobFilterSchema.meta({
    description: "The same filter as GET /admin/api/jobs (`status` a string or an array, `metadata` key=value strings)",
  }),
  expected_count: z.int({ error: "must be an integer" }).min(0, { error: "must be at least 0" }).optional().meta({
    description:
      "The count the operator confirmed (GET /admin/api/jobs/count): refused with 409 when the filter matches another number now. Required when the filter is empty (every job).",
  }),
});

type BulkRow = NonNullable<Awaited<ReturnType<PrismaClient["bulkOperation"]["findUnique"]>>>;

/** An operation as the API shows it. */
export function presentBulk(op: BulkRow) {
  return {
    id: op.id,
    object: "bulk_operation" as const,
    action: op.action as "retry" | "cancel",
    filter: op.filter as Record<string, unknown>,
    status: op.status as "running" | "succeeded" | "failed",
    total: op.total,
    processed: op.processed,
    succeeded: op.succeeded,
    skipped: op.skipped,
    failed: op.failed,
    error: op.error,
    created_at: op.createdAt.toISOString(),
    finished_at: op.finishedAt?.toISOString() ?? null,
  };
}

/**
 * Bulk retries and cancels, run server-side in batches by the API process that took them, and
 * resumed by any API process when that one stops reporting (BULK_STALE_MS).
 */
export class BulkOperations {
  private readonly owner = randomUUID();
  private readonly running = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly actions: ReturnType<typeof jobActions>;

  constructor(
    private readonly deps: ApiDeps,
    private readonly log: Logger,
  ) {
    this.actions = jobActions(deps);
  }

  /** Resumes operations left running by a process that stopped, now and every BULK_STALE_MS. */
  start(): void {
    if (this.timer !== null) return;
    const sweep = () =>
      void this.resumeStale().catch((error: unknown) => this.log.warn({ err: error }, "bulk sweep failed"));
    sweep();
    this.timer = setInterval(sweep, BULK_STALE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Starts an operation (or answers the one an Idempotency-Key already started: `created` false). */
  async create(
    body: z.output<typeof BulkRequestSchema>,
    idempotencyKey: string | undefined,
  ): Promise<{ op: BulkRow; created: boolean }> {
    const { db } = this.deps;
    if (idempotencyKey !== undefined) {
      const existing = await db.bulkOperation.findUnique({ where: { idempotencyKey } });
      if (existing !== null) return { op: existing, created: false };
    }
    const filter = toAdminJobFilter(body.filter);
    const everything = Object.values(body.filter).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
    if (everything && body.expected_count === undefined) {
      throw new AppError(
        "validation_failed",
        "The filter matches every job: send expected_count (the count you confirmed) to act on all of them.",
        { errors: [{ path: "expected_count", message: "is required when the filter is empty" }] },
      );
    }
    const { count: total, newestId: newest } = await adminJobsExtent(db, filter);
    if (body.expected_count !== undefined && body.expected_count !== total) {
      throw new AppError(
        "conflict",
        `The filter matches ${total} jobs now, not the ${body.expected_count} confirmed: confirm again.`,
      );
    }
    let op: BulkRow;
    try {
      op = await db.bulkOperation.create({
        data: {
          id: newId("bulk"),
          action: body.action,
          filter: body.filter as object,
          total,
          upToId: newest,
          idempotencyKey: idempotencyKey ?? null,
          owner: this.owner,
          status: newest === null ? "succeeded" : "running",
          finishedAt: newest === null ? new Date() : null,
        },
      });
    } catch (error) {
      // The same key, started at the same moment by another request: answer that one.
      if (idempotencyKey !== undefined && (error as { code?: string }).code === "P2002") {
        const existing = await db.bulkOperation.findUnique({ where: { idempotencyKey } });
        if (existing !== null) return { op: existing, created: false };
      }
      throw error;
    }
    if (op.status === "running") this.run(op.id);
    return { op, created: true };
  }

  async get(id: string): Promise<BulkRow | null> {
    return this.deps.db.bulkOperation.findUnique({ where: { id } });
  }

  private async resumeStale(): Promise<void> {
    const stale = await this.deps.db.bulkOperation.findMany({
      where: { status: "running", heartbeatAt: { lt: new Date(Date.now() - BULK_STALE_MS) } },
      select: { id: true },
    });
    for (const { id } of stale) this.run(id);
  }

  /** Runs an operation in this process unless another one holds it (claimed by a fresh heartbeat). */
  private run(id: string): void {
    if (this.running.has(id)) return;
    this.running.add(id);
    void this.drive(id)
      .catch(async (error: unknown) => {
        this.log.error({ err: error, bulk_id: id }, "bulk operation failed");
        await this.deps.db.bulkOperation
          .updateMany({
            where: { id, owner: this.owner, status: "running" },
            data: { status: "failed", error: (error as Error).message, finishedAt: new Date() },
          })
          .catch(() => undefined);
      })
      .finally(() => this.running.delete(id));
  }

  private async drive(id: string): Promise<void> {
    const { db } = this.deps;
    const claimed = await db.bulkOperation.updateMany({
      where: {
        id,
        status: "running",
        OR: [{ owner: this.owner }, { heartbeatAt: { lt: new Date(Date.now() - BULK_STALE_MS) } }],
      },
      data: { owner: this.owner, heartbeatAt: new Date() },
    });
    if (claimed.count === 0) return;
    // The filter is the operation's and never changes: parsed once per drive, not per batch.
    let filter: AdminJobFilter | undefined;
    for (;;) {
      const op = await db.bulkOperation.findUniqueOrThrow({ where: { id } });
      if (op.status !== "running" || op.owner !== this.owner) return;
      filter ??= toAdminJobFilter(AdminJobFilterSchema.parse(op.filter));
      const ids = await listAdminJobIds(db, filter, {
        afterId: op.lastId ?? undefined,
        upTo: op.upToId ?? undefined,
        limit: BULK_BATCH,
      });
      if (ids.length === 0) {
        // Jobs that matched at the start but no longer do (another action moved them) were skipped.
        await db.bulkOperation.updateMany({
          where: { id, owner: this.owner },
          data: {
            status: "succeeded",
            skipped: op.skipped + Math.max(0, op.total - op.processed),
            processed: Math.max(op.total, op.processed),
            finishedAt: new Date(),
          },
        });
        return;
      }
      const counts = { succeeded: 0, skipped: 0, failed: 0 };
      for (const jobId of ids) counts[await this.act(op.action, jobId)]++;
      const written = await db.bulkOperation.updateMany({
        where: { id, owner: this.owner },
        data: {
          lastId: ids.at(-1),
          processed: { increment: ids.length },
          succeeded: { increment: counts.succeeded },
          skipped: { increment: counts.skipped },
          failed: { increment: counts.failed },
          heartbeatAt: new Date(),
        },
      });
      if (written.count === 0) return;
    }
  }

  /** One job: done, skipped (its state no longer allows the action), or failed (anything else). */
  private async act(action: string, jobId: string): Promise<"succeeded" | "skipped" | "failed"> {
    try {
      if (action === "retry") await this.actions.retry(this.log, null, jobId, "admin", null);
      else await this.actions.cancel(this.log, null, jobId, "admin");
      return "succeeded";
    } catch (error) {
      if (error instanceof AppError && error.code === "conflict") return "skipped";
      this.log.warn({ err: error, job_id: jobId }, `bulk ${action} of a job failed`);
      return "failed";
    }
  }
}
