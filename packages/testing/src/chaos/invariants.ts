import type pg from "pg";

export interface ScenarioResult {
  scenario: string;
  jobs: number;
  succeeded: number;
  failed: number;
  /** Accepted jobs without a terminal state by the end, or that ended past their deadline. */
  lost: number;
  /** Jobs with more than one terminal event or more images than requested, or events whose deliveries differ in body. */
  duplicated: number;
  /** From the fault to the last of the scenario's jobs reaching its terminal state. */
  recoveryMs: number | null;
}

const TERMINAL = ["succeeded", "failed", "canceled"];

/** Reads the record in Postgres and checks every invariant for the jobs of one scenario. */
export async function checkScenario(db: pg.Pool, scenario: string, faultAt: number): Promise<ScenarioResult> {
  const jobs = (
    await db.query<{ id: string; status: string; n: number; finishedAt: Date | null; deadlineAt: Date }>(
      `SELECT id, status, n, "finishedAt", "deadlineAt" FROM "Job" WHERE metadata->>'chaos' = $1`,
      [scenario],
    )
  ).rows;
  const ids = jobs.map((j) => j.id);
  const terminalEvents = new Map(
    (
      await db.query<{ jobId: string; count: string }>(
        `SELECT "jobId", count(*) FROM "JobEvent" WHERE "jobId" = ANY($1) AND type IN ('job.succeeded','job.failed','job.canceled') GROUP BY "jobId"`,
        [ids],
      )
    ).rows.map((r) => [r.jobId, Number(r.count)]),
  );
  const images = new Map(
    (
      await db.query<{ jobId: string; count: string }>(
        `SELECT "jobId", count(*) FROM "Image" WHERE "jobId" = ANY($1) GROUP BY "jobId"`,
        [ids],
      )
    ).rows.map((r) => [r.jobId, Number(r.count)]),
  );
  const mixedBodies = Number(
    (
      await db.query<{ count: string }>(
        `SELECT count(*) FROM (SELECT "eventId" FROM "WebhookDelivery" WHERE "jobId" = ANY($1) AND "requestBody" IS NOT NULL
         GROUP BY "eventId" HAVING count(DISTINCT "requestBody") > 1) x`,
        [ids],
      )
    ).rows[0]?.count ?? 0,
  );
  let lost = 0;
  let duplicated = mixedBodies;
  let lastFinish = 0;
  for (const job of jobs) {
    const terminal = TERMINAL.includes(job.status) && job.finishedAt !== null;
    if (!terminal || (job.finishedAt !== null && job.finishedAt > job.deadlineAt)) lost++;
    if ((terminalEvents.get(job.id) ?? 0) > 1 || (images.get(job.id) ?? 0) > job.n) duplicated++;
    if (job.finishedAt !== null) lastFinish = Math.max(lastFinish, job.finishedAt.getTime());
  }
  return {
    scenario,
    jobs: jobs.length,
    succeeded: jobs.filter((j) => j.status === "succeeded").length,
    failed: jobs.filter((j) => j.status === "failed").length,
    lost,
    duplicated,
    recoveryMs: lost === 0 && lastFinish > 0 ? Math.max(0, lastFinish - faultAt) : null,
  };
}

/** Waits until every job of the scenario is terminal (or the timeout). */
export async function waitForScenario(db: pg.Pool, scenario: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const { rows } = await db.query<{ open: string }>(
        `SELECT count(*) AS open FROM "Job" WHERE metadata->>'chaos' = $1 AND status NOT IN ('succeeded','failed','canceled')`,
        [scenario],
      );
      if (Number(rows[0]?.open ?? 1) === 0) return;
    } catch {
      // Postgres restarting
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function formatTable(results: ScenarioResult[]): string {
  const header = ["scenario", "jobs", "succeeded", "failed", "lost", "duplicated", "recovery time"];
  const rows = results.map((r) => [
    r.scenario,
    String(r.jobs),
    String(r.succeeded),
    String(r.failed),
    String(r.lost),
    String(r.duplicated),
    r.recoveryMs === null ? "-" : `${(r.recoveryMs / 1000).toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
