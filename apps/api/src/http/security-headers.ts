import type { RequestHandler } from "express";
import helmet from "helmet";

/**
 * Headers on every answer: `nosniff`, `X-Frame-Options: DENY`, no referrer, and for everything but
 * the pages that set their own (the dashboard, /docs) a CSP that loads nothing and may not be framed.
 * No HSTS: the API may be served over plain HTTP on a private network; the TLS proxy in front sets
 * it. Images (`/v1/images/…`) are meant to be embedded by the tenants' own sites, so the resource
 * policy is `cross-origin`.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    strictTransportSecurity: false,
    crossOriginResourcePolicy: { policy: "cross-origin" },
    xFrameOptions: { action: "deny" },
    referrerPolicy: { policy: "no-referrer" },
  });
}

/**
 * The dashboard's policy: its own scripts, styles and requests only, no inline script, no plugins,
 * never framed. Images may also come from PUBLIC_BASE_URL, where signed image links point when it
 * is another origin than the one the dashboard is opened on.
 */
export function dashboardCsp(publicBaseUrl: string): RequestHandler {
  return helmet.contentSecurityPolicy({
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
  });
}

/** Operators' answers hold tenants' data and secrets shown once: no cache keeps them. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader("Cache-Control", "no-store");
  next();
};
