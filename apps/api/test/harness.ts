import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseEnv } from "@darkroom/config";
import { createLogger } from "@darkroom/logger";
import { createTestDatabase, createTestRedis } from "@darkroom/testing";
import { type RunningApi, startApi } from "../src/server";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

export interface ApiHarness {
  api: RunningApi;
  url: string;
  databaseUrl: string;
  redisPrefix: string;
  storageDir: string;
  /** A new tenant; returns its API key. */
  newTenant(name?: string): Promise<{ apiKey: string; tenantId: string; webhookSecret: string }>;
  request(
    method: string,
    pathname: string,
    options?: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<Response>;
  /** Another API process (in this process) on the same database, Redis prefix and storage. */
  addApi(extraEnv?: Record<string, string>): Promise<RunningApi>;
  close(): Promise<void>;
}

/**
 * The API in this process on a random port, with its own database, queue prefix and storage.
 * With `logs`, the API's log lines (JSON, level info and up) are written there instead of dropped.
 */
export async function startApiHarness(
  label: string,
  extraEnv: Record<string, string> = {},
  logs?: NodeJS.WritableStream,
): Promise<ApiHarness> {
  const db = await createTestDatabase(label);
  const redis = createTestRedis(label, extraEnv.REDIS_URL);
  const storageDir = await mkdtemp(path.join(tmpdir(), "darkroom-api-"));
  const baseEnv = {
    NODE_ENV: "test",
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    PORT: "0",
    ADMIN_TOKEN,
    STORAGE_DIR: storageDir,
    LOG_LEVEL: "silent",
    ...extraEnv,
  };
  const env = parseEnv(baseEnv);
  const logger = createLogger({
    name: "api",
    level: logs === undefined ? "silent" : "info",
    pretty: false,
    destination: logs,
  });
  const api = await startApi(env, logger);
  const others: RunningApi[] = [];
  const request: ApiHarness["request"] = (method, pathname, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    return fetch(`${api.url}${pathname}`, { method, headers, body });
  };
  return {
    api,
    url: api.url,
    databaseUrl: db.url,
    redisPrefix: redis.prefix,
    storageDir,
    request,
    async newTenant(name = "tenant") {
      const res = await request("POST", "/admin/api/keys", { key: ADMIN_TOKEN, body: { name } });
      if (res.status !== 201) throw new Error(`key creation failed: ${res.status} ${await res.text()}`);
      const json = (await res.json()) as { api_key: string; tenant_id: string; webhook_secret: string };
      return { apiKey: json.api_key, tenantId: json.tenant_id, webhookSecret: json.webhook_secret };
    },
    async addApi(more = {}) {
      const other = await startApi(
        parseEnv({ ...baseEnv, ...more }),
        createLogger({ name: "api", level: "silent", pretty: false }),
      );
      others.push(other);
      return other;
    },
    async close() {
      for (const other of others) await other.close();
      await api.close();
      await db.drop();
      await redis.cleanup();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}
