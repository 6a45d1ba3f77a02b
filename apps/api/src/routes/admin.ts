import {
  addApiKey,
  createTenantWithKey,
  findTenant,
  listApiKeys,
  listTenants,
  presentApiKey,
  presentTenant,
  readTenantLimits,
  revokeApiKey,
  rotateWebhookSecret,
  type Tenant,
  updateTenantSettings,
} from "@darkroom/db";
import { AppError, hasLoneSurrogate, LONE_SURROGATE_MESSAGE } from "@darkroom/domain";
import { publishApiKeyRevoked, publishTenantChanged, withTimeout } from "@darkroom/queue";
import { type Request, Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../deps";
import { parseOrThrow } from "../http/validate";
import { storedSettings, TenantSettingsSchema } from "../tenant-settings";
import { buildUsageReport } from "../usage-report";

const NameSchema = z
  .string({ error: "is required and must be a string" })
  .trim()
  .min(1, { error: "must not be empty" })
  .max(200, { error: "must be at most 200 characters" })
  .refine((name) => !name.includes("\u0000"), { message: "must not contain NUL characters" })
  .refine((name) => !hasLoneSurrogate(name), { message: LONE_SURROGATE_MESSAGE })
  .meta({ description: "A name for people, 1 to 200 characters (trimmed); not unique", example: "acme" });

/** Body of `POST /admin/api/keys`. */
export const KeyCreateSchema = z.strictObject({ name: NameSchema, ...TenantSettingsSchema.shape });
/** Body of `PATCH /admin/api/tenants/{id}`. */
export const TenantPatchSchema = z.strictObject({ name: NameSchema.optional(), ...TenantSettingsSchema.shape });
/** Body of `POST /admin/api/tenants/{id}/keys`. */
export const KeyAddSchema = z.strictObject({ name: NameSchema });

function requireJson(req: Request, example: string): void {
  if (!req.is("application/json")) {
    throw new AppError("unsupported_media_type", `Send \`${example}\` with \`Content-Type: application/json\`.`);
  }
}

// Ids are a prefix and a ULID; anything else (NUL, traversal, 2,000 characters) cannot name a row,
// so it answers 404 without reaching Postgres (which refuses NUL with an error of its own).
const PLAUSIBLE_ID = /^[a-z]{2,5}_[0-9A-Za-z]{1,40}$/;

const REVOKE_PUBLISH_TIMEOUT_MS = 2_000;

const noTenant = (id: string) => new AppError("not_found", `No tenant ${id}.`);

/** The id of the route's tenant; 404 unless such a tenant exists. */
async function existingTenantId(deps: ApiDeps, id: string): Promise<string> {
  if (!PLAUSIBLE_ID.test(id) || (await findTenant(deps.db, id)) === null) throw noTenant(id);
  return id;
}

export function adminRouter(deps: ApiDeps): Router {
  const router = Router();
  /** One tenant with its usage of its limits (read only for a tenant that has a quota or budget). */
  const withLimits = async (tenant: Tenant) => ({
    ...presentTenant(tenant),
    limits: await readTenantLimits(deps.db, tenant, deps.config.env.MODEL_PRICES),
  });

  router.post("/admin/api/keys", async (req, res) => {
    requireJson(req, '{"name": …}');
    const body = parseOrThrow(KeyCreateSchema, req.body, "body");
    const created = await createTenantWithKey(deps.db, body.name, {
      ...deps.config.tenantDefaults,
      ...storedSettings(body),
    });
    res
      .status(201)
      .json({ tenant_id: created.tenantId, api_key: created.apiKey, webhook_secret: created.webhookSecret });
  });

  router.get("/admin/api/tenants", async (_req, res) => {
    const tenants = await listTenants(deps.db);
    res.json({ data: tenants.map((t) => presentTenant(t)) });
  });

  router.get("/admin/api/tenants/:id", async (req, res) => {
    const tenant = PLAUSIBLE_ID.test(req.params.id) ? await findTenant(deps.db, req.params.id) : null;
    if (tenant === null) throw noTenant(req.params.id);
    res.json(await withLimits(tenant));
  });

  router.get("/admin/api/tenants/:id/usage", async (req, res) => {
    const id = await existingTenantId(deps, req.params.id);
    const report = await buildUsageReport(deps.db, deps.config.env.MODEL_PRICES, id, req.query);
    if (report === null) throw noTenant(req.params.id);
    res.json(report);
  });

  router.patch("/admin/api/tenants/:id", async (req, res) => {
    await existingTenantId(deps, req.params.id);
    requireJson(req, '{"weight": 2, …}');
    const body = parseOrThrow(TenantPatchSchema, req.body, "body");
    const patch = { ...storedSettings(body), ...(body.name === undefined ? {} : { name: body.name }) };
    const tenant = await updateTenantSettings(deps.db, req.params.id, patch);
    if (tenant === null) throw noTenant(req.params.id);
    // The workers' admission and every API process's cached keys take the new settings at once.
    deps.apiKeys.forgetTenant(tenant.id);
    await Promise.all([
      deps.intake.setShare(tenant.id, { weight: tenant.weight, maxConcurrency: tenant.maxConcurrency }),
      withTimeout(
        publishTenantChanged(deps.redis, deps.config.env.QUEUE_PREFIX, tenant.id),
        REVOKE_PUBLISH_TIMEOUT_MS,
        "settings notice",
      ),
    ]).catch((error: unknown) => {
      throw new AppError(
        "service_unavailable",
        "The settings are saved in Postgres, but the workers and API processes could not be told (Redis unreachable). Send the PATCH again to retry.",
        { retryable: true, cause: error },
      );
    });
    res.json(await withLimits(tenant));
  });

  router.get("/admin/api/tenants/:id/keys", async (req, res) => {
    const keys = await listApiKeys(deps.db, await existingTenantId(deps, req.params.id));
    if (keys === null) throw noTenant(req.params.id);
    res.json({ data: keys.map(presentApiKey) });
  });

  router.post("/admin/api/tenants/:id/keys", async (req, res) => {
    await existingTenantId(deps, req.params.id);
    requireJson(req, '{"name": …}');
    const { name } = parseOrThrow(KeyAddSchema, req.body, "body");
    const created = await addApiKey(deps.db, req.params.id, name);
    if (created === null) throw noTenant(req.params.id);
    res.status(201).json({ id: created.id, api_key: created.apiKey });
  });

  router.post("/admin/api/keys/:id/revoke", async (req, res) => {
    const key = PLAUSIBLE_ID.test(req.params.id) ? await revokeApiKey(deps.db, req.params.id) : null;
    if (key === null) throw new AppError("not_found", `No API key ${req.params.id}.`);
    // This process forgets the key before answering; the others when the message reaches them.
    deps.apiKeys.forget(key.id);
    // Published on every call, not only the first: a retry after a failed publish reaches the caches.
    await withTimeout(
      publishApiKeyRevoked(deps.redis, deps.config.env.QUEUE_PREFIX, key.id),
      REVOKE_PUBLISH_TIMEOUT_MS,
      "revocation notice",
    ).catch((error: unknown) => {
      throw new AppError(
        "service_unavailable",
        "The key is revoked in Postgres, but the API processes could not be told (Redis unreachable); they refuse it within a minute. Revoke again to retry.",
        { retryable: true, cause: error },
      );
    });
    res.json(presentApiKey(key));
  });

  router.post("/admin/api/tenants/:id/webhook-secret/rotate", async (req, res) => {
    const id = await existingTenantId(deps, req.params.id);
    const rotated = await rotateWebhookSecret(deps.db, id, deps.config.webhookSecretGraceMs);
    if (rotated === null) throw noTenant(req.params.id);
    res.json({ webhook_secret: rotated.webhookSecret, previous_valid_until: rotated.previousValidUntil.toISOString() });
  });

  return router;
}
