// `npm start`: migrate, then run the API, the worker and (without COMETAPI_KEY) the upstream
// simulator as one process tree; print the URLs and a development API key.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadEnvOrExit } from "@darkroom/config";
import { findMigrationsDir, migrate } from "@darkroom/db";

const here = path.dirname(fileURLToPath(import.meta.url));
const env = loadEnvOrExit();
const children: ChildProcess[] = [];
let stopping = false;

function run(name: string, file: string, childEnv: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ["--enable-source-maps", path.join(here, file)], {
    env: childEnv,
    stdio: "inherit",
  });
  child.on("exit", (code, signal) => {
    if (stopping) return;
    console.error(`${name} exited (${signal ?? code}); stopping everything`);
    void stopAll(1);
  });
  children.push(child);
  return child;
}

async function stopAll(code: number): Promise<void> {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  const deadline = Date.now() + env.SHUTDOWN_GRACE_MS + 3000;
  while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  process.exit(code);
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

async function waitForHttp(url: string, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer at ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const migrations = await migrate(env.DATABASE_URL, await findMigrationsDir(here));
console.log(`database ready (${migrations.applied.length} migration(s) applied now)`);

const adminToken = env.ADMIN_TOKEN ?? `adm_${randomBytes(24).toString("base64url")}`;
const childEnv: NodeJS.ProcessEnv = { ...process.env, ADMIN_TOKEN: adminToken };
let upstream = env.COMETAPI_BASE_URL;
if (env.COMETAPI_KEY === undefined) {
  const simPort = String(env.SIMULATOR_PORT);
  upstream = `http://127.0.0.1:${simPort}`;
  run("simulator", "simulator.js", { ...process.env, SIMULATOR_PORT: simPort, SIMULATOR_HOST: "127.0.0.1" });
  await waitForHttp(`${upstream}/healthz`, "the upstream simulator");
  childEnv.COMETAPI_BASE_URL = upstream;
  childEnv.IMAGE_HOST_ALLOWLIST = [...env.IMAGE_HOST_ALLOWLIST, `127.0.0.1:${simPort}`].join(",");
  // The simulator serves its images over plain http on 127.0.0.1.
  childEnv.ALLOW_PRIVATE_IMAGE_URLS = "true";
}
run("api", "api.js", childEnv);
run("worker", "worker.js", childEnv);
const apiUrl = `http://127.0.0.1:${env.PORT}`;
await waitForHttp(`${apiUrl}/healthz`, "the API");

/**
 * The development key belongs to a tenant in one database, so its file is named after that
 * database (host, port and name; not the credentials, which may change) and lives in the data
 * folder beside STORAGE_DIR: instances with different databases never overwrite each other's key,
 * even when their storage shares a parent, and instances on one database share one key.
 */
function devKeyFile(storageDir: string, databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, "")) || "postgres";
  const identity = `${url.hostname}:${url.port || "5432"}/${name}`;
  const digest = createHash("sha256").update(identity).digest("hex").slice(0, 12);
  const readable = name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 60);
  return path.resolve(storageDir, "..", `dev-api-key.${readable}.${digest}.json`);
}

// Reused across restarts while its tenant exists.
const keyFile = devKeyFile(env.STORAGE_DIR, env.DATABASE_URL);
async function devApiKey(): Promise<string> {
  try {
    const saved = JSON.parse(await readFile(keyFile, "utf8")) as { api_key?: string };
    if (typeof saved.api_key === "string") {
      const check = await fetch(`${apiUrl}/v1/jobs?limit=1`, { headers: { authorization: `Bearer ${saved.api_key}` } });
      if (check.ok) return saved.api_key;
    }
  } catch {
    // none saved yet
  }
  const res = await fetch(`${apiUrl}/admin/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "development" }),
  });
  if (!res.ok) throw new Error(`could not create a development key: ${res.status} ${await res.text()}`);
  const created = (await res.json()) as { api_key: string };
  await mkdir(path.dirname(keyFile), { recursive: true });
  await writeFile(keyFile, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600 });
  return created.api_key;
}
const apiKey = await devApiKey();

const publicUrl = env.PUBLIC_BASE_URL ?? apiUrl;
console.log(`
Darkroom is running.
  API:          ${publicUrl}
  Dashboard:    ${publicUrl}/dashboard/ (sign in with the admin token)
  API docs:     ${publicUrl}/docs
  Upstream:     ${upstream}${env.COMETAPI_KEY === undefined ? " (simulator: no COMETAPI_KEY set)" : ""}
  Admin token:  ${env.ADMIN_TOKEN === undefined ? adminToken : "(from ADMIN_TOKEN)"}
  API key:      ${apiKey}
  Key file:     ${keyFile}

Try it:
  curl -s -X POST ${publicUrl}/v1/jobs -H "Authorization: Bearer ${apiKey}" \\
       -H "Content-Type: application/json" -d '{"prompt":"a lighthouse at dusk"}'
`);
