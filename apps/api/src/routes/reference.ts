import { Router } from "express";
import type { ApiDeps } from "../deps";
import { buildOpenApi } from "../openapi";

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

interface Operation {
  summary?: string;
  parameters?: { name: string; in: string; required?: boolean }[];
  responses?: Record<string, { description?: string }>;
}

/** A self-contained HTML rendering of the OpenAPI document (no external scripts: works offline). */
function renderDocs(doc: Record<string, unknown>): string {
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const sections = Object.entries(paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const params = (op.parameters ?? [])
        .map(
          (p) => `<li><code>${escapeHtml(p.name)}</code> (${escapeHtml(p.in)}${p.required ? ", required" : ""})</li>`,
        )
        .join("");
      const responses = Object.entries(op.responses ?? {})
        .map(([code, r]) => `<li><code>${escapeHtml(code)}</code> ${escapeHtml(r.description ?? "")}</li>`)
        .join("");
      return `<section><h2><span class="m">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h2>
<p>${escapeHtml(op.summary ?? "")}</p>${params ? `<h3>Parameters</h3><ul>${params}</ul>` : ""}<h3>Responses</h3><ul>${responses}</ul></section>`;
    }),
  );
  const schemas = JSON.stringify((doc.components as Record<string, unknown>).schemas, null, 2);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Darkroom API reference</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
section{border-top:1px solid #ddd;padding:.5rem 0}.m{font-weight:700;color:#0a5}pre{background:#f6f6f6;padding:1rem;overflow:auto}</style>
</head><body><h1>Darkroom API reference</h1><p>${escapeHtml(String((doc.info as { description?: string }).description ?? ""))}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
${sections.join("\n")}<h2>Schemas</h2><pre>${escapeHtml(schemas)}</pre></body></html>`;
}

export function referenceRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/openapi.json", (_req, res) => {
    res.json(buildOpenApi(deps.config.publicBaseUrl));
  });
  router.get("/docs", (_req, res) => {
    res.type("html").send(renderDocs(buildOpenApi(deps.config.publicBaseUrl)));
  });
  router.get("/metrics", async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
