import { describe, expect, it } from "vitest";
import { forbiddenAddressKind, isForbiddenAddress } from "./address";
import { checkWebhookUrl, type LookupFn } from "./ssrf";

const resolvesTo =
  (...addresses: string[]): LookupFn =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));

const doesNotResolve: LookupFn = async (hostname) => {
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
};

describe("isForbiddenAddress", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "cloud metadata"],
    ["169.254.1.1", "link-local"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["0.0.0.0", "unspecified"],
    ["198.18.0.1", "benchmarking"],
    ["192.0.2.10", "documentation"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["fd00:ec2::254", "cloud metadata"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:a00:1", "private"],
    ["::ffff:169.254.169.254", "cloud metadata"],
    ["64:ff9b::a00:1", "private"],
    ["64:ff9b::7f00:1", "loopback"],
    ["2002:a00:1::", "private"],
    ["2001:db8::1", "documentation"],
    ["::127.0.0.1", "reserved"],
    ["[::1]", "loopback"],
  ])("refuses %s (%s)", (ip, kind) => {
    expect(isForbiddenAddress(ip)).toBe(true);
    expect(forbiddenAddressKind(ip)).toBe(kind);
  });

  it.each([
    "172.32.0.1",
    "172.15.255.255",
    "8.8.8.8",
    "1.1.1.1",
    "100.128.0.1",
    "2606:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
  ])("allows %s", (ip) => {
    expect(isForbiddenAddress(ip)).toBe(false);
  });

  it("does not treat host names as addresses", () => {
    expect(isForbiddenAddress("example.com")).toBe(false);
  });
});

describe("checkWebhookUrl: security", () => {
  const publicLookup = resolvesTo("93.184.215.14");

  it.each([
    ["http://127.0.0.1/x", "is a loopback address (127.0.0.1)"],
    ["http://10.0.0.1/", "is a private address (10.0.0.1)"],
    ["http://169.254.169.254/latest/meta-data", "is a cloud metadata address (169.254.169.254)"],
    ["http://[::1]:8080/", "is a loopback address (::1)"],
    ["http://[::ffff:10.0.0.1]/", "is a private address (::ffff:a00:1)"],
    ["http://2130706433/", "is a loopback address (127.0.0.1)"],
    ["http://0x7f.1/", "is a loopback address (127.0.0.1)"],
    ["http://localhost:3000/", "points to an internal host name (localhost)"],
    ["http://LOCALHOST./", "points to an internal host name (localhost)"],
    ["http://api.localhost/", "points to an internal host name (api.localhost)"],
    [
      "http://metadata.google.internal/computeMetadata/v1/",
      "points to an internal host name (metadata.google.internal)",
    ],
    ["http://user:pw@example.com/", "must not contain a username or password"],
    ["https://token@example.com/", "must not contain a username or password"],
    ["ftp://example.com/", "must use http or https"],
    ["file:///etc/passwd", "must use http or https"],
    ["/relative/path", "is not a valid absolute URL"],
  ])("refuses %s", async (url, reason) => {
    expect(await checkWebhookUrl(url, { allowPrivate: false, lookup: publicLookup })).toEqual({ ok: false, reason });
  });

  it("refuses a host name that resolves to a private address", async () => {
    const lookup: LookupFn = async () => [{ address: "10.0.0.7", family: 4 }];
    expect(await checkWebhookUrl("https://hooks.example.com/in", { allowPrivate: false, lookup })).toEqual({
      ok: false,
      reason: "resolves to a private address (10.0.0.7)",
    });
  });

  it("refuses a host name with any forbidden address among public ones", async () => {
    const lookup = resolvesTo("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "fd00:ec2::254");
    expect(await checkWebhookUrl("https://hooks.example.com/in", { allowPrivate: false, lookup })).toEqual({
      ok: false,
      reason: "resolves to a cloud metadata address (fd00:ec2::254)",
    });
  });
});

describe("checkWebhookUrl: happy", () => {
  it("accepts a host name that resolves only to public addresses", async () => {
    const lookup = resolvesTo("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c");
    expect(await checkWebhookUrl("https://hooks.example.com/in?x=1", { allowPrivate: false, lookup })).toEqual({
      ok: true,
    });
  });

  it("accepts public IP literals without resolving them", async () => {
    expect(await checkWebhookUrl("http://8.8.8.8/", { allowPrivate: false, lookup: doesNotResolve })).toEqual({
      ok: true,
    });
    expect(
      await checkWebhookUrl("https://[2606:4700::1111]/", { allowPrivate: false, lookup: doesNotResolve }),
    ).toEqual({ ok: true });
  });

  it("accepts an unresolvable name unless asked to require resolution", async () => {
    const url = "https://not-yet.example.com/";
    expect(await checkWebhookUrl(url, { allowPrivate: false, lookup: doesNotResolve })).toEqual({ ok: true });
    expect(
      await checkWebhookUrl(url, { allowPrivate: false, lookup: doesNotResolve, requireResolvable: true }),
    ).toEqual({ ok: false, reason: "does not resolve" });
  });

  it("with allowPrivate accepts every http(s) URL, but still not credentials or other schemes", async () => {
    const lookup = resolvesTo("10.0.0.7");
    for (const url of ["http://127.0.0.1/x", "http://localhost:3000/", "http://[::1]:8080/", "https://a.internal/"]) {
      expect(await checkWebhookUrl(url, { allowPrivate: true, lookup })).toEqual({ ok: true });
    }
    expect(await checkWebhookUrl("https://hooks.example.com/", { allowPrivate: true, lookup })).toEqual({ ok: true });
    expect((await checkWebhookUrl("http://u:p@localhost/", { allowPrivate: true })).ok).toBe(false);
    expect((await checkWebhookUrl("ftp://localhost/", { allowPrivate: true })).ok).toBe(false);
  });

  it('with allowPrivate "loopback" accepts this machine only', async () => {
    const loopback = { allowPrivate: "loopback" as const, lookup: resolvesTo("127.0.0.1", "::1") };
    for (const url of [
      "http://127.0.0.1:3901/x",
      "http://127.8.9.1/",
      "http://[::1]:8080/",
      "http://localhost:3000/",
    ]) {
      expect(await checkWebhookUrl(url, loopback)).toEqual({ ok: true });
    }
    expect(await checkWebhookUrl("http://my.example.com/", loopback)).toEqual({ ok: true });
    const refused: [string, LookupFn, string][] = [
      ["http://10.0.0.7/", doesNotResolve, "is a private address (10.0.0.7)"],
      ["http://169.254.169.254/", doesNotResolve, "is a cloud metadata address (169.254.169.254)"],
      ["http://[fd00::1]/", doesNotResolve, "is a private address (fd00::1)"],
      ["https://a.internal/", resolvesTo("93.184.215.14"), "points to an internal host name (a.internal)"],
      ["https://hooks.example.com/", resolvesTo("127.0.0.1", "10.0.0.7"), "resolves to a private address (10.0.0.7)"],
    ];
    for (const [url, lookup, reason] of refused) {
      expect(await checkWebhookUrl(url, { allowPrivate: "loopback", lookup })).toEqual({ ok: false, reason });
    }
  });
});
