import { describe, expect, it } from "vitest";
import { CENSOR, createLogger } from "./index";

/** A logger at info whose lines are parsed back into objects. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    name: "t",
    level: "info",
    pretty: false,
    destination: { write: (line: string) => lines.push(JSON.parse(line)) } as unknown as NodeJS.WritableStream,
  });
  return { logger, lines };
}

class UpstreamFailure extends Error {
  constructor(
    message: string,
    readonly token: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "UpstreamFailure";
  }
}

describe("log redaction", () => {
  it("blanks secret keys at the top level and keeps the other fields", () => {
    const { logger, lines } = capture();
    logger.info({ token: "t-1", key: "k-1", adminToken: "a-1", apiKey: "ak-1", job_id: "job_1" }, "hello");
    expect(lines[0]).toMatchObject({ token: CENSOR, key: CENSOR, adminToken: CENSOR, apiKey: CENSOR, job_id: "job_1" });
  });

  it("blanks secret keys one level down under any key, without changing the logged object", () => {
    const { logger, lines } = capture();
    const tenant = { id: "ten_1", apiKey: "ak-2", webhook_secret: "ws-2", name: "Acme" };
    logger.info({ tenant, hook: { secret: "s-2", url: "https://example.test/h" }, n: 3 }, "nested");
    expect(lines[0]).toMatchObject({
      tenant: { id: "ten_1", apiKey: CENSOR, webhook_secret: CENSOR, name: "Acme" },
      hook: { secret: CENSOR, url: "https://example.test/h" },
      n: 3,
    });
    expect(tenant.apiKey).toBe("ak-2");
    expect(JSON.stringify(lines)).not.toMatch(/ak-2|ws-2|s-2/);
  });

  it("blanks an error's secret property and keeps its class, message and stack", () => {
    const { logger, lines } = capture();
    const err = new UpstreamFailure("upstream refused", "tok-3", 401);
    logger.warn({ err }, "call failed");
    const logged = lines[0]?.err as Record<string, unknown>;
    expect(logged).toMatchObject({ type: "UpstreamFailure", message: "upstream refused", token: CENSOR, status: 401 });
    expect(String(logged.stack)).toContain("upstream refused");
    expect(err.token).toBe("tok-3");
  });

  it("blanks the request's credentials and secrets in a child logger's bindings", () => {
    const { logger, lines } = capture();
    const child = logger.child({ session: { token: "t-4", user: "u" } });
    child.info(
      { req: { headers: { authorization: "Bearer x-4", cookie: "c-4", "x-api-key": "h-4", accept: "*/*" } } },
      "in",
    );
    expect(lines[0]).toMatchObject({
      session: { token: CENSOR, user: "u" },
      req: { headers: { authorization: CENSOR, cookie: CENSOR, "x-api-key": CENSOR, accept: "*/*" } },
    });
    expect(JSON.stringify(lines)).not.toMatch(/t-4|x-4|c-4|h-4/);
  });

  it("leaves arrays and lines without secrets as they are", () => {
    const { logger, lines } = capture();
    logger.info({ ids: ["a", "b"], stats: { done: 2 } }, "plain");
    expect(lines[0]).toMatchObject({ ids: ["a", "b"], stats: { done: 2 }, msg: "plain" });
  });
});
