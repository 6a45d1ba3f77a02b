import type { RunningProcess } from "../processes";
import { ChaosEnvironment } from "./environment";
import { checkScenario, type ScenarioResult, waitForScenario } from "./invariants";

export type ChaosProfile = "short" | "full";

interface Scenario {
  name: string;
  /** Submits jobs, breaks something while they are in flight, returns when the fault happened. */
  run(env: ChaosEnvironment): Promise<number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Submits `count` jobs whose streams last a few seconds, and waits until some are mid-stream. */
async function submitInFlight(env: ChaosEnvironment, scenario: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await env.submit(scenario, "[[sim step_ms=120]]");
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const { rows } = await env.db.query<{ c: string }>(
      `SELECT count(*) AS c FROM "Job" WHERE metadata->>'chaos' = $1 AND status = 'running' AND "progressPercent" > 0`,
      [scenario],
    );
    if (Number(rows[0]?.c ?? 0) > 0) return;
    await sleep(100);
  }
}

/** The worker holding most jobs right now (by its log lines), so that the fault hits work in flight. */
function busiestWorker(env: ChaosEnvironment): RunningProcess {
  const alive = env.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  const started = (w: RunningProcess) => (w.output().match(/attempt started/g) ?? []).length;
  const pick = alive.sort((a, b) => started(b) - started(a))[0];
  if (pick === undefined) throw new Error("no live worker");
  return pick;
}

async function replaceWorker(env: ChaosEnvironment, worker: RunningProcess, signal: NodeJS.Signals): Promise<void> {
  await worker.stop(signal);
  env.workers.splice(env.workers.indexOf(worker), 1);
  await env.addWorker();
}

function killWorker(name: string, signal: NodeJS.Signals): Scenario {
  return {
    name,
    async run(env) {
      await submitInFlight(env, name, 4);
      const at = Date.now();
      await replaceWorker(env, busiestWorker(env), signal);
      return at;
    },
  };
}

const SCENARIOS: Record<string, Scenario> = {
  flushdb: {
    name: "FLUSHDB",
    async run(env) {
      await submitInFlight(env, "FLUSHDB", 4);
      const at = Date.now();
      env.redis.flushAll();
      return at;
    },
  },
  redisDown: {
    name: "Redis down 7 s (> drainDelay), then back",
    async run(env) {
      await submitInFlight(env, this.name, 4);
      const at = Date.now();
      await env.redis.stop();
      await sleep(7_000);
      await env.redis.start();
      return at;
    },
  },
  postgresRestart: {
    name: "Postgres restart",
    async run(env) {
      await submitInFlight(env, this.name, 4);
      const at = Date.now();
      env.postgres.restart();
      return at;
    },
  },
  apiKilled: {
    name: "API killed between commit and enqueue",
    async run(env) {
      const doomed = await env.startApi({ TEST_FAULT: "kill_after_commit" });
      const at = Date.now();
      const answered = await env.submit(this.name, "", doomed.url);
      if (answered !== null) throw new Error("the fault hook did not fire");
      await doomed.process.stop();
      await env.submit(this.name); // and one more through the healthy API
      return at;
    },
  },
  webhookFlap: {
    name: "webhook receiver flapping",
    async run(env) {
      const at = Date.now();
      const modes = ["error", "down", "up"] as const;
      let i = 0;
      const timer = setInterval(() => {
        env.receiver.mode = modes[i++ % modes.length] ?? "up";
      }, 300);
      await submitInFlight(env, this.name, 4);
      await waitForScenario(env.db, this.name, 60_000);
      await sleep(3_000);
      clearInterval(timer);
      env.receiver.mode = "up";
      return at;
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
      const faultAt = await scenario.run(env);
      await waitForScenario(env.db, scenario.name, 90_000);
      results.push(await checkScenario(env.db, scenario.name, faultAt));
    }
    return results;
  } finally {
    await env.close();
  }
}

/** Sums the kill -9 rounds into one row, as the table in docs/reliability.md shows them. */
export function summarize(results: ScenarioResult[]): ScenarioResult[] {
  const kills = results.filter((r) => r.scenario.startsWith("kill -9"));
  if (kills.length === 0) return results;
  const merged: ScenarioResult = {
    scenario: `kill -9 worker mid-stream (x${kills.length})`,
    jobs: kills.reduce((s, r) => s + r.jobs, 0),
    succeeded: kills.reduce((s, r) => s + r.succeeded, 0),
    failed: kills.reduce((s, r) => s + r.failed, 0),
    lost: kills.reduce((s, r) => s + r.lost, 0),
    duplicated: kills.reduce((s, r) => s + r.duplicated, 0),
    recoveryMs: kills.some((r) => r.recoveryMs === null) ? null : Math.max(...kills.map((r) => r.recoveryMs ?? 0)),
  };
  return [merged, ...results.filter((r) => !r.scenario.startsWith("kill -9"))];
}
