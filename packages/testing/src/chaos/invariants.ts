import type pg from "pg";
import type { ChaosEnvironment } from "./environment";

/** What a scenario's fault was meant to hit, and what it found there when it struck. */
export interface FaultReport {
  /** When the fault happened (milliseconds since the epoch). */
  at: number;
  /**
   * The scenario's jobs `running` in Postgres at the moment of the fault (for a worker kill: those
   * leased by the killed worker); null for a fault not aimed at running work.
   */
  inFlight: number | null;
  /** A worker was stopped: its attempts must end `interrupted`. */
  stoppedWorker: boolean;
  /** The fault is the webhook receiver: some deliveries must have been refused. */
  hitsDeliveries: boolean;
}

/** The invariants of one scenario, read from Postgres and from what the webhook receiver got. */
export interface ScenarioResult {
  scenario: string;
  jobs: number;
  succeeded: number;
  /** Failed with an error code the scenario declares it expects. */
  failedExpected: number;
  /** Failed with any other code: each of these is also counted as lost. */
  failedUnexpected: number;
  /**
   * Jobs that did not succeed (unless they failed with an expected code), that ended past their
   * deadline or not at all, and accepted submissions with no row in Postgres.
   */
  lost: number;
  /**
   * Jobs with more than one terminal event, more images than requested, a terminal event delivered
   * under more than one `webhook-id`, or one `webhook-id` whose deliveries differ in body.
   */
  duplicated: number;
  /** See {@link FaultReport.inFlight}; for a merged row, the smallest of its rounds. */
  inFlightAtFault: number | null;
  /** The scenario's attempts that ended `interrupted` (a worker stopped during them). */
  interrupted: number;
  stoppedWorker: boolean;
  hitsDeliveries: boolean;
  /** Receiver requests for the scenario's jobs answered with anything but a 2xx, or dropped. */
  refusedDeliveries: number;
  /** Jobs whose terminal event the receiver answered 2xx at least once, with the right body. */
  webhooksDelivered: number;
  /** Jobs subscribed to their terminal event (every job with a webhook_url). */
  webhooksExpected: number;
  /** From the fault to the last of the scenario's jobs reaching its terminal state. */
  recoveryMs: number | null;
}

interface JobRow {
  id: string;
  status: string;
  n: number;
  errorCode: string | null;
  finishedAt: Date | null;
  deadlineAt: Date;
  webhookUrl: string | null;
  submission: string | null;
}

interface TerminalEvent {
  id: string;
  jobId: string;
  type: string;
}

const TERMINAL_EVENTS = ["job.succeeded", "job.failed", "job.canceled"];

async function readJobs(db: pg.Pool, scenario: string): Promise<JobRow[]> {
  return (
    await db.query<JobRow>(
      `SELECT id, status, n, "errorCode", "finishedAt", "deadlineAt", "webhookUrl", metadata->>'submission' AS submission
       FROM "Job" WHERE metadata->>'chaos' = $1`,
      [scenario],
    )
  ).rows;
}

async function readTerminalEvents(db: pg.Pool, ids: string[]): Promise<TerminalEvent[]> {
  return (
    await db.query<TerminalEvent>(
      `SELECT id, "jobId", type FROM "JobEvent" WHERE "jobId" = ANY($1) AND type = ANY($2) ORDER BY seq`,
      [ids, TERMINAL_EVENTS],
    )
  ).rows;
}

const ok = (status: number | null) => status !== null && status >= 200 && status < 300;

/** The body's `{type, data: {id}}`, or null when it is not a job event body. */
function parseBody(body: string): { type: string; jobId: string; status: string } | null {
  try {
    const parsed = JSON.parse(body) as { type?: unknown; data?: { id?: unknown; status?: unknown } };
    if (typeof parsed.type !== "string" || typeof parsed.data?.id !== "string") return null;
    return { type: parsed.type, jobId: parsed.data.id, status: String(parsed.data.status) };
  } catch {
    return null;
  }
}

/** Whether the receiver got a 2xx-answered delivery of the job's terminal event, with a body that fits it. */
function deliveredTerminal(env: ChaosEnvironment, job: JobRow, event: TerminalEvent): boolean {
  return env.receiver.received.some((r) => {
    if (r.webhookId !== event.id || !ok(r.answered)) return false;
    const body = parseBody(r.body);
    return body !== null && body.type === event.type && body.jobId === job.id && body.status === job.status;
  });
}

/**
 * Reads the record in Postgres and the webhook receiver's log, and checks every invariant for the
 * jobs of one scenario.
 */
export async function checkScenario(
  env: ChaosEnvironment,
  scenario: string,
  fault: FaultReport,
  expectedFailures: readonly string[],
): Promise<ScenarioResult> {
  const db = env.db;
  const jobs = await readJobs(db, scenario);
  const ids = jobs.map((j) => j.id);
  const events = await readTerminalEvents(db, ids);
  const images = new Map(
    (
      await db.query<{ jobId: string; count: string }>(
        `SELECT "jobId", count(*) FROM "Image" WHERE "jobId" = ANY($1) GROUP BY "jobId"`,
        [ids],
      )
    ).rows.map((r) => [r.jobId, Number(r.count)]),
  );
  // An event has one stored body (its key), so a retry can only send another version of it when an
  // attempt went out without storing the body first.
  const mixedBodies = Number(
    (
      await db.query<{ count: string }>(
        `SELECT count(DISTINCT d."eventId") FROM "WebhookDelivery" d
         LEFT JOIN "WebhookEventBody" b ON b."eventId" = d."eventId"
         WHERE d."jobId" = ANY($1) AND d."sentAt" IS NOT NULL AND b."eventId" IS NULL`,
        [ids],
      )
    ).rows[0]?.count ?? 0,
  );
  const interrupted = Number(
    (
      await db.query<{ count: string }>(
        `SELECT count(*) FROM "JobAttempt" WHERE "jobId" = ANY($1) AND status = 'interrupted'`,
        [ids],
      )
    ).rows[0]?.count ?? 0,
  );

  const idSet = new Set(ids);
  const received = env.receiver.received
    .map((r) => ({ ...r, parsed: parseBody(r.body) }))
    .filter((r) => r.parsed !== null && idSet.has(r.parsed.jobId));
  // One webhook-id, one body: a receiver de-duplicating by webhook-id must never see two versions.
  const bodiesById = new Map<string, Set<string>>();
  for (const r of received) bodiesById.set(r.webhookId, (bodiesById.get(r.webhookId) ?? new Set()).add(r.body));

  const tokens = new Set(jobs.map((j) => j.submission));
  const missing = (env.submissions.get(scenario) ?? []).filter((s) => !tokens.has(s.token)).length;
  let lost = missing;
  let duplicated = mixedBodies + [...bodiesById.values()].filter((bodies) => bodies.size > 1).length;
  let failedExpected = 0;
  let webhooksDelivered = 0;
  let lastFinish = 0;
  for (const job of jobs) {
    const expectedFailure = job.status === "failed" && expectedFailures.includes(job.errorCode ?? "");
    if (expectedFailure) failedExpected++;
    const ended = job.finishedAt !== null && job.finishedAt <= job.deadlineAt;
    if (!ended || !(job.status === "succeeded" || expectedFailure)) lost++;
    const terminal = events.filter((e) => e.jobId === job.id);
    const terminalIds = new Set(
      received
        .filter((r) => r.parsed?.jobId === job.id && TERMINAL_EVENTS.includes(r.parsed.type))
        .map((r) => r.webhookId),
    );
    if (terminal.length > 1 || terminalIds.size > 1 || (images.get(job.id) ?? 0) > job.n) duplicated++;
    const event = terminal[0];
    if (job.webhookUrl !== null && event !== undefined && deliveredTerminal(env, job, event)) webhooksDelivered++;
    if (job.finishedAt !== null) lastFinish = Math.max(lastFinish, job.finishedAt.getTime());
  }
  const failed = jobs.filter((j) => j.status === "failed").length;
  return {
    scenario,
    jobs: jobs.length,
    succeeded: jobs.filter((j) => j.status === "succeeded").length,
    failedExpected,
    failedUnexpected: failed - failedExpected,
    lost,
    duplicated,
    inFlightAtFault: fault.inFlight,
    interrupted,
    stoppedWorker: fault.stoppedWorker,
    hitsDeliveries: fault.hitsDeliveries,
    refusedDeliveries: received.filter((r) => !ok(r.answered)).length,
    webhooksDelivered,
    webhooksExpected: jobs.filter((j) => j.webhookUrl !== null).length,
    recoveryMs: lost === 0 && lastFinish > 0 ? Math.max(0, lastFinish - fault.at) : null,
  };
}

/**
 * Everything wrong with the results, one line per broken invariant (empty when the run is clean):
 * jobs lost or duplicated, a fault that hit no work in flight, a webhook not delivered.
 */
export function findViolations(results: ScenarioResult[]): string[] {
  const problems: string[] = [];
  for (const r of results) {
    const bad = (what: string) => problems.push(`${r.scenario}: ${what}`);
    if (r.jobs === 0) bad("accepted no job");
    if (r.lost > 0) bad(`${r.lost} lost (${r.failedUnexpected} failed unexpectedly)`);
    if (r.duplicated > 0) bad(`${r.duplicated} duplicated`);
    if (r.inFlightAtFault !== null && r.inFlightAtFault <= 0) bad("the fault hit no running job");
    if (r.stoppedWorker && r.interrupted === 0) bad("the stopped worker interrupted no attempt");
    if (r.hitsDeliveries && r.refusedDeliveries === 0) bad("the receiver refused no delivery");
    if (r.webhooksDelivered < r.webhooksExpected) {
      bad(`${r.webhooksExpected - r.webhooksDelivered} of ${r.webhooksExpected} terminal webhooks not delivered`);
    }
  }
  return problems;
}

async function poll(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // Postgres restarting
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until every job of the scenario is terminal (or the timeout: the check then counts it lost). */
export async function waitForScenario(db: pg.Pool, scenario: string, timeoutMs: number): Promise<void> {
  await poll(async () => {
    const { rows } = await db.query<{ open: string }>(
      `SELECT count(*) AS open FROM "Job" WHERE metadata->>'chaos' = $1 AND status NOT IN ('succeeded','failed','canceled')`,
      [scenario],
    );
    return Number(rows[0]?.open ?? 1) === 0;
  }, timeoutMs);
}

/**
 * Waits until the terminal event of every job of the scenario is settled: the receiver answered it
 * 2xx, or Postgres holds no pending delivery of it any more (so none is coming: the check then counts
 * it undelivered). The timeout bounds a delivery that stays pending.
 */
export async function waitForDeliveries(env: ChaosEnvironment, scenario: string, timeoutMs: number): Promise<void> {
  await poll(async () => {
    const jobs = (await readJobs(env.db, scenario)).filter((j) => j.webhookUrl !== null);
    const events = await readTerminalEvents(
      env.db,
      jobs.map((j) => j.id),
    );
    const { rows } = await env.db.query<{ eventId: string }>(
      `SELECT DISTINCT "eventId" FROM "WebhookDelivery" WHERE "eventId" = ANY($1) AND status = 'pending'`,
      [events.map((e) => e.id)],
    );
    const pending = new Set(rows.map((r) => r.eventId));
    return jobs.every((job) => {
      const event = events.find((e) => e.jobId === job.id);
      return event !== undefined && (deliveredTerminal(env, job, event) || !pending.has(event.id));
    });
  }, timeoutMs);
}

/** The results as a Markdown table, as docs/reliability.md shows them. */
export function formatTable(results: ScenarioResult[]): string {
  const header = [
    "scenario",
    "jobs",
    "succeeded",
    "failed (expected/unexpected)",
    "lost",
    "duplicated",
    "in flight at fault",
    "interrupted",
    "webhooks delivered/expected",
    "recovery time",
  ];
  const rows = results.map((r) => [
    r.scenario,
    String(r.jobs),
    String(r.succeeded),
    `${r.failedExpected}/${r.failedUnexpected}`,
    String(r.lost),
    String(r.duplicated),
    r.inFlightAtFault === null ? "-" : String(r.inFlightAtFault),
    String(r.interrupted),
    `${r.webhooksDelivered}/${r.webhooksExpected}`,
    r.recoveryMs === null ? "-" : `${(r.recoveryMs / 1000).toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
