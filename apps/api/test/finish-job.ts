import { claimJob, completeJob, failAttempt, type PrismaClient } from "@darkroom/db";
import { imagesCostMicroUsd, type ModelPrices } from "@darkroom/domain";

/**
 * The worker's part, for harnesses that run no worker, through the db calls a worker makes: claim
 * the job, then store its `n` images (`succeeded`, with `usage` as the upstream reported it and the
 * cost at `prices`) or fail it for good.
 */
export async function finishJob(
  db: PrismaClient,
  jobId: string,
  outcome: "succeeded" | "failed",
  prices: ModelPrices,
  usage: unknown = { total_tokens: 100 },
): Promise<void> {
  const claim = await claimJob(db, { jobId, leaseOwner: "test", leaseMs: 60_000 });
  if (claim === null) throw new Error(`job ${jobId} was not claimable`);
  const { job, attempt, model } = claim;
  const owned =
    outcome === "succeeded"
      ? await completeJob(db, {
          jobId,
          attempt,
          model,
          images: Array.from({ length: job.n }, (_, index) => ({
            index,
            storageKey: `test/${jobId}/${index}`,
            contentType: "image/png",
            bytes: 1,
            sha256: "0".repeat(64),
            width: null,
            height: null,
            sourceUrl: null,
          })),
          usage,
          costMicroUsd: imagesCostMicroUsd(prices, model, job.n),
          facts: {},
        })
      : await failAttempt(db, {
          jobId,
          attempt,
          error: { code: "bad_request", message: "refused upstream", retryable: false, errorClass: "bad_request" },
          facts: {},
          retryAt: null,
        });
  if (!owned) throw new Error(`job ${jobId} was not finished`);
}
