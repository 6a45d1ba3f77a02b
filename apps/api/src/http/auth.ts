import { timingSafeEqual } from "node:crypto";
import { AppError } from "@darkroom/domain";
import type { Request, RequestHandler } from "express";
import type { ApiDeps } from "../deps";
import { bearerToken } from "./context";

/** The tenant of the request's `Authorization: Bearer <api key>`; throws `unauthorized` otherwise. */
export async function authenticateApiKey(deps: ApiDeps, req: Request): Promise<string> {
  const token = bearerToken(req);
  if (token === null) {
    throw new AppError("unauthorized", "Send your API key as `Authorization: Bearer <key>`.");
  }
  const auth = await deps.apiKeys.authenticate(deps.db, token);
  if (auth === null) throw new AppError("unauthorized", "The API key is unknown or revoked.");
  return auth.tenantId;
}

/** Requires an API key and records the tenant in `res.locals.tenantId`. */
export function requireApiKey(deps: ApiDeps): RequestHandler {
  return async (req, res, next) => {
    res.locals.tenantId = await authenticateApiKey(deps, req);
    next();
  };
}

/** Constant-time comparison of the presented admin token. */
export function requireAdminToken(deps: ApiDeps): RequestHandler {
  const expected = Buffer.from(deps.config.adminToken);
  return (req, _res, next) => {
    const token = bearerToken(req);
    const given = Buffer.from(token ?? "");
    if (token === null || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError("unauthorized", "Admin endpoints need `Authorization: Bearer <ADMIN_TOKEN>`.");
    }
    next();
  };
}
