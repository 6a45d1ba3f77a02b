import { randomBytes } from "node:crypto";
import {
  type Env,
  imageUrlSecret,
  imageUrlWebhookWindowSeconds,
  publicBaseUrl,
  type TenantSettings,
  tenantDefaults,
} from "@darkroom/config";

export interface ApiConfig {
  env: Env;
  port: number;
  host: string;
  publicBaseUrl: string;
  adminToken: string;
  /** True when the admin token was made up at start (development only): it is printed then. */
  adminTokenGenerated: boolean;
  imageUrlSecret: string;
  imageUrlTtlSeconds: number;
  /** How much longer URLs in webhook bodies live: the API accepts expiries up to that far ahead. */
  imageUrlWebhookWindowSeconds: number;
  /** How often event streams and `Prefer: wait` re-read Postgres in case a Redis wake-up was lost. */
  eventsFallbackPollMs: number;
  /** Settings of tenants created without their own (the `TENANT_DEFAULT_*` variables). */
  tenantDefaults: TenantSettings;
  /** How long the previous webhook secret keeps signing after a rotation. */
  webhookSecretGraceMs: number;
}

/** The API's settings, derived once from the parsed environment. */
export function buildApiConfig(env: Env): ApiConfig {
  const adminToken = env.ADMIN_TOKEN ?? `adm_${randomBytes(24).toString("base64url")}`;
  return {
    env,
    port: env.PORT,
    host: env.HOST,
    publicBaseUrl: publicBaseUrl(env),
    adminToken,
    adminTokenGenerated: env.ADMIN_TOKEN === undefined,
    // Without its own secret (development and tests only: production requires one), image URLs are
    // signed with a key derived from the admin token, so every process configured alike signs alike.
    imageUrlSecret: imageUrlSecret({ ...env, ADMIN_TOKEN: adminToken }) ?? adminToken,
    imageUrlTtlSeconds: env.IMAGE_URL_TTL_SECONDS,
    imageUrlWebhookWindowSeconds: imageUrlWebhookWindowSeconds(env),
    eventsFallbackPollMs: env.EVENTS_FALLBACK_POLL_MS,
    tenantDefaults: tenantDefaults(env),
    webhookSecretGraceMs: Math.round(env.WEBHOOK_SECRET_GRACE_HOURS * 3_600_000),
  };
}

/**
 * The admin token made up at start (development without ADMIN_TOKEN), printed to the terminal, never
 * to the log stream; nothing when ADMIN_TOKEN is set (production requires it).
 */
export function printGeneratedAdminToken(config: ApiConfig): void {
  if (!config.adminTokenGenerated) return;
  process.stdout.write(`ADMIN_TOKEN for this run (set ADMIN_TOKEN to choose one): ${config.adminToken}\n`);
}
