import { timingSafeEqual } from "node:crypto";
import { hashApiKey, type TenantAuth } from "@darkroom/db";
import { AppError } from "@darkroom/domain";
import type { Request, RequestHandler, Response } from "express";
import type { ApiDeps } from "../deps";
import { bearerToken } from "./context";

/** The client address failed authentications are counted against (`trust proxy` decides it). */
function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? "unknown";
}

/**
 * The tenant and key of the request's `Authorization: Bearer <api key>`, counted against the key's
 * request limit (whose `RateLimit` headers it sets on `res`); throws `unauthorized` otherwise, or
 * `rate_limited` when the key is over its limit or the client's address has failed too often this minute.
 */
export async function authenticateApiKey(deps: ApiDeps, req: Request, res: Response): Promise<TenantAuth> {
  const token = bearerToken(req);
  if (token === null) {
    throw new AppError("unauthorized", "Send your API key as `Authorization: Bearer <key>`.");
  }
  const address = clientAddress(req);
  const gate = deps.authFailures.gate(address);
  const keyHash = hashApiKey(token);
  // A key known good in this process needs no separate failure check: the rate-limit script refuses
  // a blocked address first, in the same round trip. Any other key is looked at only after the check.
  let auth = deps.apiKeys.cached(keyHash);
  if (auth === null) {
    await deps.authFailures.check(address);
    auth = await deps.apiKeys.authenticate(deps.db, keyHash);
    if (auth === null) {
      await deps.authFailures.recordFailure(address);
      throw new AppError("unauthorized", "The API key is unknown or revoked.");
    }
  }
  await deps.keyRateLimit.consume(auth, res, gate);
  return auth;
}

/** Requires an API key and records the tenant in `res.locals.tenantId`, the key in `res.locals.apiKeyId`. */
export function requireApiKey(deps: ApiDeps): RequestHandler {
  return async (req, res, next) => {
    const auth = await authenticateApiKey(deps, req, res);
    res.locals.tenantId = auth.tenantId;
    res.locals.apiKeyId = auth.apiKeyId;
    res.locals.tenantShare = auth.share;
    res.locals.tenantLimited = auth.limited;
    next();
  };
}

/** Constant-time comparison of the presented admin token; wrong tokens count as failed authentications. */
export function requireAdminToken(deps: ApiDeps): RequestHandler {
  const expected = Buffer.from(deps.config.adminToken);
  return async (req, _res, next) => {
    const token = bearerToken(req);
    if (token === null) {
      throw new AppError("unauthorized", "Admin endpoints need `Authorization: Bearer <ADMIN_TOKEN>`.");
    }
    const address = clientAddress(req);
    await deps.authFailures.check(address);
    const given = Buffer.from(token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      await deps.authFailures.recordFailure(address);
      throw new AppError("unauthorized", "Admin endpoints need `Authorization: Bearer <ADMIN_TOKEN>`.");
    }
    next();
  };
}
