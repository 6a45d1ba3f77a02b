import type { ServerResponse } from "node:http";
import type { Directives, FaultKind } from "./directives";
import { cloudflarePage, envelope, notFoundPage, sendHtml, sendJson } from "./http-helpers";

/** Answers for the pre-stream HTTP fault kinds; shared by both endpoints. */
interface HttpFault {
  status: number;
  message?: string;
  code?: string;
  type?: string;
  html?: string;
}

function httpFaults(model: string): Partial<Record<FaultKind, HttpFault>> {
  return {
    http400: { status: 400, message: `Invalid request: unsupported value for model ${model}` },
    http401: { status: 401, message: "Invalid token" },
    http403quota: { status: 403, message: "user quota is not enough", code: "insufficient_user_quota" },
    http403: { status: 403, message: `This token has no access to model ${model}` },
    http404html: { status: 404, html: notFoundPage("/v1/chat/completions") },
    http413: { status: 413, message: "Request Entity Too Large" },
    http429: {
      status: 429,
      message: "当前分组上游负载已饱和，请稍后再试 (upstream load is saturated, please try again later)",
    },
    http429quota: {
      status: 429,
      message: "You exceeded your current quota, please check your plan and billing details.",
      code: "insufficient_quota",
      type: "insufficient_quota",
    },
    http500invalid: { status: 500, message: "Invalid request", code: "invalid_request" },
    http500: { status: 500, message: "The server had an error while processing your request. Sorry about that!" },
    http502html: { status: 502, html: cloudflarePage(502) },
    http503nochannel: {
      status: 503,
      message: `当前分组 default 下对于模型 ${model} 无可用渠道 (no available channel)`,
      code: "model_not_found",
    },
    http503: {
      status: 503,
      message: "The engine is currently overloaded, please try again later",
      code: "server_is_overloaded",
    },
    http504: { status: 504, message: "Gateway Timeout: the upstream did not answer in time" },
    http524html: { status: 524, html: cloudflarePage(524) },
    gen400policy: {
      status: 400,
      message:
        "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
      code: "moderation_blocked",
      type: "image_generation_user_error",
    },
    gen400param: {
      status: 400,
      message: "Unknown parameter: 'response_format'.",
      code: "unknown_parameter",
      type: "invalid_request_error",
    },
    gen429: {
      status: 429,
      message: "Rate limit reached for images per minute. Please try again later.",
      code: "rate_limit_exceeded",
    },
    gen500: { status: 500, message: "The server had an error while processing your request. Sorry about that!" },
  };
}

/**
 * Writes the answer of a pre-stream fault kind and returns true, or returns false when `kind` is
 * not one (the caller then streams or generates normally).
 */
export function sendHttpFault(
  res: ServerResponse,
  kind: FaultKind,
  directives: Directives,
  requestId: string,
  model: string,
  redirectTo: string,
): boolean {
  if (kind === "http301") {
    sendHtml(
      res,
      301,
      `<html><head><title>301 Moved Permanently</title></head><body><h1>301 Moved Permanently</h1></body></html>`,
      {
        location: redirectTo,
      },
    );
    return true;
  }
  if (kind === "json200error") {
    sendJson(res, 200, envelope("bad response status code 500", requestId, "bad_response_status_code"), requestId);
    return true;
  }
  const fault = httpFaults(model)[kind];
  if (fault === undefined) return false;
  if (fault.html !== undefined) {
    sendHtml(res, fault.status, fault.html);
    return true;
  }
  const extra: Record<string, string> = {};
  if (fault.status === 429 || fault.status === 503) {
    if (directives.retry_after !== undefined) extra["retry-after"] = directives.retry_after;
    if (directives.retry_after_ms !== undefined) extra["retry-after-ms"] = directives.retry_after_ms;
  }
  if (directives.should_retry !== undefined)
    extra["x-should-retry"] = directives.should_retry === "0" ? "false" : "true";
  sendJson(
    res,
    fault.status,
    envelope(fault.message ?? "error", requestId, fault.code ?? "", fault.type),
    requestId,
    extra,
  );
  return true;
}
