// `npm start`: migrate, then run the API, the worker and (without COMETAPI_KEY) the upstream
// simulator as one process tree; print the URLs, the development API key and its webhook secret.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadEnvOrExit, tenantDefaults } from "@darkroom/config";
import {
  createPrismaClient,
  type DevelopmentSecrets,
  ensureDevelopmentSecrets,
  findMigrationsDir,
  INSTANCE_SECRETS_TABLE,
  migrate,
} from "@darkroom/db";
import { findBusyPort, type PortClaim, Supervisor } from "./start/supervisor";

const here = path.dirname(fileURLToPath(import.meta.url));
const env = loadEnvOrExit();
const supervisor = new Supervisor(here, env.SHUTDOWN_GRACE_MS);
supervisor.stopOnSignalsAndOrphaning();
const simulated = env.COMETAPI_KEY === undefined;

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

/** The ports this run will listen on, each with the variable that moves it. */
function portClaims(): PortClaim[] {
  const claims: PortClaim[] = [{ port: env.PORT, host: env.HOST, variable: "PORT", what: "the API" }];
  if (simulated) {
    claims.push({ port: env.SIMULATOR_PORT, host: "127.0.0.1", variable: "SIMULATOR_PORT", what: "the simulator" });
  }
  if (env.METRICS_PORT !== undefined) {
    claims.push({ port: env.METRICS_PORT, host: env.HOST, variable: "METRICS_PORT", what: "the worker's metrics" });
  }
  return claims;
}

/**
 * Loopback webhook URLs are allowed in development unless ALLOW_PRIVATE_WEBHOOK_URLS says otherwise,
 * so that a receiver on this machine works without a setting; production keeps the variable's default.
 */
function webhookUrlPolicy(): string {
  if (process.env.ALLOW_PRIVATE_WEBHOOK_URLS?.trim()) return String(env.ALLOW_PRIVATE_WEBHOOK_URLS);
  return env.NODE_ENV === "production" ? "false" : "loopback";
}

/** The secrets of this run; a development tenant only outside production. */
interface RunSecrets {
  adminToken: string;
  imageUrlSecret: string;
  tenant: Pick<DevelopmentSecrets, "apiKey" | "webhookSecret"> | null;
}

/**
 * Production configures its secrets (ADMIN_TOKEN and IMAGE_URL_SECRET are required there), and no
 * key is made up or stored in plain text: tenants come from the CLI or the admin API.
 */
async function runSecrets(): Promise<RunSecrets> {
  if (env.NODE_ENV === "production" && env.ADMIN_TOKEN !== undefined && env.IMAGE_URL_SECRET !== undefined) {
    return { adminToken: env.ADMIN_TOKEN, imageUrlSecret: env.IMAGE_URL_SECRET, tenant: null };
  }
  const secrets = await developmentSecrets();
  return { adminToken: secrets.adminToken, imageUrlSecret: secrets.imageUrlSecret, tenant: secrets };
}

async function developmentSecrets(): Promise<DevelopmentSecrets> {
  const db = createPrismaClient({ databaseUrl: env.DATABASE_URL, poolSize: 1 });
  try {
    return await ensureDevelopmentSecrets(db, {
      adminToken: env.ADMIN_TOKEN,
      imageUrlSecret: env.IMAGE_URL_SECRET,
      tenantSettings: tenantDefaults(env),
    });
  } finally {
    await db.$disconnect();
  }
}

async function main(): Promise<void> {
  const busy = await findBusyPort(portClaims());
  if (busy !== null) {
    console.error(
      `port ${busy.port} (${busy.variable}, for ${busy.what}) is already in use on ${busy.host}: ` +
        `stop what listens there or set ${busy.variable} to a free port. Nothing was started.`,
    );
    process.exit(1);
  }
  const migrations = await migrate(env.DATABASE_URL, await findMigrationsDir(here));
  console.log(`database ready (${migrations.applied.length} migration(s) applied now)`);
  const secrets = await runSecrets();
  const webhookUrls = webhookUrlPolicy();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ADMIN_TOKEN: secrets.adminToken,
    IMAGE_URL_SECRET: secrets.imageUrlSecret,
    ALLOW_PRIVATE_WEBHOOK_URLS: webhookUrls,
  };
  let upstream = env.COMETAPI_BASE_URL;
  if (simulated) {
    const simPort = String(env.SIMULATOR_PORT);
    upstream = `http://127.0.0.1:${simPort}`;
    supervisor.run("simulator", "simulator.js", {
      ...process.env,
      SIMULATOR_PORT: simPort,
      SIMULATOR_HOST: "127.0.0.1",
    });
    await waitForHttp(`${upstream}/healthz`, "the upstream simulator");
    childEnv.COMETAPI_BASE_URL = upstream;
    childEnv.IMAGE_HOST_ALLOWLIST = [...env.IMAGE_HOST_ALLOWLIST, `127.0.0.1:${simPort}`].join(",");
    // The simulator serves its images over plain http on 127.0.0.1.
    childEnv.ALLOW_PRIVATE_IMAGE_URLS = "true";
  }
  supervisor.run("api", "api.js", childEnv);
  supervisor.run("worker", "worker.js", childEnv);
  const apiUrl = `http://127.0.0.1:${env.PORT}`;
  await waitForHttp(`${apiUrl}/healthz`, "the API");
  printBanner(env.PUBLIC_BASE_URL ?? apiUrl, upstream, secrets, webhookUrls);
}

function printBanner(publicUrl: string, upstream: string, secrets: RunSecrets, webhookUrls: string): void {
  const webhooks =
    webhookUrls === "loopback"
      ? "loopback URLs allowed (127.0.0.1, localhost, ::1; ALLOW_PRIVATE_WEBHOOK_URLS=loopback, development)"
      : webhookUrls === "true"
        ? "every address allowed (ALLOW_PRIVATE_WEBHOOK_URLS=true)"
        : "public addresses only (set ALLOW_PRIVATE_WEBHOOK_URLS=loopback for a receiver on this machine)";
  const key = secrets.tenant?.apiKey ?? "$KEY";
  const tenantLines =
    secrets.tenant === null
      ? "  API key:        none made in production (npm run cli -- keys create --name NAME)"
      : `  API key:        ${secrets.tenant.apiKey}
  Webhook secret: ${secrets.tenant.webhookSecret}
  Secrets kept:   in this instance's database (table "${INSTANCE_SECRETS_TABLE}"), so restarts keep them`;
  console.log(`
Darkroom is running.
  API:            ${publicUrl}
  Dashboard:      ${publicUrl}/dashboard/ (sign in with the admin token)
  API docs:       ${publicUrl}/docs
  Upstream:       ${upstream}${simulated ? " (simulator: no COMETAPI_KEY set)" : ""}
  Admin token:    ${env.ADMIN_TOKEN === undefined ? secrets.adminToken : "(from ADMIN_TOKEN)"}
${tenantLines}
  Webhooks:       ${webhooks}

Try it:
  curl -s -X POST ${publicUrl}/v1/jobs -H "Authorization: Bearer ${key}" \\
       -H "Content-Type: application/json" -d '{"prompt":"a lighthouse at dusk"}'
  curl -s -X POST ${publicUrl}/v1/webhooks/test -H "Authorization: Bearer ${key}" \\
       -H "Content-Type: application/json" -d '{"url":"http://127.0.0.1:3901/hook"}'
`);
}

try {
  await main();
} catch (error) {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  await supervisor.stop(1);
}
