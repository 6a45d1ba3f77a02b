import { createServer, type Server } from "node:http";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlockedAddressError, createGuardedDispatcher, type LookupFn, type PrivateWebhookUrls } from "./ssrf";

let server: Server;
let port = 0;
let requestsSeen = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    requestsSeen++;
    res.end("hello");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server has no TCP address");
  port = address.port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function attempt(url: string, allowPrivate: PrivateWebhookUrls, lookup?: LookupFn): Promise<unknown> {
  const dispatcher = createGuardedDispatcher({ allowPrivate, timeoutMs: 2_000, ...(lookup ? { lookup } : {}) });
  try {
    const response = await request(url, { dispatcher });
    return await response.body.text();
  } catch (error) {
    return error;
  } finally {
    await dispatcher.close();
  }
}

describe("createGuardedDispatcher: security", () => {
  it("refuses to connect to a loopback IP literal", async () => {
    const before = requestsSeen;
    const outcome = await attempt(`http://127.0.0.1:${port}/`, false);
    expect(outcome).toBeInstanceOf(BlockedAddressError);
    expect(String(outcome)).toContain("is a loopback address (127.0.0.1)");
    expect(requestsSeen).toBe(before);
  });

  it("refuses to connect to localhost, which resolves to loopback", async () => {
    const before = requestsSeen;
    const outcome = await attempt(`http://localhost:${port}/`, false);
    expect(outcome).toBeInstanceOf(BlockedAddressError);
    expect(String(outcome)).toMatch(/localhost: resolves to a loopback address \((127\.0\.0\.1|::1)\)/);
    expect(requestsSeen).toBe(before);
  });

  it("refuses a public-looking name whose DNS answer changed to a private address (rebinding)", async () => {
    const rebound: LookupFn = async () => [{ address: "127.0.0.1", family: 4 }];
    const outcome = await attempt(`http://hooks.example.com:${port}/`, false, rebound);
    expect(outcome).toBeInstanceOf(BlockedAddressError);
    expect(String(outcome)).toContain("hooks.example.com: resolves to a loopback address (127.0.0.1)");
  });

  it('with "loopback" connects to this machine but still refuses a name that resolves to a private address', async () => {
    expect(await attempt(`http://127.0.0.1:${port}/`, "loopback")).toBe("hello");
    expect(await attempt(`http://localhost:${port}/`, "loopback")).toBe("hello");
    const before = requestsSeen;
    const rebound: LookupFn = async () => [{ address: "10.0.0.9", family: 4 }];
    const outcome = await attempt(`http://hooks.example.com:${port}/`, "loopback", rebound);
    expect(outcome).toBeInstanceOf(BlockedAddressError);
    expect(String(outcome)).toContain("hooks.example.com: resolves to a private address (10.0.0.9)");
    expect(requestsSeen).toBe(before);
  });
});

describe("createGuardedDispatcher: happy", () => {
  it("connects to loopback when private addresses are allowed", async () => {
    expect(await attempt(`http://127.0.0.1:${port}/`, true)).toBe("hello");
    const loopbackV4: LookupFn = async () => [{ address: "127.0.0.1", family: 4 }];
    expect(await attempt(`http://localhost:${port}/`, true, loopbackV4)).toBe("hello");
  });

  it("connects through its lookup to whatever address it returns", async () => {
    const toLoopback: LookupFn = async () => [{ address: "127.0.0.1", family: 4 }];
    expect(await attempt(`http://hooks.example.com:${port}/`, true, toLoopback)).toBe("hello");
  });
});
