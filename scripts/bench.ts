// npm run bench: capacity of the whole system on this machine, beside bare baselines in the same
// run (issue 10). Darkroom runs from the built bundles (dist/); the upstream is a stand-in of its
// own process that costs next to nothing (scripts/bench/upstream.ts). Every scenario runs
// `--runs` times; the table gives median and spread. Results go to bench/results/latest.json and
// the generated part of docs/performance.md. Uses the local Postgres and Redis with databases and a
// queue prefix of its own, removed at the end, also on failure.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { nodeFlagsOf, parseEnv } from "@darkroom/config";
import { isTerminal, JOB_STATUSES, TERMINAL_STATUSES } from "@darkroom/domain";
import {
  bundleDir,
  createTestDatabase,
  createTestRedis,
  deleteRunKeys,
  dropRunDatabases,
  newTestRunId,
  prepareTemplateDatabase,
  REPO_ROOT,
  readSse,
  TEST_RUN_ENV,
  type TestDatabase,
  type TestRedis,
} from "@darkroom/testing";
import autocannon from "autocannon";
import pg from "pg";
import { probeFileCreation } from "./bench/fs-probe";
import { CpuTimeline, cpuSnapshot, type NodeProcess, rssKb, startNode } from "./bench/proc";
import {
  type BenchResult,
  type CannonFigures,
  evaluateGoals,
  machineAndCommit,
  renderDoc,
  renderTable,
  writeDoc,
} from "./bench/report";
import { over, percentile, type Spread, type SteadyWindow, spread, steadyWindow } from "./bench/stats";
import { monotonicMs, preciseNow } from "./bench/time";

const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    scenarios: { type: "string", default: "submit,drain,inflight,latency" },
    connections: { type: "string", default: "50" },
    "submit-seconds": { type: "string", default: "10" },
    /** A fixed number of requests per run instead of a duration. */
    submits: { type: "string" },
    "drain-jobs": { type: "string", default: "10000" },
    "drain-concurrency": { type: "string", default: "50" },
    /**
     * API_PROCESSES of Darkroom's API. 1: on this 2-core machine 2 processes made no more requests
     * per second than one, at a higher p99 (docs/performance.md, "Tried and not kept").
     */
    "api-processes": { type: "string", default: "1" },
    streams: { type: "string", default: "5000" },
    "stream-seconds": { type: "string", default: "60" },
    "latency-jobs": { type: "string", default: "1000" },
    "latency-clients": { type: "string", default: "100" },
    "latency-steps": { type: "string", default: "10" },
    "latency-step-ms": { type: "string", default: "1000" },
    json: { type: "string", default: path.join(REPO_ROOT, "bench", "results", "latest.json") },
    doc: { type: "string", default: path.join(REPO_ROOT, "docs", "performance.md") },
    /** Writes a V8 CPU profile of every Darkroom process into this folder (node --cpu-prof). */
    "cpu-prof": { type: "string" },
    /** Writes what every Darkroom process allocated (freed objects included) into this folder. */
    "alloc-prof": { type: "string" },
  },
});
const num = (name: keyof typeof flags): number => {
  const value = Number(flags[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number, got ${flags[name]}`);
  return value;
};
const RUNS = Math.max(1, num("runs"));
const SCENARIOS = new Set((flags.scenarios ?? "").split(",").map((s) => s.trim()));
const ADMIN_TOKEN = "bench-admin-token-0123456789";
/** The statuses a job can still leave: what the drain waits on. */
const UNFINISHED = JOB_STATUSES.filter((status) => !isTerminal(status));

// The bench is a run of its own, even when started by the test suite: its cleanup drops every
// database and key of its run id, never the suite's.
const RUN_ID = newTestRunId();
process.env[TEST_RUN_ENV] = RUN_ID;

const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = new Set<NodeProcess>();
/** Image folders of the systems, removed by the cleanup whatever happens. */
const storageDirs = new Set<string>();
let logDir = "";

function track(proc: NodeProcess): NodeProcess {
  if (cleaning !== null) {
    // Interrupted meanwhile: nothing new may outlive the cleanup.
    void proc.stop();
    throw new Error("the bench is stopping");
  }
  running.add(proc);
  proc.child.on("exit", () => running.delete(proc));
  return proc;
}

/** Darkroom's bundle `dist/<file>` (the suite's own build under `npm test`). */
function startBundle(name: string, file: string, env: Record<string, string>): NodeProcess {
  // A folder per process and profile: a CPU profile is written per thread (the storage's writer
  // thread too), under Node's default name, which holds the thread's id.
  const folder = `${name}-${Date.now()}`;
  const profile: string[] = [];
  const profileEnv: Record<string, string> = {};
  if (flags["cpu-prof"] !== undefined) {
    profile.push("--cpu-prof", `--cpu-prof-dir=${path.join(path.resolve(flags["cpu-prof"]), folder)}`);
  }
  if (flags["alloc-prof"] !== undefined) {
    profile.push("--import", path.join(REPO_ROOT, "scripts", "bench", "alloc-prof.mjs"));
    profileEnv.BENCH_ALLOC_PROF_DIR = path.join(path.resolve(flags["alloc-prof"]), folder);
  }
  // Each bundle runs with the flags it runs with in production (packages/config/src/node-flags.ts).
  return track(
    startNode(
      name,
      [...profile, ...nodeFlagsOf(file), path.join(bundleDir(), file)],
      { ...env, ...profileEnv },
      logDir,
    ),
  );
}

function startScript(name: string, file: string, env: Record<string, string>): NodeProcess {
  return track(startNode(name, ["--import", "tsx", path.join(REPO_ROOT, "scripts", "bench", file)], env, logDir));
}

// ---------------------------------------------------------------------------------------------
// The system under test: one API process on a database and queue prefix of its own.

interface System {
  db: TestDatabase;
  redis: TestRedis;
  sql: pg.Pool;
  env: Record<string, string>;
  /** STORAGE_DIR: where the worker stores images. */
  storage: string;
  api: NodeProcess;
  apiUrl: string;
  stop(): Promise<void>;
}

let upstream: NodeProcess;
let upstreamUrl = "";

async function startSystem(label: string, extra: Record<string, string> = {}): Promise<System> {
  const db = await createTestDatabase(`bench${label}`);
  const redis = createTestRedis(`bench-${label}`);
  const storage = await mkdtemp(path.join(tmpdir(), "darkroom-bench-images-"));
  storageDirs.add(storage);
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    PORT: "0",
    ADMIN_TOKEN,
    // The bench runs its processes with NODE_ENV=production, where signed image URLs need a key of their own.
    IMAGE_URL_SECRET: "bench-image-url-secret-0123456789",
    STORAGE_DIR: storage,
    COMETAPI_BASE_URL: upstreamUrl,
    COMETAPI_KEY: "sk-bench-upstream-key",
    IMAGE_HOST_ALLOWLIST: new URL(upstreamUrl).host,
    // The local upstream serves its images over plain http on a loopback address.
    ALLOW_PRIVATE_IMAGE_URLS: "true",
    // One tenant makes all the load: its per-minute request limit must not be what is measured.
    TENANT_DEFAULT_RATE_LIMIT_PER_MINUTE: "1000000",
    MAX_STREAMS_PER_KEY: "1000000",
    LOG_LEVEL: "info",
    API_PROCESSES: String(num("api-processes")),
    ...extra,
  };
  const api = startBundle(`api-${label}`, "api.js", env);
  const [, port] = await api.waitFor(/"url":"http:\/\/127\.0\.0\.1:(\d+)".*"msg":"api listening"/);
  const sql = new pg.Pool({ connectionString: db.url, max: 2 });
  return {
    db,
    redis,
    sql,
    env,
    storage,
    api,
    apiUrl: `http://127.0.0.1:${port}`,
    async stop() {
      await api.stop();
      await sql.end();
      await db.drop();
      await redis.cleanup();
      await rm(storage, { recursive: true, force: true });
    },
  };
}

async function startWorker(system: System, label: string, extra: Record<string, string>): Promise<NodeProcess> {
  const worker = startBundle(`worker-${label}`, "worker.js", { ...system.env, ...extra });
  await worker.waitFor(/worker ready/);
  return worker;
}

/** A new tenant (and its key): each run's jobs are found by their tenant. */
async function newTenant(system: System): Promise<{ key: string; tenantId: string }> {
  const res = await fetch(`${system.apiUrl}/admin/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench" }),
  });
  if (res.status !== 201) throw new Error(`key creation answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { api_key: string; tenant_id: string };
  return { key: body.api_key, tenantId: body.tenant_id };
}

/** Creates `count` jobs, 20 requests at a time; `prompt(i)` gives each one's prompt. */
async function submitJobs(
  system: System,
  key: string,
  count: number,
  prompt: (i: number) => string,
  onCreated?: (i: number, id: string) => void,
) {
  const ids: string[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(20, count) }, async () => {
      while (next < count) {
        const i = next++;
        const res = await fetch(`${system.apiUrl}/v1/jobs`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ prompt: prompt(i) }),
        });
        if (res.status !== 202) throw new Error(`POST /v1/jobs answered ${res.status}: ${await res.text()}`);
        ids[i] = ((await res.json()) as { id: string }).id;
        onCreated?.(i, ids[i]);
      }
    }),
  );
  return ids;
}

async function countByStatus(system: System, tenantId: string): Promise<Record<string, number>> {
  const { rows } = await system.sql.query<{ status: string; n: string }>(
    `SELECT status::text AS status, count(*) AS n FROM "Job" WHERE "tenantId" = $1 GROUP BY status`,
    [tenantId],
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * Waits until all `count` jobs of the tenant have ended. The poll is the bench's, not Darkroom's,
 * yet it runs on Darkroom's Postgres while the drain is measured: it counts only the jobs not yet
 * ended (through the `(tenantId, status, id)` index), twice a second. Counting every job of the
 * tenant by status four times a second was about three quarters of the rows Postgres fetched per
 * drained job (32 of 43, `pg_stat_database.tup_fetched`), where the naive pipelines count in
 * process and are not polled at all.
 */
async function waitTerminal(system: System, tenantId: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await system.sql.query<{ n: string }>(
      `SELECT count(*) AS n FROM "Job" WHERE "tenantId" = $1 AND status = ANY($2::"JobStatus"[])`,
      [tenantId, UNFINISHED],
    );
    if (Number(rows[0]?.n ?? 0) === 0) {
      const counts = await countByStatus(system, tenantId);
      const done = TERMINAL_STATUSES.reduce((sum, s) => sum + (counts[s] ?? 0), 0);
      if (done >= count) return;
      throw new Error(`only ${done} of ${count} jobs exist, none left to run: ${JSON.stringify(counts)}`);
    }
    if (Date.now() > deadline) {
      const counts = await countByStatus(system, tenantId);
      throw new Error(`not all of ${count} jobs ended in time: ${JSON.stringify(counts)}`);
    }
    await sleep(500);
  }
}

async function failures(system: System, tenantId: string): Promise<{ count: number; codes: Record<string, number> }> {
  const { rows } = await system.sql.query<{ code: string; n: string }>(
    `SELECT coalesce("errorCode", status::text) AS code, count(*) AS n FROM "Job"
     WHERE "tenantId" = $1 AND status <> 'succeeded' GROUP BY 1`,
    [tenantId],
  );
  const codes = Object.fromEntries(rows.map((r) => [r.code, Number(r.n)]));
  return { count: Object.values(codes).reduce((a, b) => a + b, 0), codes };
}

const POSTGRES = { name: "postgres" } as const;
const REDIS = { name: "redis-server" } as const;

/** The largest WORKER_CONCURRENCY the configuration accepts, up to `wanted`. */
function acceptedConcurrency(wanted: number, env: Record<string, string>): number {
  const accepts = (n: number) => {
    try {
      parseEnv({ ...env, WORKER_CONCURRENCY: String(n) });
      return true;
    } catch {
      return false;
    }
  };
  if (accepts(wanted)) return wanted;
  let low = 1;
  let high = wanted;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (accepts(mid)) low = mid;
    else high = mid;
  }
  return low;
}

// ---------------------------------------------------------------------------------------------
// 1. submit

async function cannon(url: string, headers: Record<string, string>): Promise<CannonFigures> {
  const options: autocannon.Options = {
    url,
    method: "POST",
    connections: num("connections"),
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ prompt: "a lighthouse at dusk, oil on canvas" }),
  };
  if (flags.submits !== undefined) options.amount = num("submits");
  else options.duration = num("submit-seconds");
  const result = await autocannon(options);
  const ok = result["2xx"];
  return {
    rps: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: ok,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function submitScenario(system: System) {
  const baseline = startScript("baseline", "baseline.ts", {
    DATABASE_URL: system.db.url,
    REDIS_URL: system.redis.url,
    QUEUE_PREFIX: system.redis.prefix,
  });
  try {
    const [, port] = await baseline.waitFor(/baseline listening on port (\d+)/);
    const baselineUrl = `http://127.0.0.1:${port}/v1/jobs`;
    const { key, tenantId } = await newTenant(system);
    const auth = { authorization: `Bearer ${key}` };
    const jobsOfTenant = async () => Object.values(await countByStatus(system, tenantId)).reduce((a, b) => a + b, 0);
    // warm-up of both (JIT, pools), not measured
    const warmUp = Math.min(200, flags.submits === undefined ? 200 : num("submits"));
    await autocannon({
      url: `${system.apiUrl}/v1/jobs`,
      method: "POST",
      connections: 10,
      amount: warmUp,
      headers: { ...auth, "content-type": "application/json" },
      body: '{"prompt":"warm-up"}',
    });
    await autocannon({
      url: baselineUrl,
      method: "POST",
      connections: 10,
      amount: warmUp,
      headers: { "content-type": "application/json" },
      body: '{"prompt":"warm-up"}',
    });
    const runs = [];
    for (let run = 0; run < RUNS; run++) {
      const jobsBefore = await jobsOfTenant();
      let snap = cpuSnapshot({ api: { tree: system.api.pid }, postgres: POSTGRES, redis: REDIS });
      const darkroom = await cannon(`${system.apiUrl}/v1/jobs`, auth);
      const dCpu = snap.since();
      // Every 202 is a job in the database (more may be: requests still in flight when autocannon stopped).
      const written = (await jobsOfTenant()) - jobsBefore;
      const lost = Math.max(0, darkroom.requests - written);
      if (lost > 0) log(`submit run ${run + 1}: ${lost} accepted job(s) are not in the database`);
      snap = cpuSnapshot({ baseline: { pid: baseline.pid }, postgres: POSTGRES, redis: REDIS });
      const bare = await cannon(baselineUrl, {});
      const bCpu = snap.since();
      const perReq = (cpu: Record<string, number>, n: number) =>
        Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v / Math.max(1, n)]));
      runs.push({
        darkroom: { ...darkroom, lost },
        baseline: bare,
        ratio: darkroom.rps / bare.rps,
        cpuMsPerRequest: { darkroom: perReq(dCpu, darkroom.requests), baseline: perReq(bCpu, bare.requests) },
      });
      log(
        `submit run ${run + 1}: Darkroom ${darkroom.rps.toFixed(0)}/s p99 ${darkroom.p99} ms, baseline ${bare.rps.toFixed(0)}/s p99 ${bare.p99} ms`,
      );
    }
    return {
      settings: {
        connections: num("connections"),
        ...(flags.submits ? { requests: num("submits") } : { seconds: num("submit-seconds") }),
      },
      runs,
      summary: {
        darkroomRps: over(runs, (r) => r.darkroom.rps),
        darkroomP50: over(runs, (r) => r.darkroom.p50),
        darkroomP99: over(runs, (r) => r.darkroom.p99),
        darkroomErrors: over(runs, (r) => r.darkroom.errors + r.darkroom.non2xx),
        darkroomLost: over(runs, (r) => r.darkroom.lost),
        baselineRps: over(runs, (r) => r.baseline.rps),
        baselineP50: over(runs, (r) => r.baseline.p50),
        baselineP99: over(runs, (r) => r.baseline.p99),
        ratio: over(runs, (r) => r.ratio),
      },
    };
  } finally {
    await baseline.stop();
    await system.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. drain

interface NaiveFigures {
  rate: number;
  /** Jobs/s in the steady part of the drain (stats.ts, steadyWindow). */
  steadyRate: number;
  succeeded: number;
  failed: number;
  errors: string[];
  cpuMsPerJob: Record<string, number>;
  steadyCpu: SteadyCpu;
}

/**
 * Over a drain's steady window: the share of the machine's CPU (all cores) left idle, and the share
 * of one core the pipeline's JavaScript thread used (Darkroom's worker, the naive process). NaN
 * when the window could not be read. A pipeline that leaves the cores idle while its thread is not
 * busy either is bound by the latency of its steps, not by the CPU.
 */
interface SteadyCpu {
  idle: number;
  mainThread: number;
}

const percent = (share: number) => `${(100 * share).toFixed(0)} %`;

function steadyCpu(timeline: CpuTimeline, window: SteadyWindow | null, pid: number | undefined): SteadyCpu {
  // A reading now: the window ended before it, however recently.
  timeline.take();
  const read = window === null ? null : timeline.over(window.from, window.to);
  return {
    idle: read?.idle ?? Number.NaN,
    mainThread: (pid === undefined ? undefined : read?.threads.get(pid)) ?? Number.NaN,
  };
}

/**
 * The naive pipeline with and without its progress writes, each in a process of its own started for
 * it, as Darkroom's worker is for each drain: all three start cold and are read on their steady
 * rate. (Run one after the other in one process, the variant without progress ran 22-38 % faster
 * on the steady rate, warmed by the first variant's 10,000 jobs: see docs/performance.md.)
 */
async function naiveRuns(
  system: System,
  jobs: number,
  timeline: CpuTimeline,
): Promise<{ progress: NaiveFigures; plain: NaiveFigures }> {
  const out: Partial<Record<"progress" | "plain", NaiveFigures>> = {};
  for (const variant of ["progress", "plain"] as const) {
    const naive = startScript("naive", "naive.ts", {
      DATABASE_URL: system.db.url,
      REDIS_URL: system.redis.url,
      QUEUE_PREFIX: system.redis.prefix,
      UPSTREAM_URL: upstreamUrl,
      NAIVE_JOBS: String(jobs),
      NAIVE_CONCURRENCY: flags["drain-concurrency"] ?? "50",
      NAIVE_PROGRESS: variant === "progress" ? "1" : "0",
    });
    try {
      await naive.waitFor(new RegExp(`"phase":"enqueued","variant":"${variant}"`), 300_000);
      await vacuum(system);
      const snap = cpuSnapshot({
        naive: { pid: naive.pid },
        postgres: POSTGRES,
        redis: REDIS,
        upstream: { pid: upstream.pid },
      });
      timeline.watch(naive.pid);
      naive.send("go");
      const [line] = await naive.waitFor(new RegExp(`\\{"phase":"result","variant":"${variant}".*\\}`), 600_000);
      const cpu = snap.since();
      const { steadyWindow: window, ...result } = JSON.parse(line) as Omit<
        NaiveFigures,
        "steadyRate" | "cpuMsPerJob" | "steadyCpu"
      > & { steadyWindow: SteadyWindow | null };
      if (result.failed > 0) log(`naive pipeline (${variant}): ${result.failed} failed: ${result.errors.join("; ")}`);
      out[variant] = {
        ...result,
        steadyRate: window?.rate ?? Number.NaN,
        cpuMsPerJob: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v / jobs])),
        steadyCpu: steadyCpu(timeline, window, naive.pid),
      };
      naive.send("next"); // it empties its queue and exits
    } finally {
      await naive.stop(30_000);
    }
  }
  if (out.progress === undefined || out.plain === undefined) throw new Error("the naive pipeline gave no result");
  return { progress: out.progress, plain: out.plain };
}

/**
 * What autovacuum would have done by now: this machine's Postgres runs with autovacuum off, so
 * each drain would read and write through the dead rows the drains before it left, on statistics
 * that never saw its backlog. Run once a pipeline's backlog is queued, before its drain starts,
 * outside what is measured (docs/performance.md).
 */
async function vacuum(system: System): Promise<void> {
  await system.sql.query("VACUUM ANALYZE");
}

async function drainScenario(system: System) {
  const jobs = num("drain-jobs");
  {
    const runs = [];
    for (let run = 0; run < RUNS; run++) {
      const { key, tenantId } = await newTenant(system);
      await submitJobs(system, key, jobs, (i) => `drain ${run}.${i} [[bench steps=5 step_ms=0]]`);
      await vacuum(system);
      // What a file creation costs right now on the filesystem the images go to (fs-probe.ts).
      const fileCreateUs = probeFileCreation(path.join(system.storage, `probe-${run}`));
      const timeline = new CpuTimeline();
      const worker = await startWorker(system, `drain${run}`, {
        WORKER_CONCURRENCY: flags["drain-concurrency"] ?? "50",
      });
      timeline.watch(worker.pid);
      const snap = cpuSnapshot({
        api: { tree: system.api.pid },
        worker: { pid: worker.pid },
        postgres: POSTGRES,
        redis: REDIS,
        upstream: { pid: upstream.pid },
      });
      let cpu: Record<string, number>;
      try {
        await waitTerminal(system, tenantId, jobs, 600_000);
        cpu = snap.since();
        // Every job has finished: a reading after the steady window, while the worker still runs.
        timeline.take();
      } finally {
        await worker.stop();
      }
      // Each job's start and finish (epoch ms): the whole drain's time and its steady rate.
      const { rows } = await system.sql.query<{ started: number | null; finished: number | null }>(
        `SELECT (EXTRACT(EPOCH FROM "startedAt") * 1000)::float8 AS started,
                (EXTRACT(EPOCH FROM "finishedAt") * 1000)::float8 AS finished
         FROM "Job" WHERE "tenantId" = $1`,
        [tenantId],
      );
      const finishes = rows.flatMap((r) => (r.finished === null ? [] : [r.finished]));
      const starts = rows.flatMap((r) => (r.started === null ? [] : [r.started]));
      const seconds = (Math.max(...finishes) - Math.min(...starts)) / 1000;
      const window = steadyWindow(finishes);
      const steady = window?.rate ?? Number.NaN;
      const failed = await failures(system, tenantId);
      if (failed.count > 0)
        log(`drain run ${run + 1}: ${failed.count} jobs did not succeed: ${JSON.stringify(failed.codes)}`);
      const darkroomCpu = steadyCpu(timeline, window, worker.pid);
      const { progress: naive, plain } = await naiveRuns(system, jobs, timeline).finally(() => timeline.stop());
      const rate = jobs / seconds;
      runs.push({
        darkroom: {
          rate,
          steadyRate: steady,
          seconds,
          succeeded: jobs - failed.count,
          failed: failed.count,
          failureCodes: failed.codes,
          steadyCpu: darkroomCpu,
        },
        fileCreateUs,
        naive: { rate: naive.rate, steadyRate: naive.steadyRate, failed: naive.failed, steadyCpu: naive.steadyCpu },
        naiveNoProgress: {
          rate: plain.rate,
          steadyRate: plain.steadyRate,
          failed: plain.failed,
          steadyCpu: plain.steadyCpu,
        },
        ratioNaive: steady / naive.steadyRate,
        ratioNoProgress: steady / plain.steadyRate,
        cpuMsPerJob: {
          darkroom: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v / jobs])),
          naive: naive.cpuMsPerJob,
          naiveNoProgress: plain.cpuMsPerJob,
        },
      });
      log(
        `drain run ${run + 1}: Darkroom ${steady.toFixed(0)} jobs/s steady, ${rate.toFixed(0)} in all (${failed.count} failed); naive ${naive.steadyRate.toFixed(0)}/s steady, ${naive.rate.toFixed(0)} in all; no progress ${plain.steadyRate.toFixed(0)}/s steady, ${plain.rate.toFixed(0)} in all; creating a file took ${fileCreateUs.toFixed(0)} µs before the run; steady window: machine idle ${percent(darkroomCpu.idle)} (no progress: ${percent(plain.steadyCpu.idle)}), main thread ${percent(darkroomCpu.mainThread)} of a core (no progress: ${percent(plain.steadyCpu.mainThread)})`,
      );
    }
    return {
      settings: { jobs, steps: 5, concurrency: num("drain-concurrency") },
      runs,
      summary: {
        darkroomRate: over(runs, (r) => r.darkroom.steadyRate),
        darkroomRateAll: over(runs, (r) => r.darkroom.rate),
        darkroomFailed: over(runs, (r) => r.darkroom.failed),
        naiveRate: over(runs, (r) => r.naive.steadyRate),
        naiveRateAll: over(runs, (r) => r.naive.rate),
        naiveNoProgressRate: over(runs, (r) => r.naiveNoProgress.steadyRate),
        naiveNoProgressRateAll: over(runs, (r) => r.naiveNoProgress.rate),
        ratioNaive: over(runs, (r) => r.ratioNaive),
        ratioNoProgress: over(runs, (r) => r.ratioNoProgress),
        fileCreateUs: over(runs, (r) => r.fileCreateUs),
        darkroomIdle: over(runs, (r) => 100 * r.darkroom.steadyCpu.idle),
        naiveNoProgressIdle: over(runs, (r) => 100 * r.naiveNoProgress.steadyCpu.idle),
        darkroomMainThread: over(runs, (r) => 100 * r.darkroom.steadyCpu.mainThread),
        naiveNoProgressMainThread: over(runs, (r) => 100 * r.naiveNoProgress.steadyCpu.mainThread),
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// 3. in flight

/** Event-loop lag samples (ms) of the windows written between `from` and `to` (epoch ms). */
async function lagSamples(file: string, from: number, to: number): Promise<number[]> {
  const lags: number[] = [];
  for (const line of (await readFile(file, "utf8")).split("\n")) {
    if (line === "") continue;
    const window = JSON.parse(line) as { at: number; lags: number[] };
    if (window.at > from && window.at <= to + 500) lags.push(...window.lags);
  }
  return lags;
}

async function xactCommit(system: System): Promise<number> {
  const { rows } = await system.sql.query<{ n: string }>(
    "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1",
    [system.db.name],
  );
  return Number(rows[0]?.n ?? 0);
}

interface Sample {
  at: number;
  running: number;
  ended: number;
  rssKb: number;
  commits: number;
}

/**
 * Samples a tenant's jobs every 500 ms until `total` of them ended: how many run, the worker's
 * RSS, the database's commits. `during` runs meanwhile (the submission).
 */
async function sampleJobs(
  system: System,
  tenantId: string,
  total: number,
  worker: NodeProcess,
  timeoutMs: number,
  during: Promise<unknown>,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  const deadline = Date.now() + timeoutMs;
  let failure: unknown = null;
  const submitted = during.catch((error: unknown) => {
    failure = error;
  });
  for (;;) {
    if (failure !== null) throw failure;
    const counts = await countByStatus(system, tenantId);
    const ended = TERMINAL_STATUSES.reduce((sum, s) => sum + (counts[s] ?? 0), 0);
    samples.push({
      at: preciseNow(),
      running: counts.running ?? 0,
      ended,
      rssKb: rssKb(worker.pid),
      commits: await xactCommit(system),
    });
    if (ended >= total) break;
    if (Date.now() > deadline)
      throw new Error(`only ${ended} of ${total} jobs ended in time: ${JSON.stringify(counts)}`);
    await sleep(500);
  }
  await submitted;
  return samples;
}

function commitRate(from: Sample | undefined, to: Sample | undefined): number {
  if (from === undefined || to === undefined || to.at <= from.at) return Number.NaN;
  return (to.commits - from.commits) / ((to.at - from.at) / 1000);
}

/** The plateau: from the first to the last sample with at least 95 % of the most jobs that ever ran at once. */
function plateau(samples: Sample[]): { peak: number; span: Sample[] } {
  const peak = Math.max(...samples.map((s) => s.running));
  const first = samples.findIndex((s) => s.running >= peak * 0.95);
  const last = samples.length - 1 - [...samples].reverse().findIndex((s) => s.running >= peak * 0.95);
  return { peak, span: samples.slice(first, last + 1) };
}

async function inflightScenario(system: System) {
  const wanted = num("streams");
  const seconds = num("stream-seconds");
  const streams = acceptedConcurrency(wanted, system.env);
  if (streams < wanted)
    log(`in flight: WORKER_CONCURRENCY is capped at ${streams} by the configuration (asked ${wanted})`);
  const runs = [];
  for (let run = 0; run < RUNS; run++) {
    const lagFile = path.join(logDir, `loop-lag-${run}.jsonl`);
    const worker = await startWorker(system, `inflight${run}`, {
      WORKER_CONCURRENCY: String(streams),
      NODE_OPTIONS: `--import ${path.join(REPO_ROOT, "scripts", "bench", "loop-lag.mjs")}`,
      BENCH_LOOP_LAG_FILE: lagFile,
    });
    try {
      await sleep(1000);
      const idleKb = rssKb(worker.pid);
      const { key, tenantId } = await newTenant(system);
      const submission = submitJobs(
        system,
        key,
        streams,
        (i) => `stream ${run}.${i} [[bench steps=${seconds} step_ms=1000]]`,
      );
      const samples = await sampleJobs(system, tenantId, streams, worker, (seconds + 300) * 1000, submission);
      const { peak, span } = plateau(samples);
      const from = span[0] ?? samples[0];
      const to = span.at(-1) ?? from;
      const window = from && to ? (to.at - from.at) / 1000 : 0;
      const lags = from && to ? await lagSamples(lagFile, from.at, to.at) : [];
      const plateauKb = percentile(
        span.map((s) => s.rssKb),
        50,
      );
      const { rows } = await system.sql.query<{ d: number }>(
        `SELECT EXTRACT(EPOCH FROM "finishedAt" - "startedAt")::float8 AS d FROM "Job" WHERE "tenantId" = $1 AND status = 'succeeded'`,
        [tenantId],
      );
      const stretch = rows.map((r) => r.d / seconds);
      const failed = await failures(system, tenantId);
      const figures = {
        streams,
        peakRunning: peak,
        idleRssKb: idleKb,
        plateauRssKb: plateauKb,
        peakRssKb: Math.max(...samples.map((s) => s.rssKb)),
        rssKbPerJob: (plateauKb - idleKb) / peak,
        lagSamples: lags.length,
        lagP50Ms: percentile(lags, 50),
        lagP99Ms: percentile(lags, 99),
        lagMaxMs: Math.max(...lags),
        plateauSeconds: window,
        commitsPerSecond: commitRate(from, to),
        commitsPerSecondWholeRun: commitRate(samples[0], samples.at(-1)),
        stretchMedian: percentile(stretch, 50),
        stretchMax: Math.max(...stretch),
        succeeded: rows.length,
        failed: failed.count,
        failureCodes: failed.codes,
      };
      runs.push(figures);
      log(
        `in flight run ${run + 1}: ${streams} streams (at most ${peak} at once, plateau ${window.toFixed(1)} s), ` +
          `${figures.rssKbPerJob.toFixed(0)} KB/job, lag p99 ${figures.lagP99Ms.toFixed(1)} ms, ` +
          `${figures.commitsPerSecond.toFixed(0)} commits/s, stretch median ${figures.stretchMedian.toFixed(2)} max ${figures.stretchMax.toFixed(2)}`,
      );
    } finally {
      await worker.stop();
    }
  }
  return {
    settings: { streams, requested: wanted, seconds, stepMs: 1000 },
    runs,
    summary: {
      streams: over(runs, (r) => r.peakRunning),
      rssKbPerJob: over(runs, (r) => r.rssKbPerJob),
      lagP50Ms: over(runs, (r) => r.lagP50Ms),
      lagP99Ms: over(runs, (r) => r.lagP99Ms),
      commitsPerSecond: over(runs, (r) => r.commitsPerSecond),
      stretchMedian: over(runs, (r) => r.stretchMedian),
      stretchMax: over(runs, (r) => r.stretchMax),
      failed: over(runs, (r) => r.failed),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 4. progress latency

async function latencyScenario(system: System) {
  const wanted = num("latency-jobs");
  const clients = Math.min(num("latency-clients"), wanted);
  const steps = num("latency-steps");
  const stepMs = num("latency-step-ms");
  const concurrency = acceptedConcurrency(wanted, system.env);
  {
    const runs = [];
    for (let run = 0; run < RUNS; run++) {
      const worker = await startWorker(system, `latency${run}`, { WORKER_CONCURRENCY: String(concurrency) });
      try {
        const { key, tenantId } = await newTenant(system);
        const every = Math.max(1, Math.floor(wanted / clients));
        const tags = new Map<number, string>();
        for (let i = 0; i < wanted && tags.size < clients; i += every) tags.set(i, `r${run}j${i}`);
        const received = new Map<string, [number, number][]>();
        const readers: Promise<unknown>[] = [];
        // Each followed job gets its client as soon as it exists.
        const follow = (i: number, id: string) => {
          const tag = tags.get(i);
          if (tag === undefined) return;
          const got: [number, number][] = [];
          const seen = new Set<number>();
          received.set(tag, got);
          readers.push(
            readSse(`${system.apiUrl}/v1/jobs/${id}/events`, {
              headers: { authorization: `Bearer ${key}` },
              timeoutMs: steps * stepMs + 300_000,
              // What the client receives first counts: a progress sent live (no id, before its commit),
              // or the durable event when the live one did not come (a durable one already shown
              // live arrives as an id alone, which dispatches nothing).
              onEvent: (event) => {
                if (event.event !== "job.progress") return;
                const at = monotonicMs();
                const percent = (JSON.parse(event.data) as { data?: { percent?: number } }).data?.percent;
                if (typeof percent !== "number" || seen.has(percent)) return;
                seen.add(percent);
                got.push([percent, at]);
              },
            }),
          );
        };
        const submission = submitJobs(
          system,
          key,
          wanted,
          (i) => {
            const tag = tags.get(i);
            return `latency ${run}.${i} [[bench steps=${steps} step_ms=${stepMs}${tag ? ` tag=${tag}` : ""}]]`;
          },
          follow,
        );
        const samples = await sampleJobs(system, tenantId, wanted, worker, steps * stepMs + 300_000, submission);
        await Promise.all(readers);
        // Only chunks sent while (nearly) every job was in flight count.
        const { peak, span } = plateau(samples);
        const from = span[0]?.at ?? 0;
        const to = span.at(-1)?.at ?? 0;
        const sentRes = await fetch(`${upstreamUrl}/bench/sent?tags=${[...tags.values()].join(",")}`);
        const sent = (await sentRes.json()) as Record<string, [number, number][]>;
        const latencies: number[] = [];
        let outside = 0;
        // Send and receive instants are on the monotonic clock; the plateau is on the wall clock
        // (a millisecond of difference does not matter to which chunks fall inside it).
        const wallOffset = preciseNow() - monotonicMs();
        for (const [tag, got] of received) {
          const sends = new Map(sent[tag] ?? []);
          for (const [percent, at] of got) {
            const sentAt = sends.get(percent);
            if (sentAt === undefined) continue;
            if (sentAt + wallOffset < from || sentAt + wallOffset > to) outside++;
            else latencies.push(at - sentAt);
          }
        }
        const failed = await failures(system, tenantId);
        runs.push({
          jobs: wanted,
          inFlight: peak,
          plateauSeconds: (to - from) / 1000,
          clients: tags.size,
          samples: latencies.length,
          samplesOutsidePlateau: outside,
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
          maxMs: Math.max(...latencies),
          failed: failed.count,
        });
        log(
          `latency run ${run + 1}: ${peak} jobs in flight at most, ${latencies.length} samples, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
        );
      } finally {
        await worker.stop();
      }
    }
    return {
      settings: { jobs: wanted, clients, steps, stepMs, concurrency },
      runs,
      summary: {
        inFlight: over(runs, (r) => r.inFlight),
        p50Ms: over(runs, (r) => r.p50Ms),
        p99Ms: over(runs, (r) => r.p99Ms),
        samples: over(runs, (r) => r.samples),
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------

function cpuSummary(result: BenchResult["scenarios"]): Record<string, Record<string, Spread>> {
  const out: Record<string, Record<string, Spread>> = {};
  const collect = (group: string, runs: Record<string, number>[]) => {
    const keys = Object.keys(runs[0] ?? {});
    out[group] = Object.fromEntries(keys.map((k) => [k, spread(runs.map((r) => r[k] ?? Number.NaN))]));
  };
  const groups: [string, Record<string, number>[] | undefined][] = [
    ["submit (per request): Darkroom", result.submit?.runs.map((r) => r.cpuMsPerRequest.darkroom)],
    ["submit (per request): baseline", result.submit?.runs.map((r) => r.cpuMsPerRequest.baseline)],
    ["drain (per job): Darkroom", result.drain?.runs.map((r) => r.cpuMsPerJob.darkroom)],
    ["drain (per job): naive", result.drain?.runs.map((r) => r.cpuMsPerJob.naive)],
    ["drain (per job): naive, no progress", result.drain?.runs.map((r) => r.cpuMsPerJob.naiveNoProgress)],
  ];
  for (const [group, runs] of groups) if (runs !== undefined) collect(group, runs);
  return out;
}

async function main(): Promise<void> {
  logDir = await mkdtemp(path.join(tmpdir(), "darkroom-bench-"));
  log(`run ${RUN_ID}, bundles from ${bundleDir()}, logs in ${logDir}`);
  await prepareTemplateDatabase();
  upstream = startScript("upstream", "upstream.ts", {});
  const [, port] = await upstream.waitFor(/bench upstream listening on port (\d+)/);
  upstreamUrl = `http://127.0.0.1:${port}`;
  const started = new Date();
  const scenarios: BenchResult["scenarios"] = {};
  // Both systems start before anything is measured (in parallel, to save time). The job scenarios
  // share one: each run has a tenant of its own and ends with all its jobs ended. The submit
  // scenario has its own, whose backlog no worker ever takes.
  const withJobs = SCENARIOS.has("drain") || SCENARIOS.has("inflight") || SCENARIOS.has("latency");
  const [submitSystem, jobsSystem] = await Promise.all([
    SCENARIOS.has("submit") ? startSystem("submit") : null,
    withJobs ? startSystem("jobs") : null,
  ]);
  if (submitSystem !== null) scenarios.submit = await submitScenario(submitSystem);
  if (jobsSystem !== null) {
    const system = jobsSystem;
    try {
      if (SCENARIOS.has("drain")) scenarios.drain = await drainScenario(system);
      if (SCENARIOS.has("inflight")) scenarios.inflight = await inflightScenario(system);
      if (SCENARIOS.has("latency")) scenarios.latency = await latencyScenario(system);
    } finally {
      await system.stop();
    }
  }
  scenarios.cpu = cpuSummary(scenarios);
  const upstreamStats = (await (await fetch(`${upstreamUrl}/bench/stats`)).json()) as { chats: number };
  const result: BenchResult = {
    generatedAt: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    ...machineAndCommit(),
    runs: RUNS,
    flags: { ...flags },
    upstreamCalls: upstreamStats.chats,
    scenarios,
    goals: [],
  };
  result.goals = evaluateGoals(result);
  console.log(renderTable(result));
  await mkdir(path.dirname(flags.json ?? ""), { recursive: true });
  await writeFile(flags.json ?? "", `${JSON.stringify(result, null, 2)}\n`);
  await writeDoc(flags.doc ?? "", renderDoc(result));
  log(`wrote ${flags.json} and ${flags.doc}`);
}

let cleaning: Promise<void> | null = null;

/** Stops every process, drops the run's databases and deletes its keys; once, however often called. */
function cleanup(): Promise<void> {
  cleaning ??= cleanupOnce();
  return cleaning;
}

async function cleanupOnce(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
  await Promise.all([...storageDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  await dropRunDatabases(RUN_ID).catch((error: unknown) => log(`could not drop the databases: ${String(error)}`));
  await deleteRunKeys(RUN_ID).catch((error: unknown) => log(`could not delete the keys: ${String(error)}`));
}

let exitCode = 0;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the processes, dropping the databases and keys`);
    exitCode = 130;
    void cleanup().finally(() => process.exit(exitCode));
  });
}
try {
  await main();
  await rm(logDir, { recursive: true, force: true });
} catch (error) {
  exitCode ||= 1;
  console.error(error);
  if (logDir !== "") log(`process logs kept in ${logDir}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
