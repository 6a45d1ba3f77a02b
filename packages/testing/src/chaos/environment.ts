import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { findMigrationsDir, migrate } from "@darkroom/db/migrate";
import { type Simulator, startSimulator } from "@darkroom/upstream-simulator";
import type pg from "pg";
import { testPool } from "../database";
import { API_LISTENING, REPO_ROOT, type RunningProcess, startProcess } from "../processes";
import { freePort, PrivatePostgres, type PrivateRedis, startPrivateRedis } from "../services";

const ADMIN_TOKEN = "chaos-admin-token-0123456789";

/** One request the receiver got, and how it answered it. */
export interface ReceivedWebhook {
  /** The `webhook-id` header ("" when absent). */
  webhookId: string;
  body: string;
  /** The status it answered, or null when it dropped the connection without answering. */
  answered: number | null;
}

/**
 * A webhook receiver whose availability the scenario controls, recording every request it gets.
 * In `flap` mode it answers each event's first attempt 503 and drops the connection of its second,
 * so that every delivery in that mode has to survive both kinds of failure through retries.
 */
export class FlakyReceiver {
  mode: "up" | "flap" = "up";
  readonly received: ReceivedWebhook[] = [];
  private server: Server | null = null;
  port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const header = req.headers["webhook-id"];
        const webhookId = typeof header === "string" ? header : "";
        const seen = this.received.filter((r) => r.webhookId === webhookId).length;
        const answered = this.mode === "up" || seen >= 2 ? 200 : seen === 0 ? 503 : null;
        this.received.push({ webhookId, body: Buffer.concat(chunks).toString("utf8"), answered });
        if (answered === null) req.socket.destroy();
        else res.writeHead(answered).end();
      });
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    this.port = (server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server?.close(() => r()));
  }
}

/** One POST /v1/jobs of a scenario: its token (in the job's metadata) and the id, when answered. */
export interface Submission {
  token: string;
  id: string | null;
}

/**
 * Everything the chaos run breaks is its own: a private Redis and PostgreSQL (so that stopping them
 * touches no other test), the simulator, one API and two worker processes, webhook receivers.
 */
export class ChaosEnvironment {
  redis!: PrivateRedis;
  postgres!: PrivatePostgres;
  simulator!: Simulator;
  receiver = new FlakyReceiver();
  db!: pg.Pool;
  env: Record<string, string> = {};
  apiUrl = "";
  api!: RunningProcess;
  workers: RunningProcess[] = [];
  apiKey = "";
  /** Every submission of every scenario, answered or not. */
  readonly submissions = new Map<string, Submission[]>();
  private storageDir = mkdtempSync(path.join(tmpdir(), "darkroom-chaos-images-"));

  async start(): Promise<void> {
    this.redis = await startPrivateRedis();
    this.postgres = new PrivatePostgres(await freePort());
    await this.postgres.start();
    const databaseUrl = `${this.postgres.serverUrl}/darkroom_chaos`;
    await migrate(databaseUrl, await findMigrationsDir(REPO_ROOT));
    // testPool's listener also covers the Postgres restart scenario, which cuts these connections.
    this.db = testPool(databaseUrl, 4);
    this.simulator = await startSimulator({ port: 0, stepMs: 40 });
    await this.receiver.start();
    this.env = {
      NODE_ENV: "test",
      DATABASE_URL: databaseUrl,
      REDIS_URL: this.redis.url,
      QUEUE_PREFIX: "chaos",
      PORT: "0",
      ADMIN_TOKEN,
      STORAGE_DIR: this.storageDir,
      COMETAPI_BASE_URL: this.simulator.url,
      COMETAPI_KEY: "sk-chaos",
      IMAGE_HOST_ALLOWLIST: `127.0.0.1:${this.simulator.port}`,
      ALLOW_PRIVATE_IMAGE_URLS: "true",
      WORKER_CONCURRENCY: "10",
      RETRY_BASE_DELAY_MS: "100",
      RETRY_MAX_DELAY_MS: "2000",
      // Scenarios submit bursts of jobs with one key; the per-key request limit is not under test here.
      TENANT_DEFAULT_RATE_LIMIT_PER_MINUTE: "1000000",
      JOB_LEASE_MS: "3000",
      RECONCILE_INTERVAL_MS: "1000",
      SHUTDOWN_GRACE_MS: "5000",
      ALLOW_PRIVATE_WEBHOOK_URLS: "true",
      WEBHOOK_RETRY_SCHEDULE: "200ms,500ms,1s,1s,2s,2s,5s,5s,5s,5s",
      LOG_LEVEL: "warn",
    };
    ({ url: this.apiUrl, process: this.api } = await this.startApi());
    await this.addWorker();
    await this.addWorker();
    const res = await fetch(`${this.apiUrl}/admin/api/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "chaos" }),
    });
    this.apiKey = ((await res.json()) as { api_key: string }).api_key;
  }

  async startApi(extra: Record<string, string> = {}): Promise<{ url: string; process: RunningProcess }> {
    const proc = startProcess("api.js", { ...this.env, LOG_LEVEL: "info", ...extra });
    const [, port] = await proc.waitFor(API_LISTENING, 30_000);
    return { url: `http://127.0.0.1:${port}`, process: proc };
  }

  async addWorker(): Promise<RunningProcess> {
    const worker = startProcess("worker.js", { ...this.env, LOG_LEVEL: "info" });
    await worker.waitFor(/worker ready/, 30_000);
    this.workers.push(worker);
    return worker;
  }

  /**
   * Submits a job tagged with its scenario and a token of its own (so the invariants find every
   * committed one, answered or not). Anything but a 202 is an error, unless `expectNoAnswer` says
   * the API is meant to die mid-request; then an answer is the error.
   */
  async submit(
    scenario: string,
    directives = "",
    { apiUrl = this.apiUrl, expectNoAnswer = false }: { apiUrl?: string; expectNoAnswer?: boolean } = {},
  ): Promise<Submission> {
    const token = randomUUID();
    const submission: Submission = { token, id: null };
    const list = this.submissions.get(scenario) ?? [];
    list.push(submission);
    this.submissions.set(scenario, list);
    let res: Response;
    try {
      res = await fetch(`${apiUrl}/v1/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          prompt: `chaos ${scenario} ${token} ${directives}`,
          metadata: { chaos: scenario, submission: token },
          webhook_url: this.receiver.url,
          deadline_seconds: 120,
        }),
      });
    } catch (error) {
      if (expectNoAnswer) return submission;
      throw new Error(`${scenario}: POST /v1/jobs failed`, { cause: error });
    }
    const text = await res.text();
    if (expectNoAnswer) throw new Error(`${scenario}: the API answered ${res.status} instead of dying: ${text}`);
    if (res.status !== 202) throw new Error(`${scenario}: POST /v1/jobs answered ${res.status}: ${text}`);
    submission.id = (JSON.parse(text) as { id: string }).id;
    return submission;
  }

  async close(): Promise<void> {
    await Promise.all([this.api?.stop(), ...this.workers.map((w) => w.stop())]);
    await this.simulator?.close();
    await this.receiver.close();
    await this.db?.end().catch(() => undefined);
    await this.postgres?.close();
    await this.redis?.close();
    rmSync(this.storageDir, { recursive: true, force: true });
  }
}
