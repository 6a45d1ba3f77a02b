import { AppError, newId } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import type { Request, RequestHandler, Response } from "express";

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * `res.locals` of a request: its id, and its child logger, made only when something logs through it
 * (most requests don't). A class, so the lazy logger costs no property definition per request.
 */
class RequestLocals {
  [key: string]: unknown;
  private child: Logger | undefined;

  constructor(
    private readonly logger: Logger,
    readonly requestId: string,
  ) {}

  get log(): Logger {
    this.child ??= this.logger.child({ request_id: this.requestId });
    return this.child;
  }
}

/** Gives every request an id (the caller's `x-request-id` when sane), echoes it, and logs the outcome. */
export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get("x-request-id");
    const requestId = incoming !== undefined && INCOMING_ID.test(incoming) ? incoming : newId("req");
    // The first middleware: nothing is in the request's locals yet.
    res.locals = new RequestLocals(logger, requestId);
    res.setHeader("x-request-id", requestId);
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      if (!logger.isLevelEnabled("info")) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The same line the child would write (its binding first), without making the child.
      logger.info(
        {
          request_id: requestId,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          duration_ms: Math.round(ms),
        },
        "request",
      );
    });
    next();
  };
}

/** The bearer token of the request, or null. */
export function bearerToken(req: Request): string | null {
  const header = req.get("authorization");
  if (header === undefined) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

/** The API key a request authenticated with (set by the auth middleware). */
export function apiKeyOf(res: Response): string {
  const apiKeyId: unknown = res.locals.apiKeyId;
  if (typeof apiKeyId !== "string") throw new AppError("unauthorized", "Authentication is required.");
  return apiKeyId;
}

/** The authenticated tenant's share of the workers (set by the auth middleware). */
export function tenantShareOf(res: Response): { weight: number; maxConcurrency: number | null } {
  const share = res.locals.tenantShare as { weight: number; maxConcurrency: number | null } | undefined;
  if (share === undefined) throw new AppError("unauthorized", "Authentication is required.");
  return share;
}

/** The authenticated tenant of a request (set by the auth middleware). */
export function tenantOf(res: Response): string {
  const tenantId: unknown = res.locals.tenantId;
  if (typeof tenantId !== "string") throw new AppError("unauthorized", "Authentication is required.");
  return tenantId;
}
