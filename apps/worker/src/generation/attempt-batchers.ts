import { CallBatcher, type Claim, type CompleteInput, claimJobs, completeJobs, type PrismaClient } from "@darkroom/db";
import type { Logger } from "@darkroom/logger";
import type { WorkerConfig } from "../config";

/** At most this many jobs are claimed or finished in one statement. */
const MAX_BATCH = 200;

/** A claim as the processor asks for it: the job, and the models whose circuit is open now. */
export interface ClaimRequest {
  jobId: string;
  circuitOpen: readonly string[];
}

/**
 * The process's claims and completions, each batched across jobs (@darkroom/db call-batcher.ts): one
 * statement, and one commit, for every job claimed or finished meanwhile. Fencing is per row.
 */
export function createAttemptBatchers(deps: {
  db: PrismaClient;
  config: Pick<WorkerConfig, "workerId" | "leaseMs">;
  logger: Logger;
}) {
  const { db, config, logger } = deps;
  const onBatchError = (what: string) => (err: unknown, size: number) =>
    logger.warn({ err, size }, `${what} batch failed: its jobs are retried one by one`);
  const claims = new CallBatcher<ClaimRequest, Claim | null>(
    async (requests) => {
      // Claims that saw the same circuits share a statement (nearly always all of them).
      const groups = new Map<string, ClaimRequest[]>();
      for (const request of requests) {
        const key = [...request.circuitOpen].sort().join(",");
        groups.set(key, [...(groups.get(key) ?? []), request]);
      }
      const claimed = new Map<string, Claim>();
      for (const group of groups.values()) {
        const circuitOpen = group[0]?.circuitOpen ?? [];
        const ids = group.map((r) => r.jobId);
        for (const [id, claim] of await claimJobs(db, ids, {
          leaseOwner: config.workerId,
          leaseMs: config.leaseMs,
          circuitOpen,
        })) {
          claimed.set(id, claim);
        }
      }
      return requests.map((r) => claimed.get(r.jobId) ?? null);
    },
    { keyOf: (r) => r.jobId, maxBatch: MAX_BATCH, onBatchError: onBatchError("claim") },
  );
  const completions = new CallBatcher<CompleteInput, boolean>(
    async (inputs) => {
      const owned = await completeJobs(db, inputs);
      return inputs.map((input) => owned.has(input.jobId));
    },
    { keyOf: (input) => input.jobId, maxBatch: MAX_BATCH, onBatchError: onBatchError("completion") },
  );
  return { claims, completions };
}
