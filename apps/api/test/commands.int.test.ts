import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createPrismaClient, findMigrationsDir, listMigrations } from "@darkroom/db";
import {
  createEmptyDatabase,
  createTestDatabase,
  createTestRedis,
  freePort,
  runBundle,
  runBundleFailure,
  startProcess,
  type TestDatabase,
} from "@darkroom/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
let db: TestDatabase;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase("commands");
  dir = await mkdtemp(path.join(tmpdir(), "darkroom-commands-"));
});
afterAll(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe("commands", () => {
  it("npm run cli -- keys create --name NAME --json makes a tenant whose key works", async () => {
    const { stdout } = await runBundle("cli.js", ["keys", "create", "--name", "Acme", "--json"], {
      DATABASE_URL: db.url,
    });
    const created = JSON.parse(stdout) as { tenant_id: string; api_key: string; webhook_secret: string };
    expect(created.tenant_id).toMatch(/^ten_/);
    expect(created.api_key).toMatch(/^dr_/);
    expect(created.webhook_secret).toMatch(/^whsec_/);
    const text = await runBundle("cli.js", ["keys", "create", "--name", "Globex"], { DATABASE_URL: db.url });
    expect(text.stdout).toMatch(/api_key: +dr_/);
    expect(text.stdout).toMatch(/cannot be shown again/);
  });

  it("npm run -s cli -- … --json: stdout is only the JSON; a database problem is one line on stderr and status 1", async () => {
    // As a user runs it, through npm from the repository root (without the npm_* settings of an
    // enclosing `npm test`).
    const root = path.resolve(import.meta.dirname, "../../..");
    const npm = (args: string[], databaseUrl: string) =>
      run("npm", ["run", "-s", "cli", "--", ...args], {
        cwd: root,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATABASE_URL: databaseUrl },
      }).then(
        (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
        (failed: { code: number; stdout: string; stderr: string }) => failed,
      );
    const ok = await npm(["keys", "create", "--name", "Piped", "--json"], db.url);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { api_key: string }).api_key).toMatch(/^dr_/);

    const missing = new URL(db.url);
    missing.pathname = `/${missing.pathname.slice(1)}_missing`;
    const unreachable = new URL(db.url);
    unreachable.port = String(await freePort());
    for (const [url, says] of [
      [
        missing.href,
        /^the database .*_missing \(DATABASE_URL\) does not exist: run `npm start` or `npm run db:migrate`/,
      ],
      [unreachable.href, /^cannot reach Postgres at 127\.0\.0\.1:\d+\/.* \(DATABASE_URL\)/],
    ] as const) {
      const failed = await npm(["tenants", "list", "--json"], url);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toBe("");
      expect(failed.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(failed.stderr).toMatch(says);
    }
  });

  it("npm run cli -- keys list/add/revoke and tenants list/show/set manage keys and settings", async () => {
    const redis = createTestRedis("cli");
    const cliEnv = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix };
    const cli = async (...args: string[]) =>
      JSON.parse((await runBundle("cli.js", [...args, "--json"], cliEnv)).stdout) as Record<string, unknown>;
    const tenant = (await cli("keys", "create", "--name", "Initech")) as { tenant_id: string; api_key: string };
    const added = (await cli("keys", "add", "--tenant", tenant.tenant_id, "--name", "ci")) as {
      id: string;
      api_key: string;
    };
    expect(added.id).toMatch(/^key_/);
    expect(added.api_key).toMatch(/^dr_/);
    const listed = (await cli("keys", "list", "--tenant", tenant.tenant_id)) as {
      data: { id: string; name: string; revoked_at: string | null }[];
    };
    expect(listed.data.map((k) => k.name)).toEqual(["Initech", "ci"]);
    expect(JSON.stringify(listed)).not.toContain(added.api_key);
    const revoked = (await cli("keys", "revoke", added.id)) as { revoked_at: string | null };
    expect(revoked.revoked_at).toEqual(expect.any(String));
    const prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 1 });
    try {
      expect((await prisma.apiKey.findUniqueOrThrow({ where: { id: added.id } })).revokedAt).not.toBeNull();
    } finally {
      await prisma.$disconnect();
    }
    const set = await cli("tenants", "set", tenant.tenant_id, "--weight", "4", "--monthly-budget-usd", "9.5");
    expect(set).toMatchObject({ id: tenant.tenant_id, weight: 4, monthly_budget_usd: 9.5, max_concurrency: null });
    // The workers' admission takes the new share at once (it reads it from Redis).
    const reader = new Redis(redis.url);
    try {
      expect(await reader.hget(`${redis.prefix}:fair:conf`, tenant.tenant_id)).toBe("4 -1");
    } finally {
      reader.disconnect();
      await redis.cleanup();
    }
    expect(await cli("tenants", "show", tenant.tenant_id)).toMatchObject({ weight: 4 });
    const rotated = (await cli("tenants", "rotate-secret", tenant.tenant_id)) as {
      webhook_secret: string;
      previous_valid_until: string;
    };
    expect(rotated.webhook_secret).toMatch(/^whsec_/);
    // WEBHOOK_SECRET_GRACE_HOURS (24 by default): the previous secret signs for about a day more.
    expect(Date.parse(rotated.previous_valid_until) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    expect(await cli("tenants", "show", tenant.tenant_id)).toMatchObject({
      previous_webhook_secret_valid_until: rotated.previous_valid_until,
    });
    const all = (await cli("tenants", "list")) as { data: { id: string }[] };
    expect(all.data.map((t) => t.id)).toContain(tenant.tenant_id);
    const bad = await runBundleFailure("cli.js", ["tenants", "set", tenant.tenant_id, "--weight", "0"], {
      DATABASE_URL: db.url,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--weight: must be at least 1/);
    // Eleven CLI processes one after the other: ~1.4 s each on an idle 2-core machine, 3-4 s each
    // while the other test files load both cores (49 s seen, so 60 s failed it in a busier run).
  }, 150_000);

  it("the CLI explains its usage on bad arguments", async () => {
    const failure = await runBundleFailure("cli.js", ["keys", "create"], { DATABASE_URL: db.url });
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(/--name is required/);
    const other = await runBundleFailure("cli.js", ["tenants", "delete"], {});
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/usage: npm run -s cli -- keys create --name NAME \[--json\]/);
  });

  it("a process with an invalid variable stops with a message naming it", async () => {
    const failure = await runBundleFailure("api.js", [], { PORT: "eighty", ALLOW_PRIVATE_WEBHOOK_URLS: "yes" });
    expect(failure.code).toBe(78);
    expect(failure.stderr).toMatch(/PORT: must be a whole number/);
    expect(failure.stderr).toMatch(/ALLOW_PRIVATE_WEBHOOK_URLS: must be "true", "false" or "loopback"/);
    const worker = await runBundleFailure("worker.js", [], { NODE_ENV: "production" });
    expect(worker.code).toBe(78);
    expect(worker.stderr).toMatch(/ADMIN_TOKEN: is required in production/);
    // The key of signed image URLs is its own secret in production, never derived from ADMIN_TOKEN.
    const api = await runBundleFailure("api.js", [], {
      NODE_ENV: "production",
      ADMIN_TOKEN: "an-admin-token-0123456789",
    });
    expect(api.code).toBe(78);
    expect(api.stderr).toMatch(/IMAGE_URL_SECRET: is required in production/);
  });

  it("npm start runs migrations, the API, the worker and the simulator, prints a working key, and stops cleanly", {
    timeout: 60_000,
  }, async () => {
    const redis = createTestRedis("start");
    // A database without a single table, so the migrations really have to run.
    const fresh = await createEmptyDatabase("start");
    const port = String(await freePort());
    const simPort = String(await freePort());
    const start = startProcess("start.js", {
      DATABASE_URL: fresh.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      PORT: port,
      SIMULATOR_PORT: simPort,
      SIMULATOR_STEP_MS: "5",
      STORAGE_DIR: path.join(dir, "images"),
      NODE_ENV: "development",
    });
    try {
      const [, key] = await start.waitFor(/API key: +(dr_\S+)/, 40_000);
      const migrations = (await listMigrations(await findMigrationsDir(process.cwd()))).map((m) => m.name);
      expect(migrations.length).toBeGreaterThan(0);
      expect(start.output()).toContain(`database ready (${migrations.length} migration(s) applied now)`);
      const prisma = createPrismaClient({ databaseUrl: fresh.url });
      try {
        const applied = await prisma.$queryRaw<{ migration_name: string }[]>`
          SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name`;
        expect(applied.map((r) => r.migration_name)).toEqual(migrations);
      } finally {
        await prisma.$disconnect();
      }
      expect(start.output()).toMatch(/Dashboard: +http:\/\/127\.0\.0\.1:\d+\/dashboard\//);
      expect(start.output()).toMatch(/simulator: no COMETAPI_KEY set/);
      const res = await fetch(`http://127.0.0.1:${port}/v1/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", prefer: "wait=30" },
        body: JSON.stringify({ prompt: "a quickstart lighthouse" }),
      });
      expect(res.status).toBe(200);
      const job = (await res.json()) as { status: string; result: { images: { url: string }[] } };
      expect(job.status).toBe("succeeded");
      const image = await fetch(job.result.images[0]?.url ?? "");
      expect(image.headers.get("content-type")).toBe("image/png");
    } finally {
      const code = await start.stop("SIGINT");
      await redis.cleanup();
      await fresh.drop();
      expect(code).toBe(0);
    }
    // every child is gone: the ports are free again
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${simPort}/`)).rejects.toThrow();
  });
});
