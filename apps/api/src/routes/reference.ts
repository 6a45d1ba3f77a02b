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

/** The bundle (2.3 MB) gzipped once, on first use: 330 KB for every client that accepts gzip. */
let gzippedBundle: Promise<Buffer> | null = null;
const readGzippedBundle = () => {
  gzippedBundle ??= readFile(REDOC_BUNDLE).then((bytes) => promisify(gzip)(bytes));
  return gzippedBundle;
};

/**
 * Scripts only from this origin, and no inline script; Redoc's styled-components write `<style>`
 * elements and its search index runs in a worker made from a blob, which these allow. Nothing from
 * elsewhere: the one thing Redoc would fetch, its attribution logo on its CDN, is refused (it hides it).
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
<title>Darkroom API reference</title></head><body>
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
    res.vary("Accept-Encoding");
    if (req.acceptsEncodings("gzip") === "gzip") {
      const bytes = await readGzippedBundle();
      res.setHeader("Cache-Control", "public, max-age=86400");
      res.setHeader("Content-Encoding", "gzip");
      res.type("text/javascript; charset=utf-8").send(bytes);
      return;
    }
    res.sendFile(REDOC_BUNDLE, { maxAge: "1d", headers: { "Content-Type": "text/javascript; charset=utf-8" } });
  });
  router.get("/metrics", async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
