// npm run -s cli -- <group> <command> [options]: tenants and keys, straight against Postgres.
// (`-s`: without it npm prints its own banner on stdout, before the command's output.)
import { parseArgs } from "node:util";
import { loadEnvOrExit, tenantDefaults } from "@darkroom/config";
import {
  addApiKey,
  createPrismaClient,
  createTenantWithKey,
  findTenant,
  listApiKeys,
  listTenants,
  presentApiKey,
  presentTenant,
  revokeApiKey,
  rotateWebhookSecret,
  updateTenantSettings,
} from "@darkroom/db";
import { AppError, type UsageReport } from "@darkroom/domain";
import {
  createRedisConnection,
  FairIntake,
  publishApiKeyRevoked,
  publishTenantChanged,
  withTimeout,
} from "@darkroom/queue";
import type { Redis } from "ioredis";
import { describeCliError } from "./cli-errors";
import { storedSettings, TenantSettingsSchema } from "./tenant-settings";
import { buildUsageReport } from "./usage-report";

const USAGE = [
  "usage: npm run -s cli -- keys create --name NAME [--json]",
  "       npm run -s cli -- keys list --tenant TENANT_ID [--json]",
  "       npm run -s cli -- keys add --tenant TENANT_ID --name NAME [--json]",
  "       npm run -s cli -- keys revoke KEY_ID [--json]",
  "       npm run -s cli -- tenants list [--json]",
  "       npm run -s cli -- tenants show TENANT_ID [--json]",
  "       npm run -s cli -- tenants set TENANT_ID [--name N] [--max-concurrency N|none] [--weight N]",
  "            [--rate-limit-per-minute N] [--images-per-day N|none] [--monthly-budget-usd N|none] [--json]",
  "       npm run -s cli -- tenants usage TENANT_ID [--from ISO] [--to ISO] [--group-by day|model] [--json]",
  "       npm run -s cli -- tenants rotate-secret TENANT_ID [--json]",
].join("\n");

const SETTING_FLAGS = {
  "max-concurrency": "max_concurrency",
  weight: "weight",
  "rate-limit-per-minute": "rate_limit_per_minute",
  "images-per-day": "images_per_day",
  "monthly-budget-usd": "monthly_budget_usd",
} as const;

function usageError(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

const [group, command, ...rest] = process.argv.slice(2);
const known = {
  keys: ["create", "list", "add", "revoke"],
  tenants: ["list", "show", "set", "usage", "rotate-secret"],
} as Record<string, string[]>;
if (group === undefined || command === undefined || !(known[group] ?? []).includes(command)) {
  console.error(USAGE);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
let positionals: string[];
try {
  ({ values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      tenant: { type: "string" },
      json: { type: "boolean" },
      from: { type: "string" },
      to: { type: "string" },
      "group-by": { type: "string" },
      ...Object.fromEntries(Object.keys(SETTING_FLAGS).map((flag) => [flag, { type: "string" as const }])),
    },
  }));
} catch (error) {
  usageError((error as Error).message);
}
const json = values.json === true;
const text = (key: string): string | undefined => {
  const value = values[key];
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
};
const required = (key: string): string => text(key) ?? usageError(`--${key} is required`);
const positional = (what: string): string => positionals[0] ?? usageError(`${what} is required`);

/** Prints `record` as JSON, or as aligned `key: value` lines. */
function print(record: Record<string, unknown>): void {
  if (json) {
    console.log(JSON.stringify(record));
    return;
  }
  const width = Math.max(...Object.keys(record).map((k) => k.length)) + 2;
  for (const [key, value] of Object.entries(record)) console.log(`${`${key}:`.padEnd(width)}${value ?? "-"}`);
}

function printList(rows: Record<string, unknown>[]): void {
  if (json) {
    console.log(JSON.stringify({ data: rows }));
    return;
  }
  rows.forEach((row, i) => {
    if (i > 0) console.log("");
    print(row);
  });
}

/** A usage report as a table of rows, the totals, and each limit with what is used of it. */
function printUsage(report: UsageReport): void {
  console.log(`usage from ${report.from} to ${report.to}, by ${report.group_by}`);
  const columns = ["jobs_succeeded", "jobs_failed", "images", "tokens", "cost_usd"] as const;
  const rows = [
    ...report.data.map((row) => ["day" in row ? row.day : row.model, ...columns.map((c) => String(row[c]))]),
    ["total", ...columns.map((c) => String(report.totals[c]))],
  ];
  const header = [report.group_by, ...columns];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  for (const line of [header, ...rows])
    console.log(
      line
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    );
  for (const [name, limit] of Object.entries(report.limits)) {
    console.log(
      limit === null
        ? `${name}: none`
        : `${name}: ${limit.used} used + ${limit.reserved} reserved of ${limit.limit} (${limit.remaining} left), resets ${limit.resets_at}`,
    );
  }
}

const env = loadEnvOrExit();

/** Runs `send` on a fresh Redis connection; on failure explains what holds and exits 1. */
async function tell(what: string, send: (redis: Redis) => Promise<unknown>, failed: string, meanwhile: string) {
  const redis = createRedisConnection(env.REDIS_URL, "producer");
  redis.on("error", () => undefined);
  try {
    const ready = new Promise<void>((resolve) => redis.once("ready", () => resolve()));
    await withTimeout(
      ready.then(() => send(redis)),
      5_000,
      what,
    );
  } catch (error) {
    console.error(`${failed} (${(error as Error).message}); ${meanwhile}. Run the command again to retry.`);
    process.exitCode = 1;
  } finally {
    redis.disconnect();
  }
}
const db = createPrismaClient({ databaseUrl: env.DATABASE_URL, poolSize: 1 });
const notFound = (what: string): never => {
  console.error(`${what} not found`);
  process.exitCode = 1;
  return undefined as never;
};
try {
  const action = `${group} ${command}`;
  if (action === "keys create") {
    const created = await createTenantWithKey(db, required("name"), tenantDefaults(env));
    if (json) {
      print({ tenant_id: created.tenantId, api_key: created.apiKey, webhook_secret: created.webhookSecret });
    } else {
      console.log(`tenant_id:      ${created.tenantId}`);
      console.log(`api_key:        ${created.apiKey}`);
      console.log(`webhook_secret: ${created.webhookSecret}`);
      console.log("Keep the API key: it is stored hashed and cannot be shown again.");
    }
  } else if (action === "keys list") {
    const keys = await listApiKeys(db, required("tenant"));
    if (keys === null) notFound("tenant");
    else printList(keys.map((k) => ({ ...presentApiKey(k) })));
  } else if (action === "keys add") {
    const created = await addApiKey(db, required("tenant"), required("name"));
    if (created === null) notFound("tenant");
    else {
      print({ id: created.id, api_key: created.apiKey });
      if (!json) console.log("Keep the API key: it is stored hashed and cannot be shown again.");
    }
  } else if (action === "keys revoke") {
    const key = await revokeApiKey(db, positional("KEY_ID"));
    if (key === null) notFound("API key");
    else {
      print({ ...presentApiKey(key) });
      // API processes cache keys: they forget this one when told through Redis.
      await tell(
        "revocation notice",
        (redis) => publishApiKeyRevoked(redis, env.QUEUE_PREFIX, key.id),
        "revoked in Postgres, but the API processes could not be told",
        "they refuse the key within a minute",
      );
    }
  } else if (action === "tenants list") {
    printList((await listTenants(db)).map((t) => ({ ...presentTenant(t) })));
  } else if (action === "tenants show") {
    const tenant = await findTenant(db, positional("TENANT_ID"));
    if (tenant === null) notFound("tenant");
    else print({ ...presentTenant(tenant) });
  } else if (action === "tenants rotate-secret") {
    const graceMs = Math.round(env.WEBHOOK_SECRET_GRACE_HOURS * 3_600_000);
    const rotated = await rotateWebhookSecret(db, positional("TENANT_ID"), graceMs);
    if (rotated === null) notFound("tenant");
    else {
      print({ webhook_secret: rotated.webhookSecret, previous_valid_until: rotated.previousValidUntil.toISOString() });
      if (!json) console.log("Keep the new secret: the previous one stops signing at previous_valid_until.");
    }
  } else if (action === "tenants usage") {
    const query = { from: text("from"), to: text("to"), group_by: text("group-by") };
    const report = await buildUsageReport(db, env.MODEL_PRICES, positional("TENANT_ID"), query).catch(
      (error: unknown) =>
        error instanceof AppError
          ? usageError((error.errors ?? []).map((e) => `--${e.path.replace("_", "-")}: ${e.message}`).join("\n"))
          : Promise.reject(error),
    );
    if (report === null) notFound("tenant");
    else if (json) console.log(JSON.stringify(report));
    else printUsage(report);
  } else {
    const id = positional("TENANT_ID");
    const body: Record<string, unknown> = {};
    for (const [flag, field] of Object.entries(SETTING_FLAGS)) {
      const value = text(flag);
      if (value !== undefined) body[field] = value === "none" ? null : Number(value);
    }
    const parsed = TenantSettingsSchema.safeParse(body);
    if (!parsed.success) {
      const flags = Object.fromEntries(Object.entries(SETTING_FLAGS).map(([flag, field]) => [field, flag]));
      usageError(
        parsed.error.issues
          .map((issue) => `--${flags[String(issue.path[0])] ?? String(issue.path[0])}: ${issue.message}`)
          .join("\n"),
      );
    }
    const name = text("name");
    const tenant = await updateTenantSettings(db, id, {
      ...storedSettings(parsed.data),
      ...(name === undefined ? {} : { name }),
    });
    if (tenant === null) notFound("tenant");
    else {
      print({ ...presentTenant(tenant) });
      // The workers' admission reads the share from Redis; API processes re-read the tenant's keys.
      await tell(
        "settings notice",
        async (redis) => {
          await new FairIntake(redis, env.QUEUE_PREFIX).setShare(tenant.id, {
            weight: tenant.weight,
            maxConcurrency: tenant.maxConcurrency,
          });
          await publishTenantChanged(redis, env.QUEUE_PREFIX, tenant.id);
        },
        "saved in Postgres, but the workers and API processes could not be told",
        "the old share and limits stay in force until they are",
      );
    }
  }
} catch (error) {
  // One readable line on stderr, never a stack: stdout keeps only what the command printed (JSON
  // with --json), so `| jq` sees valid JSON or nothing.
  console.error(describeCliError(error, env.DATABASE_URL));
  process.exitCode = 1;
} finally {
  await db.$disconnect().catch(() => undefined);
}
