import type { RunningProcess } from "../processes";
import { ChaosEnvironment } from "./environment";
import { checkScenario, type FaultReport, type ScenarioResult, waitForDeliveries, waitForScenario } from "./invariants";

export type ChaosProfile = "short" | "full";

interface Scenario {
  name: string;
  /** Error codes a job of this scenario may legitimately fail with; any other failure is a loss. */
  expectedFailures?: readonly string[];
  /** Submits jobs, breaks something while they are in flight, reports what the fault hit. */
  run(env: ChaosEnvironment): Promise<FaultReport>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The scenario's jobs `running` in Postgres right now, by the worker (`leaseOwner`) holding them. */
async function runningByOwner(env: ChaosEnvironment, scenario: string): Promise<Map<string, number>> {
  const { rows } = await env.db.query<{ owner: string | null; c: string }>(
    `SELECT "leaseOwner" AS owner, count(*) AS c FROM "Job" WHERE metadata->>'chaos' = $1 AND status = 'running' GROUP BY 1`,
    [scenario],
  );
  return new Map(rows.map((r) => [r.owner ?? "", Number(r.c)]));
}

async function countRunning(env: ChaosEnvironment, scenario: string): Promise<number> {
  return [...(await runningByOwner(env, scenario)).values()].reduce((a, b) => a + b, 0);
}

/**
 * Submits `count` jobs whose streams last a few seconds and waits until some are mid-stream; a
 * scenario whose fault would otherwise hit nothing fails here instead of passing vacuously.
 */
async function submitInFlight(env: ChaosEnvironment, scenario: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await env.submit(scenario, "[[sim step_ms=120]]");
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { rows } = await env.db.query<{ c: string }>(
      `SELECT count(*) AS c FROM "Job" WHERE metadata->>'chaos' = $1 AND status = 'running' AND "progressPercent" > 0`,
      [scenario],
    );
    if (Number(rows[0]?.c ?? 0) > 0) return;
    await sleep(100);
  }
  throw new Error(`${scenario}: no job was running mid-stream 30 s after submitting ${count}`);
}

/**
 * The live worker leasing most of the scenario's running jobs now (a worker's `leaseOwner` is
 * `host:pid`), with how many it holds: the one whose death hits work in flight.
 */
async function busiestWorker(
  env: ChaosEnvironment,
  scenario: string,
): Promise<{ worker: RunningProcess; held: number }> {
  const byOwner = await runningByOwner(env, scenario);
  const alive = env.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  const held = (w: RunningProcess) =>
    [...byOwner].filter(([owner]) => owner.endsWith(`:${w.child.pid}`)).reduce((sum, [, c]) => sum + c, 0);
  const worker = alive.sort((a, b) => held(b) - held(a))[0];
  if (worker === undefined) throw new Error("no live worker");
  return { worker, held: held(worker) };
}

async function replaceWorker(env: ChaosEnvironment, worker: RunningProcess, signal: NodeJS.Signals): Promise<void> {
  await worker.stop(signal);
  env.workers.splice(env.workers.indexOf(worker), 1);
  await env.addWorker();
}

/** A fault on the infrastructure the running jobs depend on, counted the moment before it strikes. */
async function strikeRunning(env: ChaosEnvironment, scenario: string, fault: () => Promise<void> | void) {
  const inFlight = await countRunning(env, scenario);
  const at = Date.now();
  await fault();
  return { at, inFlight, stoppedWorker: false, hitsDeliveries: false };
}

function killWorker(name: string, signal: NodeJS.Signals): Scenario {
  return {
    name,
    async run(env) {
      await submitInFlight(env, name, 4);
      const { worker, held } = await busiestWorker(env, name);
      const at = Date.now();
      await replaceWorker(env, worker, signal);
      return { at, inFlight: held, stoppedWorker: true, hitsDeliveries: false };
    },
  };
}

const SCENARIOS: Record<string, Scenario> = {
  flushdb: {
    name: "FLUSHDB",
    async run(env) {
      await submitInFlight(env, this.name, 4);
      return strikeRunning(env, this.name, () => env.redis.flushAll());
    },
  },
  redisDown: {
    name: "Redis down 7 s (> drainDelay), then back",
    async run(env) {
      await submitInFlight(env, this.name, 4);
      return strikeRunning(env, this.name, async () => {
        await env.redis.stop();
        await sleep(7_000);
        await env.redis.start();
      });
    },
  },
  postgresRestart: {
    name: "Postgres restart",
    async run(env) {
      await submitInFlight(env, this.name, 4);
      return strikeRunning(env, this.name, () => env.postgres.restart());
    },
  },
  apiKilled: {
    name: "API killed between commit and enqueue",
    async run(env) {
      const doomed = await env.startApi({ TEST_FAULT: "kill_after_commit" });
      const at = Date.now();
      // The request dies with the API; its job committed and must still be found (by its token).
      await env.submit(this.name, "", { apiUrl: doomed.url, expectNoAnswer: true });
      await doomed.process.stop();
      await env.submit(this.name); // and one more through the healthy API
      return { at, inFlight: null, stoppedWorker: false, hitsDeliveries: false };
    },
  },
  webhookFlap: {
    name: "webhook receiver flapping",
    async run(env) {
      const at = Date.now();
      env.receiver.mode = "flap";
      try {
        await submitInFlight(env, this.name, 4);
        await waitForScenario(env.db, this.name, 90_000);
        await waitForDeliveries(env, this.name, 40_000);
      } finally {
        env.receiver.mode = "up";
      }
      return { at, inFlight: null, stoppedWorker: false, hitsDeliveries: true };
    },
  },
};

/**
 * Runs every scenario with jobs in flight and checks the invariants in Postgres. The short profile
 * (inside `npm test`) kills a worker 2 times; the full one (`npm run chaos`) 20 times.
 */
export async function runChaos(
  profile: ChaosProfile,
  log: (line: string) => void = () => undefined,
): Promise<ScenarioResult[]> {
  const env = new ChaosEnvironment();
  const results: ScenarioResult[] = [];
  try {
    await env.start();
    const kills = profile === "full" ? 20 : 2;
    const plan: Scenario[] = [
      ...Array.from({ length: kills }, (_, i) => killWorker(`kill -9 worker mid-stream #${i + 1}`, "SIGKILL")),
      killWorker("SIGTERM worker mid-stream", "SIGTERM"),
      ...Object.values(SCENARIOS),
    ];
    for (const scenario of plan) {
      log(`running: ${scenario.name}`);
      const fault = await scenario.run(env);
      await waitForScenario(env.db, scenario.name, 90_000);
      // Longer than the chaos WEBHOOK_RETRY_SCHEDULE (about 27 s), so that only a lost delivery times out.
      await waitForDeliveries(env, scenario.name, 40_000);
      results.push(await checkScenario(env, scenario.name, fault, scenario.expectedFailures ?? []));
    }
    return results;
  } finally {
    await env.close();
  }
}

/** Sums the kill -9 rounds into one row, as the table in docs/reliability.md shows them. */
export function summarize(results: ScenarioResult[]): ScenarioResult[] {
  const kills = results.filter((r) => r.scenario.startsWith("kill -9"));
  const first = kills[0];
  if (first === undefined) return results;
  const sum = (field: keyof ScenarioResult) => kills.reduce((s, r) => s + Number(r[field] ?? 0), 0);
  const inFlight = kills.map((r) => r.inFlightAtFault);
  const merged: ScenarioResult = {
    ...first,
    scenario: `kill -9 worker mid-stream (x${kills.length})`,
    jobs: sum("jobs"),
    succeeded: sum("succeeded"),
    failedExpected: sum("failedExpected"),
    failedUnexpected: sum("failedUnexpected"),
    lost: sum("lost"),
    duplicated: sum("duplicated"),
    inFlightAtFault: inFlight.some((n) => n === null) ? null : Math.min(...inFlight.map((n) => n ?? 0)),
    interrupted: sum("interrupted"),
    refusedDeliveries: sum("refusedDeliveries"),
    webhooksDelivered: sum("webhooksDelivered"),
    webhooksExpected: sum("webhooksExpected"),
    recoveryMs: kills.some((r) => r.recoveryMs === null) ? null : Math.max(...kills.map((r) => r.recoveryMs ?? 0)),
  };
  return [merged, ...results.filter((r) => !r.scenario.startsWith("kill -9"))];
}
