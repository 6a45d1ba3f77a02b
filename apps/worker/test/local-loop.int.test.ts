// `npm start` as a developer meets it: the built start script on free ports with a database of its
// own, a webhook receiver on this machine, restarts, busy ports and signals.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createPrismaClient } from "@darkroom/db";
import {
  bundleDir,
  createTestDatabase,
  createTestRedis,
  freePort,
  REPO_ROOT,
  type RunningProcess,
  startProcess,
  type TestDatabase,
  type TestRedis,
} from "@darkroom/testing";
import { verifyWebhook } from "@darkroom/webhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Receiver } from "./receiver";

let db: TestDatabase;
let redis: TestRedis;
let dir: string;
const receiver = new Receiver();
beforeAll(async () => {
  db = await createTestDatabase("localloop");
  redis = createTestRedis("localloop");
  dir = await mkdtemp(path.join(tmpdir(), "darkroom-localloop-"));
  await receiver.start();
});
afterAll(async () => {
  await receiver.close();
  await redis?.cleanup();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

interface Ports {
  PORT: string;
  SIMULATOR_PORT: string;
}

async function newPorts(): Promise<Ports> {
  return { PORT: String(await freePort()), SIMULATOR_PORT: String(await freePort()) };
}

/** What `npm start` is given here: nothing about webhooks or secrets, as on a fresh clone. */
function startEnv(ports: Ports, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    STORAGE_DIR: path.join(dir, "images"),
    SIMULATOR_STEP_MS: "5",
    NODE_ENV: "development",
    SHUTDOWN_GRACE_MS: "2000",
    ...ports,
    ...extra,
  };
}

interface Banner {
  apiKey: string;
  webhookSecret: string;
  adminToken: string;
}

/** What the banner printed (the start script's output, or npm's, which passes it on). */
async function banner(start: Pick<RunningProcess, "waitFor" | "output">): Promise<Banner> {
  const [, webhookSecret] = await start.waitFor(/Webhook secret: +(whsec_\S+)/, 90_000);
  const out = start.output();
  return {
    apiKey: /API key: +(dr_\S+)/.exec(out)?.[1] ?? "",
    webhookSecret: webhookSecret ?? "",
    adminToken: /Admin token: +(adm_\S+)/.exec(out)?.[1] ?? "",
  };
}

/**
 * Live processes whose environment holds `QUEUE_PREFIX=<prefix>`: the start script, npm in front of
 * it, and every child (they inherit it). Read from /proc, so orphans re-parented to init count too.
 */
async function processesOf(prefix: string): Promise<number[]> {
  const marker = `QUEUE_PREFIX=${prefix}\0`;
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "latin1").catch(() => "");
    if (environ.includes(marker)) pids.push(Number(entry));
  }
  return pids;
}

async function waitUntilGone(prefix: string, timeoutMs = 30_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await processesOf(prefix);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const api = (ports: Ports, key: string, pathname: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${ports.PORT}${pathname}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers },
  });

describe("npm start: the local loop", () => {
  it("delivers to a loopback receiver with no setting, verified with the printed secret, and keeps its secrets across a restart", {
    timeout: 240_000,
  }, async () => {
    const ports = await newPorts();
    const prefix = `${redis.prefix}restart`;
    const first = startProcess("start.js", startEnv(ports, prefix));
    let before: Banner;
    let imageUrl: string;
    let webhookImageUrl: string;
    try {
      before = await banner(first);
      expect(first.output()).toMatch(/Webhooks: +loopback URLs allowed \(127\.0\.0\.1, localhost, ::1/);
      expect(first.output()).toMatch(/Secrets kept: +in this instance's database \(table "InstanceSecret"\)/);
      const hook = receiver.script("/restart", () => ({ status: 200 }));
      const res = await api(ports, before.apiKey, "/v1/jobs", {
        method: "POST",
        headers: { prefer: "wait=60" },
        body: JSON.stringify({ prompt: "a local lighthouse", webhook_url: hook.replace("127.0.0.1", "localhost") }),
      });
      expect(res.status).toBe(200);
      const job = (await res.json()) as { status: string; result: { images: { url: string }[] } };
      expect(job.status).toBe("succeeded");
      imageUrl = job.result.images[0]?.url ?? "";
      const [delivery] = await receiver.waitFor("/restart", 1, 30_000);
      if (delivery === undefined) throw new Error("no delivery");
      // Verified with nothing but what the banner printed.
      expect(() => verifyWebhook(before.webhookSecret, delivery.headers, delivery.body)).not.toThrow();
      const body = JSON.parse(delivery.body) as { type: string; data: { result: { images: { url: string }[] } } };
      expect(body.type).toBe("job.succeeded");
      webhookImageUrl = body.data.result.images[0]?.url ?? "";
      expect((await fetch(imageUrl)).status).toBe(200);
      // The test event the banner suggests: signed the same way, verified with the same secret.
      const probe = receiver.script("/probe", () => ({ status: 200 }));
      const tested = await api(ports, before.apiKey, "/v1/webhooks/test", {
        method: "POST",
        body: JSON.stringify({ url: probe }),
      });
      expect(await tested.json()).toMatchObject({ ok: true, status: 200, error: null });
      const [event] = receiver.of("/probe");
      if (event === undefined) throw new Error("no test event");
      expect(() => verifyWebhook(before.webhookSecret, event.headers, event.body)).not.toThrow();
    } finally {
      expect(await first.stop("SIGTERM")).toBe(0);
    }
    expect(await waitUntilGone(prefix)).toEqual([]);

    const second = startProcess("start.js", startEnv(ports, prefix));
    try {
      expect(await banner(second)).toEqual(before);
      // Image URLs signed before the restart, in API answers and in webhook bodies, still work.
      for (const url of [imageUrl, webhookImageUrl]) {
        const image = await fetch(url);
        expect(image.status, url).toBe(200);
        expect(image.headers.get("content-type")).toBe("image/png");
      }
      // The dashboard's session (the admin token it holds) is still valid.
      const tenants = await fetch(`http://127.0.0.1:${ports.PORT}/admin/api/tenants`, {
        headers: { authorization: `Bearer ${before.adminToken}` },
      });
      expect(tenants.status).toBe(200);
      const { data } = (await tenants.json()) as { data: { name: string }[] };
      expect(data.filter((t) => t.name === "development")).toHaveLength(1);
    } finally {
      expect(await second.stop("SIGINT")).toBe(0);
    }
    expect(await waitUntilGone(prefix)).toEqual([]);
  });

  it("in production makes up and stores no secret, and a loopback webhook is refused naming ALLOW_PRIVATE_WEBHOOK_URLS", {
    timeout: 120_000,
  }, async () => {
    const own = await createTestDatabase("localloop-prod");
    const ports = await newPorts();
    const prefix = `${redis.prefix}prod`;
    const adminToken = "prod-admin-token-0123456789";
    const start = startProcess(
      "start.js",
      startEnv(ports, prefix, {
        DATABASE_URL: own.url,
        NODE_ENV: "production",
        ADMIN_TOKEN: adminToken,
        IMAGE_URL_SECRET: "prod-image-url-secret-0123456789",
      }),
    );
    try {
      await start.waitFor(/API key: +none made in production/, 90_000);
      expect(start.output()).toMatch(/Webhooks: +public addresses only/);
      expect(start.output()).not.toMatch(/whsec_|Secrets kept/);
      const created = await fetch(`http://127.0.0.1:${ports.PORT}/admin/api/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "prod" }),
      });
      const { api_key: key } = (await created.json()) as { api_key: string };
      const hook = receiver.script("/prod", () => ({ status: 200 }));
      for (const [pathname, body, field] of [
        ["/v1/jobs", { prompt: "x", webhook_url: hook }, "webhook_url"],
        ["/v1/webhooks/test", { url: hook }, "url"],
      ] as const) {
        const res = await api(ports, key, pathname, { method: "POST", body: JSON.stringify(body) });
        expect(res.status, pathname).toBe(400);
        const problem = (await res.json()) as { errors: { path: string; message: string }[] };
        expect(problem.errors[0]?.path).toBe(field);
        expect(problem.errors[0]?.message).toMatch(/loopback address \(127\.0\.0\.1\).*ALLOW_PRIVATE_WEBHOOK_URLS/);
      }
      expect(receiver.of("/prod")).toEqual([]);
      const prisma = createPrismaClient({ databaseUrl: own.url, poolSize: 1 });
      try {
        expect(await prisma.instanceSecret.count()).toBe(0);
      } finally {
        await prisma.$disconnect();
      }
    } finally {
      expect(await start.stop("SIGTERM")).toBe(0);
      await own.drop();
    }
    expect(await waitUntilGone(prefix)).toEqual([]);
  });

  it.each([
    ["PORT", "the API"],
    ["SIMULATOR_PORT", "the simulator"],
    ["METRICS_PORT", "the worker's metrics"],
  ])(
    "stops at once when %s is taken, naming it, and leaves nothing running",
    {
      timeout: 60_000,
    },
    async (variable, what) => {
      const ports = await newPorts();
      const taken = await freePort();
      const holder: Server = createServer();
      await new Promise<void>((resolve) => holder.listen(taken, "127.0.0.1", resolve));
      const prefix = `${redis.prefix}busy${variable.toLowerCase()}`;
      try {
        const start = startProcess("start.js", startEnv(ports, prefix, { [variable]: String(taken) }));
        const code = await new Promise<number | null>((resolve) => start.child.on("exit", resolve));
        expect(code).toBe(1);
        expect(start.output()).toContain(
          `port ${taken} (${variable}, for ${what}) is already in use on 127.0.0.1: stop what listens there or set ${variable} to a free port`,
        );
        expect(start.output()).not.toMatch(/simulator listening|api listening|worker ready/);
        expect(await processesOf(prefix)).toEqual([]);
      } finally {
        await new Promise<void>((resolve) => holder.close(() => resolve()));
      }
    },
  );
});

/**
 * `npm start` the way the repository runs it: npm with the root package.json's `start` script, in
 * a folder whose `dist` is this run's build.
 */
async function npmStart(
  env: Record<string, string>,
): Promise<{ npm: ChildProcess; start: Pick<RunningProcess, "waitFor" | "output"> }> {
  const root = JSON.parse(await readFile(path.join(REPO_ROOT, "package.json"), "utf8")) as {
    scripts: { start: string };
  };
  const cwd = await mkdtemp(path.join(dir, "npm-"));
  await writeFile(
    path.join(cwd, "package.json"),
    JSON.stringify({ name: "npm-start", private: true, type: "module", scripts: { start: root.scripts.start } }),
  );
  await symlink(bundleDir(), path.join(cwd, "dist"));
  const npm = spawn("npm", ["start"], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? dir,
      npm_config_update_notifier: "false",
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const waitFor = (pattern: RegExp, timeoutMs: number) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not print ${pattern}:\n${out}`)), timeoutMs);
      const check = () => {
        const m = pattern.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m);
        }
      };
      const onData = (chunk: Buffer) => {
        out += chunk.toString("utf8");
        check();
      };
      npm.stdout?.on("data", onData);
      npm.stderr?.on("data", onData);
      check();
    });
  return { npm, start: { output: () => out, waitFor } };
}

describe("npm start: stopping", () => {
  it.each([
    ["npm", "SIGINT"],
    ["npm", "SIGTERM"],
    ["npm", "SIGHUP"],
    ["start script", "SIGHUP"],
  ] as const)("a signal to %s (%s) stops every process it started", { timeout: 120_000 }, async (target, signal) => {
    const prefix = `${redis.prefix}sig${target === "npm" ? "npm" : "start"}${signal.toLowerCase()}`;
    const { npm, start } = await npmStart(startEnv(await newPorts(), prefix));
    const exited = new Promise<void>((resolve) => npm.on("exit", () => resolve()));
    try {
      await banner(start);
      const running = await processesOf(prefix);
      const npmPid = npm.pid ?? -1;
      // npm, the start script, the simulator, the API and the worker (and a shell, were it not exec'd).
      expect(running.length).toBeGreaterThanOrEqual(5);
      expect(running).toContain(npmPid);
      const startPid = running.find((pid) => pid !== npmPid && /dist\/start\.js/.test(cmdline(pid)));
      if (startPid === undefined) throw new Error(`no start script among ${running}`);
      process.kill(target === "npm" ? npmPid : startPid, signal);
      expect(await waitUntilGone(prefix)).toEqual([]);
    } finally {
      for (const pid of await processesOf(prefix)) process.kill(pid, "SIGKILL");
    }
    await exited;
  });
});

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}
