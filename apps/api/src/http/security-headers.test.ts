import type { AddressInfo } from "node:net";
import express, { type RequestHandler } from "express";
import helmet from "helmet";
import { afterEach, describe, expect, it } from "vitest";
import { dashboardCsp, fixedHeaders, helmetOnce, securityHeaders } from "./security-headers";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** The headers of a real answer from an Express app with `middleware` in front of a JSON route. */
async function headersThrough(middleware: RequestHandler): Promise<Record<string, string>> {
  const app = express();
  app.disable("x-powered-by");
  app.use(middleware);
  app.get("/", (_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await res.arrayBuffer();
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    // Per answer, not per policy.
    if (!["date", "content-length", "etag", "connection", "keep-alive"].includes(name)) headers[name] = value;
  });
  return headers;
}

describe("security headers read once from helmet", () => {
  it("give an answer exactly the headers helmet itself gives it", async () => {
    const config = {
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"] } },
      strictTransportSecurity: { maxAge: 600 },
      referrerPolicy: { policy: "no-referrer" as const },
    };
    const byHelmet = await headersThrough(helmet(config) as RequestHandler);
    expect(await headersThrough(helmetOnce(helmet(config)))).toEqual(byHelmet);
    expect(byHelmet["strict-transport-security"]).toBe("max-age=600; includeSubDomains");
    expect(byHelmet["x-content-type-options"]).toBe("nosniff");
  });

  it("drop what helmet removes and keep the last value of a header set twice", () => {
    const middleware = (
      _req: unknown,
      res: { setHeader(n: string, v: string): void; removeHeader(n: string): void },
      next: () => void,
    ) => {
      res.setHeader("X-Powered-By", "me");
      res.setHeader("X-Frame-Options", "SAMEORIGIN");
      res.removeHeader("x-powered-by");
      res.setHeader("x-frame-options", "DENY");
      next();
    };
    expect(fixedHeaders(middleware as never)).toEqual([["x-frame-options", "DENY"]]);
  });

  it("refuse a policy that fails instead of serving answers without it", () => {
    const failing = (_req: unknown, _res: unknown, next: (err?: unknown) => void) => next(new Error("bad policy"));
    expect(() => fixedHeaders(failing)).toThrow("bad policy");
  });

  it("are the API's policy on every answer, and the dashboard's own CSP on its pages", async () => {
    const api = await headersThrough(securityHeaders());
    expect(api).toMatchObject({
      "content-security-policy": "default-src 'none';frame-ancestors 'none'",
      "cross-origin-resource-policy": "cross-origin",
      "referrer-policy": "no-referrer",
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
    });
    expect(api["strict-transport-security"]).toBeUndefined();
    const dashboard = await headersThrough(dashboardCsp("https://images.example.com/base"));
    expect(dashboard["content-security-policy"]).toContain("img-src 'self' data: https://images.example.com;");
    expect(dashboard["content-security-policy"]).toContain("script-src 'self';");
  });
});
