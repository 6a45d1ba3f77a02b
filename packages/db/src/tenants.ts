import { hash, randomBytes } from "node:crypto";
import { type ApiKeyView, newId, type TenantView } from "@darkroom/domain";
import type { DbClient } from "./client";
import type { ApiKey, Tenant } from "./generated/prisma/client";

export type { ApiKeyView, TenantView };

/** Who a presented API key authenticates, with what the per-key request limit needs. */
export interface TenantAuth {
  tenantId: string;
  apiKeyId: string;
  /** The tenant's `rate_limit_per_minute`, as read when the key was looked up. */
  rateLimitPerMinute: number;
  /** The tenant's share of the workers, as read when the key was looked up. */
  share: { weight: number; maxConcurrency: number | null };
  /** The tenant has an `images_per_day` or a `monthly_budget_usd`, as read when the key was looked up. */
  limited: boolean;
}

export interface CreatedTenant {
  tenantId: string;
  apiKeyId: string;
  apiKey: string;
  webhookSecret: string;
}

/** A tenant's settings in their stored form (null = no cap, no quota, no budget). */
export interface TenantSettingsInput {
  maxConcurrency: number | null;
  weight: number;
  rateLimitPerMinute: number;
  imagesPerDay: number | null;
  monthlyBudgetUsd: number | null;
}

// Writing `lastUsedAt` on every request would turn each read into a write: once a minute is enough.
const LAST_USED_RESOLUTION_MS = 60_000;

/** sha-256 hex of an API key: what is stored and looked up (one-shot `crypto.hash`: every request makes one). */
export function hashApiKey(apiKey: string): string {
  return hash("sha256", apiKey, "hex");
}

function newApiKey(): { apiKey: string; keyHash: string; prefix: string } {
  const apiKey = `dr_${randomBytes(24).toString("base64url")}`;
  return { apiKey, keyHash: hashApiKey(apiKey), prefix: apiKey.slice(0, 10) };
}

function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/**
 * A tenant with its first API key and its webhook secret. The key is returned once and stored hashed.
 * Settings not given take the database defaults.
 */
export async function createTenantWithKey(
  db: DbClient,
  name: string,
  settings: Partial<TenantSettingsInput> = {},
): Promise<CreatedTenant> {
  const tenantId = newId("ten");
  const apiKeyId = newId("key");
  const { apiKey, keyHash, prefix } = newApiKey();
  const webhookSecret = newWebhookSecret();
  await db.tenant.create({
    data: {
      id: tenantId,
      name,
      webhookSecret,
      ...settings,
      apiKeys: { create: { id: apiKeyId, name, keyHash, prefix } },
    },
  });
  return { tenantId, apiKeyId, apiKey, webhookSecret };
}

/** The tenant behind a presented API key, or null when the key is unknown or revoked. */
export async function findTenantByApiKey(db: DbClient, apiKey: string): Promise<TenantAuth | null> {
  return findTenantByKeyHash(db, hashApiKey(apiKey));
}

/** The tenant behind an API key's hash (`hashApiKey`), or null when the key is unknown or revoked. */
export async function findTenantByKeyHash(db: DbClient, keyHash: string): Promise<TenantAuth | null> {
  const row = await db.apiKey.findUnique({
    where: { keyHash },
    select: {
      id: true,
      tenantId: true,
      revokedAt: true,
      lastUsedAt: true,
      tenant: {
        select: {
          rateLimitPerMinute: true,
          weight: true,
          maxConcurrency: true,
          imagesPerDay: true,
          monthlyBudgetUsd: true,
        },
      },
    },
  });
  if (row === null || row.revokedAt !== null) return null;
  const now = Date.now();
  if (row.lastUsedAt === null || now - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    await db.apiKey.updateMany({
      where: {
        id: row.id,
        OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now - LAST_USED_RESOLUTION_MS) } }],
      },
      data: { lastUsedAt: new Date(now) },
    });
  }
  return {
    tenantId: row.tenantId,
    apiKeyId: row.id,
    rateLimitPerMinute: row.tenant.rateLimitPerMinute,
    share: { weight: row.tenant.weight, maxConcurrency: row.tenant.maxConcurrency },
    limited: row.tenant.imagesPerDay !== null || row.tenant.monthlyBudgetUsd !== null,
  };
}

/** The admin view of a tenant. */
export function presentTenant(tenant: Tenant, now: Date = new Date()): TenantView {
  const graceUntil = tenant.previousWebhookSecretValidUntil;
  return {
    id: tenant.id,
    name: tenant.name,
    created_at: tenant.createdAt.toISOString(),
    max_concurrency: tenant.maxConcurrency,
    weight: tenant.weight,
    rate_limit_per_minute: tenant.rateLimitPerMinute,
    images_per_day: tenant.imagesPerDay,
    monthly_budget_usd: tenant.monthlyBudgetUsd === null ? null : tenant.monthlyBudgetUsd.toNumber(),
    previous_webhook_secret_valid_until:
      graceUntil !== null && graceUntil.getTime() > now.getTime() ? graceUntil.toISOString() : null,
  };
}

/** The admin view of an API key. */
export function presentApiKey(key: ApiKey): ApiKeyView {
  return {
    id: key.id,
    tenant_id: key.tenantId,
    name: key.name,
    prefix: key.prefix,
    created_at: key.createdAt.toISOString(),
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}

/** Every tenant, oldest first (ids sort by creation time). */
export async function listTenants(db: DbClient): Promise<Tenant[]> {
  return db.tenant.findMany({ orderBy: { id: "asc" } });
}

/** One tenant, or null. */
export async function findTenant(db: DbClient, id: string): Promise<Tenant | null> {
  return db.tenant.findUnique({ where: { id } });
}

/** Changes the given settings (and only those); null when there is no such tenant. */
export async function updateTenantSettings(
  db: DbClient,
  id: string,
  patch: Partial<TenantSettingsInput> & { name?: string },
): Promise<Tenant | null> {
  const { count } = await db.tenant.updateMany({ where: { id }, data: patch });
  if (count === 0) return null;
  return db.tenant.findUnique({ where: { id } });
}

/** A tenant's API keys, oldest first; null when there is no such tenant. */
export async function listApiKeys(db: DbClient, tenantId: string): Promise<ApiKey[] | null> {
  const tenant = await db.tenant.findUnique({
    where: { id: tenantId },
    select: { apiKeys: { orderBy: { id: "asc" } } },
  });
  return tenant?.apiKeys ?? null;
}

/** A further API key for a tenant (returned once, stored hashed); null when there is no such tenant. */
export async function addApiKey(
  db: DbClient,
  tenantId: string,
  name: string,
): Promise<{ id: string; apiKey: string } | null> {
  const tenant = await db.tenant.findUnique({ where: { id: tenantId }, select: { id: true } });
  if (tenant === null) return null;
  const id = newId("key");
  const { apiKey, keyHash, prefix } = newApiKey();
  await db.apiKey.create({ data: { id, tenantId, name, keyHash, prefix } });
  return { id, apiKey };
}

/**
 * Revokes an API key: from the commit on, no request with it authenticates. Revoking a revoked key
 * changes nothing and answers it as it is (its first `revokedAt` stays). Null when there is no such key.
 */
export async function revokeApiKey(db: DbClient, id: string): Promise<ApiKey | null> {
  await db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
  return db.apiKey.findUnique({ where: { id } });
}

/**
 * A new webhook secret for the tenant. The current one becomes the previous one and keeps signing
 * (alongside the new one) for `graceMs`; a secret from an earlier rotation is dropped. Null when
 * there is no such tenant.
 */
export async function rotateWebhookSecret(
  db: DbClient,
  tenantId: string,
  graceMs: number,
): Promise<{ webhookSecret: string; previousValidUntil: Date } | null> {
  const webhookSecret = newWebhookSecret();
  const previousValidUntil = new Date(Date.now() + graceMs);
  // One statement, so two rotations at once cannot both keep the same previous secret.
  const rows = await db.$queryRaw<{ id: string }[]>`
    UPDATE "Tenant"
       SET "previousWebhookSecret" = "webhookSecret",
           "previousWebhookSecretValidUntil" = ${previousValidUntil},
           "webhookSecret" = ${webhookSecret}
     WHERE id = ${tenantId}
     RETURNING id`;
  if (rows.length === 0) return null;
  return { webhookSecret, previousValidUntil };
}

/** The secrets that sign a tenant's webhooks now: the current one, then the previous one during its grace. */
export function signingSecrets(
  tenant: Pick<Tenant, "webhookSecret" | "previousWebhookSecret" | "previousWebhookSecretValidUntil">,
  now: Date = new Date(),
): string[] {
  const secrets = [tenant.webhookSecret];
  const until = tenant.previousWebhookSecretValidUntil;
  if (tenant.previousWebhookSecret !== null && until !== null && until.getTime() > now.getTime()) {
    secrets.push(tenant.previousWebhookSecret);
  }
  return secrets;
}
