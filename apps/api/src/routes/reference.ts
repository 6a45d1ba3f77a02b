import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { Router } from "express";
import type { ApiDeps } from "../deps";
import { buildOpenApi } from "../openapi";

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

/** Redoc's standalone bundle, served from this API: the reference makes no request to anywhere else. */
const REDOC_BUNDLE = createRequire(import.meta.url).resolve("redoc/bundles/redoc.standalone.js");

/**
 * Redoc's sidebar shows Redocly's logo from their CDN, which the CSP refuses (a violation on every
 * visit): the bundle is served with that address replaced by an empty image of its own.
 */
const REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
const EMPTY_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";

/** The bundle (2.3 MB), read and gzipped once on first use: 330 KB for every client that accepts gzip. */
let bundle: Promise<{ plain: Buffer; gzipped: Buffer }> | null = null;
const readBundle = () => {
  bundle ??= readFile(REDOC_BUNDLE, "utf8").then(async (text) => {
    const plain = Buffer.from(text.replaceAll(REDOC_LOGO, EMPTY_SVG));
    return { plain, gzipped: await promisify(gzip)(plain) };
  });
  return bundle;
};

/**
 * Scripts only from this origin, and no inline script; Redoc's styled-components write `<style>`
 * elements and its search index runs in a worker made from a blob, which these allow. Nothing from
 * elsewhere: the one thing Redoc would fetch, its attribution logo on its CDN, is replaced in the bundle.
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The reference page: Redoc renders /openapi.json (its script finds the `<redoc>` element when it
 * loads); without JavaScript, a plain list of the operations.
 */
function renderDocs(doc: Record<string, unknown>): string {
  const paths = doc.paths as Record<string, Record<string, { summary?: string }>>;
  const operations = Object.entries(paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(
      ([method, op]) =>
        `<li><span class="m">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code> ${escapeHtml(op.summary ?? "")}</li>`,
    ),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Darkroom API reference</title><link rel="icon" href="data:,"></head><body>
<noscript><h1>Darkroom API reference</h1><p>The full reference needs JavaScript; the document itself is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p><ul>${operations.join("")}</ul></noscript>
<redoc spec-url="/openapi.json" expand-responses="200,201,202" json-sample-expand-level="3" required-props-first="true" sort-required-props-first="true"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body></html>`;
}

export function referenceRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/openapi.json", (_req, res) => {
    res.json(buildOpenApi(deps.config.publicBaseUrl));
  });
  router.get("/docs", (_req, res) => {
    res.setHeader("Content-Security-Policy", DOCS_CSP);
    res.type("html").send(renderDocs(buildOpenApi(deps.config.publicBaseUrl)));
  });
  router.get("/docs/redoc.standalone.js", async (req, res) => {
    const { plain, gzipped } = await readBundle();
    res.vary("Accept-Encoding");
    res.setHeader("Cache-Control", "public, max-age=86400");
    res.type("text/javascript; charset=utf-8");
    if (req.acceptsEncodings("gzip") === "gzip") {
      res.setHeader("Content-Encoding", "gzip");
      res.send(gzipped);
      return;
    }
    res.send(plain);
  });
  router.get("/metrics", async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.render());
  });
  return router;
}
