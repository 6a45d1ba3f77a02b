import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import helmet from "helmet";

type NodeHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * The headers a helmet middleware sets, read once: the policies here depend on nothing in the
 * request, so every answer gets the same list, set in one loop instead of walking helmet's chain of
 * a dozen middlewares per request (2-3 % of the API's CPU under load, docs/performance.md).
 */
export function fixedHeaders(middleware: NodeHandler): [string, string][] {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: unknown) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
    getHeader: (name: string) => headers.get(name.toLowerCase()),
  };
  let failure: unknown;
  middleware({ headers: {} } as IncomingMessage, recorder as unknown as ServerResponse, (err) => {
    failure = err;
  });
  if (failure !== undefined) throw failure;
  return [...headers];
}

/** A handler that sets on every answer what `middleware` sets, read once by {@link fixedHeaders}. */
export function helmetOnce(middleware: NodeHandler): RequestHandler {
  const headers = fixedHeaders(middleware);
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/**
 * Headers on every answer: `nosniff`, `X-Frame-Options: DENY`, no referrer, and for everything but
 * the pages that set their own (the dashboard, /docs) a CSP that loads nothing and may not be framed.
 * No HSTS: the API may be served over plain HTTP on a private network; the TLS proxy in front sets
 * it. Images (`/v1/images/…`) are meant to be embedded by the tenants' own sites, so the resource
 * policy is `cross-origin`.
 */
export function securityHeaders(): RequestHandler {
  return helmetOnce(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      },
      strictTransportSecurity: false,
      crossOriginResourcePolicy: { policy: "cross-origin" },
      xFrameOptions: { action: "deny" },
      referrerPolicy: { policy: "no-referrer" },
    }),
  );
}

/**
 * The dashboard's policy: its own scripts, styles and requests only, no inline script, no plugins,
 * never framed. Images may also come from PUBLIC_BASE_URL, where signed image links point when it
 * is another origin than the one the dashboard is opened on.
 */
export function dashboardCsp(publicBaseUrl: string): RequestHandler {
  return helmetOnce(
    helmet.contentSecurityPolicy({
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:", new URL(publicBaseUrl).origin],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    }),
  );
}

/** Operators' answers hold tenants' data and secrets shown once: no cache keeps them. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader("Cache-Control", "no-store");
  next();
};
