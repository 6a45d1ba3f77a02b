import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { AppError, type ErrorCode, newId } from "@darkroom/domain";
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
  rate_limited: 429,
  quota_exceeded: 429,
  budget_exceeded: 429,
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
  rate_limited: "Too many requests",
  quota_exceeded: "Daily image quota reached",
  budget_exceeded: "Monthly budget reached",
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
  const { limit, retryAfterSeconds } = error.context;
  if (limit !== undefined) body.limit = limit;
  if (status === 503) res.setHeader("Retry-After", "5");
  if (typeof retryAfterSeconds === "number")
    res.setHeader("Retry-After", String(Math.max(1, Math.ceil(retryAfterSeconds))));
  res.status(status).type("application/problem+json").send(JSON.stringify(body));
}

interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
}

/**
 * Prisma codes that mean "the database cannot be used right now", not "this request is wrong":
 * unreachable (P1001), connect timeout (P1002), socket timeout (P1008), connection closed (P1017),
 * pool timeout (P2024), too many connections (P2037).
 */
const PRISMA_UNAVAILABLE = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2037"]);
/** The same, as the pg driver adapter reports it (`DriverAdapterError.cause.kind`). */
const ADAPTER_UNAVAILABLE = new Set([
  "DatabaseNotReachable",
  "SocketTimeout",
  "ConnectionClosed",
  "TooManyConnections",
]);
/** Socket errors of pg and ioredis connections. */
const SOCKET_UNAVAILABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);
/** Messages of pg-pool and ioredis that carry no code (the producer connection fails fast with these). */
const UNAVAILABLE_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated|Can't reach database server|Stream isn't writeable and enableOfflineQueue|Connection is closed|Reached the max retries per request limit/;
/**
 * Postgres refuses text it cannot store (a NUL byte, `\u0000` in JSON): 22021 and 22P05. They
 * come only from request data that passed validation, so they are the client's, not a 500.
 */
const PG_UNSTORABLE_TEXT = new Set(["22021", "22P05"]);

interface ErrorShape {
  code?: unknown;
  kind?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: unknown };
  errors?: unknown;
}

/** The error and everything it wraps (`cause`, Prisma's `meta.driverAdapterError`, aggregates). */
function* errorChain(error: unknown, depth = 0): Generator<ErrorShape> {
  if (error === null || typeof error !== "object" || depth > 5) return;
  const e = error as ErrorShape;
  yield e;
  yield* errorChain(e.cause, depth + 1);
  yield* errorChain(e.meta?.driverAdapterError, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* errorChain(inner, depth + 1);
}

function isUnavailable(error: unknown): boolean {
  for (const e of errorChain(error)) {
    if (typeof e.code === "string" && (PRISMA_UNAVAILABLE.has(e.code) || SOCKET_UNAVAILABLE.has(e.code))) return true;
    if (typeof e.kind === "string" && ADAPTER_UNAVAILABLE.has(e.kind)) return true;
    if (typeof e.message === "string" && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  }
  return false;
}

function isUnstorableText(error: unknown): boolean {
  for (const e of errorChain(error)) if (typeof e.code === "string" && PG_UNSTORABLE_TEXT.has(e.code)) return true;
  return false;
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
  // Express's router throws this (status 400, not exposed) for a path such as `/v1/jobs/%zz`.
  if (error instanceof URIError) {
    return new AppError("bad_request", "The request path is not valid percent-encoding.", { cause: error });
  }
  if (isUnavailable(error)) {
    return new AppError("service_unavailable", "A backing service is unreachable; retry after the Retry-After delay.", {
      retryable: true,
      cause: error,
    });
  }
  if (isUnstorableText(error)) {
    return new AppError("validation_failed", "The request contains characters that cannot be stored (such as NUL).", {
      errors: [{ path: "(body)", message: "must not contain NUL (\\u0000) characters" }],
    });
  }
  return new AppError("internal", "Something went wrong on our side; the request id identifies it in our logs.", {
    cause: error,
  });
}

/** One line for an outage, not Prisma's multi-line invocation report on every request. */
function errorSummary(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split("\n").filter((line) => line.trim() !== "");
  return lines.at(-1) ?? message;
}

/** The one error middleware: routes do not catch, Express 5 forwards rejections here. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const appError = toAppError(error);
    if (appError.code === "internal") {
      logger.error({ err: appError.cause ?? error, request_id: res.locals.requestId }, "unhandled error");
    } else if (appError.code === "service_unavailable") {
      logger.warn(
        { err: errorSummary(appError.cause), request_id: res.locals.requestId },
        "backing service unavailable",
      );
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    sendProblem(res, appError);
  };
}

/**
 * Node's `clientError` listener: answers what the HTTP parser refuses before Express sees it (a
 * Content-Length that disagrees with the body, Content-Length with Transfer-Encoding, a bad chunk,
 * headers over the limit) with a problem+json like every other error, instead of Node's bare
 * `400 Bad Request` line. Like Node's default it writes nothing once a response has started on the
 * socket, which would corrupt that response.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as { _httpMessage?: { _headerSent?: boolean } })._httpMessage;
  if (error.code === "ECONNRESET" || !socket.writable || inFlight?._headerSent === true) {
    socket.destroy();
    return;
  }
  const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const body = JSON.stringify({
    type: "urn:darkroom:error:bad_request",
    title: STATUS_CODES[status],
    status,
    detail: `The HTTP request is malformed (${error.code ?? "parse error"}): check Content-Length, Transfer-Encoding and the headers.`,
    code: "bad_request",
    request_id: newId("req"),
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}
