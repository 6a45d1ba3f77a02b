import { createTenantWithKey } from "@darkroom/db";
import { AppError, hasLoneSurrogate, LONE_SURROGATE_MESSAGE } from "@darkroom/domain";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../deps";
import { parseOrThrow } from "../http/validate";

const KeyCreateSchema = z.strictObject({
  name: z
    .string({ error: "is required and must be a string" })
    .trim()
    .min(1, { error: "must not be empty" })
    .max(200, { error: "must be at most 200 characters" })
    .refine((name) => !name.includes("\u0000"), { message: "must not contain NUL characters" })
    .refine((name) => !hasLoneSurrogate(name), { message: LONE_SURROGATE_MESSAGE }),
});

export function adminRouter(deps: ApiDeps): Router {
  const router = Router();

  router.post("/admin/api/keys", async (req, res) => {
    if (!req.is("application/json")) {
      throw new AppError("unsupported_media_type", 'Send `{"name": …}` with `Content-Type: application/json`.');
    }
    const { name } = parseOrThrow(KeyCreateSchema, req.body, "body");
    const created = await createTenantWithKey(deps.db, name);
    res
      .status(201)
      .json({ tenant_id: created.tenantId, api_key: created.apiKey, webhook_secret: created.webhookSecret });
  });

  return router;
}
