import { createHmac, randomBytes } from "node:crypto";
import type { Env } from "@darkroom/config";

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
}

/** The API's settings, derived once from the parsed environment. */
export function buildApiConfig(env: Env): ApiConfig {
  const adminToken = env.ADMIN_TOKEN ?? `adm_${randomBytes(24).toString("base64url")}`;
  return {
    env,
    port: env.PORT,
    host: env.HOST,
    publicBaseUrl: (env.PUBLIC_BASE_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/+$/, ""),
    adminToken,
    adminTokenGenerated: env.ADMIN_TOKEN === undefined,
    // Without its own secret, image URLs are signed with a key derived from the admin token, so every
    // API replica configured alike signs alike.
    imageUrlSecret:
      env.IMAGE_URL_SECRET ?? createHmac("sha256", adminToken).update("darkroom image urls").digest("hex"),
    imageUrlTtlSeconds: env.IMAGE_URL_TTL_SECONDS,
  };
}
