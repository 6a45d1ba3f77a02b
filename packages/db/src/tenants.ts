import { createHash, randomBytes } from "node:crypto";
import { newId } from "@darkroom/domain";
import type { DbClient } from "./client";

export interface TenantAuth {
  tenantId: string;
  apiKeyId: string;
}

export interface CreatedTenant {
  tenantId: string;
  apiKeyId: string;
  apiKey: string;
  webhookSecret: string;
}

/** sha-256 hex of an API key: what is stored and looked up. */
export function hashApiKey(apiKey: string): string {
  return createHash("sha256").update(apiKey, "utf8").digest("hex");
}

/** A tenant with its first API key and its webhook secret. The key is returned once and stored hashed. */
export async function createTenantWithKey(db: DbClient, name: string): Promise<CreatedTenant> {
  const tenantId = newId("ten");
  const apiKeyId = newId("key");
  const apiKey = `dr_${randomBytes(24).toString("base64url")}`;
  const webhookSecret = `whsec_${randomBytes(32).toString("base64")}`;
  await db.tenant.create({
    data: {
      id: tenantId,
      name,
      webhookSecret,
      apiKeys: { create: { id: apiKeyId, name, keyHash: hashApiKey(apiKey), prefix: apiKey.slice(0, 10) } },
    },
  });
  return { tenantId, apiKeyId, apiKey, webhookSecret };
}

/** The tenant behind a presented API key, or null when the key is unknown or revoked. */
export async function findTenantByApiKey(db: DbClient, apiKey: string): Promise<TenantAuth | null> {
  const row = await db.apiKey.findUnique({
    where: { keyHash: hashApiKey(apiKey) },
    select: { id: true, tenantId: true, revokedAt: true },
  });
  if (row === null || row.revokedAt !== null) return null;
  return { tenantId: row.tenantId, apiKeyId: row.id };
}
