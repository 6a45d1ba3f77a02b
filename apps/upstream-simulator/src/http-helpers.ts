import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** A new-api style request id: timestamp digits plus random characters. */
export function newRequestId(): string {
  const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 17);
  return `${stamp}${randomBytes(4).toString("hex")}`;
}

/** Waits `ms`, or less if `signal` aborts; resolves true when the full time passed. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return new Promise((resolve) => setImmediate(() => resolve(!signal.aborted)));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Reads a request body (capped at 1 MiB; the simulator only takes small JSON bodies). */
export async function readRequestBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > 1024 * 1024) break;
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The CometAPI error envelope (one-api format with `(request id: X)` appended to the message). */
export function envelope(message: string, requestId: string, code = "", type = "comet_api_error"): string {
  return JSON.stringify({ error: { message: `${message} (request id: ${requestId})`, type, param: "", code } });
}

/** Writes a JSON answer with the relay's usual headers. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  requestId: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "x-request-id": requestId,
    ...extra,
  });
  res.end(body);
}

/**
 * Parses a request body as a JSON object (anything else counts as `{}`); answers the relay's 400
 * and returns null when it is not JSON at all.
 */
export function parseJsonBody(res: ServerResponse, raw: string, requestId: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    sendJson(res, 400, envelope("invalid character in request body", requestId, "invalid_request"), requestId);
    return null;
  }
}

/** Writes an HTML page (error pages of CometAPI's front end and Cloudflare). */
export function sendHtml(res: ServerResponse, status: number, html: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(html),
    ...extra,
  });
  res.end(html);
}

/** CometAPI's HTML 404 for a path it does not serve. */
export function notFoundPage(path: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>404 Not Found</title></head><body><h1>404 Not Found</h1><p>The page ${escapeHtml(path)} could not be found.</p><p>CometAPI</p></body></html>`;
}

/** Cloudflare's error page for 502 / 524. */
export function cloudflarePage(status: 502 | 524): string {
  const title = status === 524 ? "A timeout occurred" : "Bad gateway";
  return `<!DOCTYPE html><html lang="en-US"><head><title>api.cometapi.com | ${status}: ${title}</title></head><body><div id="cf-error-details"><h1><span>${title}</span> <span>Error code ${status}</span></h1><p>Visit cloudflare.com for more information.</p><p>Cloudflare Ray ID: ${randomBytes(8).toString("hex")}</p></div></body></html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Bearer token of the request, or null when missing or blank. */
export function bearerToken(req: IncomingMessage): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
  return match?.[1] ?? null;
}
