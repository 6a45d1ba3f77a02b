import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Simulator, startSimulator } from "@darkroom/upstream-simulator";
import { createTestDatabase, type TestDatabase } from "./database";
import { API_LISTENING, type RunningProcess, startProcess } from "./processes";
import { createTestRedis, type TestRedis } from "./redis";

export const STACK_ADMIN_TOKEN = "stack-admin-token-0123456789";

export interface Stack {
  apiUrl: string;
  simulator: Simulator;
  db: TestDatabase;
  redis: TestRedis;
  env: Record<string, string>;
  api: RunningProcess;
  workers: RunningProcess[];
  /** Starts one more worker process with the stack's environment. */
  addWorker(extraEnv?: Record<string, string>): Promise<RunningProcess>;
  /** Starts one more API process (same database and Redis); resolves with its URL. */
  addApi(extraEnv?: Record<string, string>): Promise<{ url: string; process: RunningProcess }>;
  /** POST /admin/api/keys: a new tenant's API key. */
  newApiKey(name?: string): Promise<string>;
  stop(): Promise<void>;
}

export interface StackOptions {
  label: string;
  workers?: number;
  simulatorStepMs?: number;
  /**
   * Environment of the API and worker processes over the stack's own. Its `REDIS_URL` names a Redis
   * other than the machine's shared one (a {@link PrivateRedis}), as the API harness's does: for a
   * test that watches every command with MONITOR, which on the shared server would see, and slow,
   * every other test file.
   */
  env?: Record<string, string>;
}

/**
 * The whole system on real components: the simulator in this process, the API and the worker(s)
 * as separate processes (the built dist/ bundles), a database and a queue prefix of their own.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const db = await createTestDatabase(options.label);
  const redis = createTestRedis(options.label, options.env?.REDIS_URL);
  const storageDir = await mkdtemp(path.join(tmpdir(), "darkroom-stack-"));
  const simulator = await startSimulator({ port: 0, stepMs: options.simulatorStepMs ?? 30 });
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    PORT: "0",
    ADMIN_TOKEN: STACK_ADMIN_TOKEN,
    STORAGE_DIR: storageDir,
    COMETAPI_BASE_URL: simulator.url,
    COMETAPI_KEY: "sk-test-upstream-key",
    IMAGE_HOST_ALLOWLIST: `127.0.0.1:${simulator.port}`,
    // The simulator serves its images over plain http on 127.0.0.1.
    ALLOW_PRIVATE_IMAGE_URLS: "true",
    WORKER_CONCURRENCY: "8",
    RETRY_BASE_DELAY_MS: "50",
    RETRY_MAX_DELAY_MS: "500",
    // Tests poll their jobs every few ms with one key: the per-key request limit (tested in
    // apps/api/test/limits.int.test.ts) would otherwise answer some polls 429.
    TENANT_DEFAULT_RATE_LIMIT_PER_MINUTE: "1000000",
    // Test files fail the primary model on purpose, call after call: the per-model circuit breaker
    // would open midway and send the file's later jobs to the fallback. It is held closed here (never
    // this many calls in a window); circuit-breaker.int.test.ts sets its own threshold.
    CIRCUIT_MIN_CALLS: "1000000",
    ...options.env,
  };
  const extraApis: RunningProcess[] = [];
  const api = startProcess("api.js", env);
  const workers: RunningProcess[] = [];
  const abandon = async () => {
    await Promise.all([api.stop(), ...workers.map((w) => w.stop())]);
    await simulator.close();
    await db.drop();
  };
  const addWorker = async (extraEnv: Record<string, string> = {}) => {
    const worker = startProcess("worker.js", { ...env, ...extraEnv });
    try {
      await worker.waitFor(/worker ready/);
    } catch (error) {
      await worker.stop("SIGKILL");
      throw error;
    }
    workers.push(worker);
    return worker;
  };
  // The API and the workers start together (the test database is cloned from a migrated template,
  // so no worker waits on the API's migration): a stack is ready in one process start, not 1 + N.
  const starting = await Promise.allSettled([
    api.waitFor(API_LISTENING),
    ...Array.from({ length: options.workers ?? 1 }, () => addWorker()),
  ]);
  const failed = starting.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await abandon();
    throw failed.reason;
  }
  const port = (starting[0] as PromiseFulfilledResult<RegExpMatchArray>).value[1];
  const apiUrl = `http://127.0.0.1:${port}`;
  return {
    apiUrl,
    simulator,
    db,
    redis,
    env,
    api,
    workers,
    addWorker,
    async addApi(extraEnv: Record<string, string> = {}) {
      const proc = startProcess("api.js", { ...env, ...extraEnv });
      extraApis.push(proc);
      const [, extraPort] = await proc.waitFor(API_LISTENING);
      return { url: `http://127.0.0.1:${extraPort}`, process: proc };
    },
    async newApiKey(name = "tenant") {
      const res = await fetch(`${apiUrl}/admin/api/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${STACK_ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name }),
      });
      if (res.status !== 201) throw new Error(`key creation failed: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { api_key: string }).api_key;
    },
    async stop() {
      await Promise.all([api.stop(), ...extraApis.map((a) => a.stop()), ...workers.map((w) => w.stop())]);
      await simulator.close();
      await db.drop();
      await redis.cleanup();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}
