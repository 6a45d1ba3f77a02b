import { AppError, type ErrorCode } from "@darkroom/domain";
import type { Logger } from "@darkroom/logger";
import type { ErrorRequestHandler, Response } from "express";

const STATUS: Partial<Record<ErrorCode, number>> = {
  validation_failed: 400,
  malformed_json: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_mismatch: 422,
  service_unavailable: 503,
};

const TITLES: Partial<Record<ErrorCode, string>> = {
  validation_failed: "The request has invalid fields",
  malformed_json: "The request body is not valid JSON",
  unauthorized: "Missing or invalid API key",
  forbidden: "Not allowed",
  not_found: "Not found",
  conflict: "Conflict with the resource's current state",
  payload_too_large: "Request body too large",
  unsupported_media_type: "Unsupported media type",
  idempotency_mismatch: "Idempotency-Key reused with a different body",
  service_unavailable: "Service temporarily unavailable",
  internal: "Internal error",
};

export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/** Writes an RFC 9457 problem document. */
export function sendProblem(res: Response, error: AppError): void {
  const status = statusOf(error.code);
  const body: Record<string, unknown> = {
    type: `urn:darkroom:error:${error.code}`,
    title: TITLES[error.code] ?? error.code,
    status,
    detail: error.message,
    code: error.code,
    request_id: res.locals.requestId ?? null,
  };
  if (error.errors !== undefined) body.errors = error.errors;
  if (status === 503) res.setHeader("Retry-After", "5");
  res.status(status).type("application/problem+json").send(JSON.stringify(body));
}

interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
}

/** Normalises anything thrown in a route into an AppError. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const parser = error as BodyParserError;
  if (parser?.type === "entity.parse.failed")
    return new AppError("malformed_json", "The request body is not valid JSON.");
  if (parser?.type === "entity.too.large") return new AppError("payload_too_large", "The request body is over 1 MiB.");
  if (parser?.type === "encoding.unsupported" || parser?.type === "charset.unsupported") {
    return new AppError("unsupported_media_type", "The request body's encoding or charset is not supported.");
  }
  if (typeof parser?.status === "number" && parser.status >= 400 && parser.status < 500 && parser.expose === true) {
    return new AppError("bad_request", (error as Error).message);
  }
  return new AppError("internal", "Something went wrong on our side; the request id identifies it in our logs.", {
    cause: error,
  });
}

/** The one error middleware: routes do not catch, Express 5 forwards rejections here. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const appError = toAppError(error);
    if (appError.code === "internal") {
      logger.error({ err: appError.cause ?? error, request_id: res.locals.requestId }, "unhandled error");
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    sendProblem(res, appError);
  };
}
