import { lookup as dnsLookup } from "node:dns/promises";
import { isIP, type LookupFunction } from "node:net";
import { Agent, buildConnector, type Dispatcher } from "undici";
import { describeForbiddenAddress, type ForbiddenAddressKind, forbiddenAddressKind } from "./address";

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every address it has; rejects when it does not resolve. */
export type LookupFn = (hostname: string) => Promise<ResolvedAddress[]>;

/** Outcome of {@link checkWebhookUrl}; `reason` is short and meant for the user who registered the URL. */
export type WebhookUrlCheck = { ok: true } | { ok: false; reason: string };

/**
 * `ALLOW_PRIVATE_WEBHOOK_URLS`: `true` accepts every address (development and tests), `"loopback"`
 * only this machine besides public addresses (127.0.0.0/8, ::1 and `localhost`: what `npm start`
 * allows in development, so a receiver on the developer's machine works), `false` public addresses only.
 */
export type PrivateWebhookUrls = boolean | "loopback";

/** Options of {@link checkWebhookUrl}. */
export interface CheckWebhookUrlOptions {
  /** `ALLOW_PRIVATE_WEBHOOK_URLS`: accept any http(s) URL, or loopback ones too (see {@link PrivateWebhookUrls}). */
  allowPrivate: PrivateWebhookUrls;
  /** Name resolution; default `dns.lookup` with `{ all: true, verbatim: true }`. */
  lookup?: LookupFn;
  /**
   * Refuse names that do not resolve. Default false: DNS may be down for a moment, and every delivery
   * checks the addresses again when it connects.
   */
  requireResolvable?: boolean;
}

/** Options of {@link createGuardedDispatcher}. */
export interface GuardedDispatcherOptions {
  /** `ALLOW_PRIVATE_WEBHOOK_URLS`: connect to any address, or loopback ones too (see {@link PrivateWebhookUrls}). */
  allowPrivate: PrivateWebhookUrls;
  /** Connect, headers and body timeouts, each. */
  timeoutMs: number;
  /** Name resolution; default `dns.lookup` with `{ all: true, verbatim: true }`. */
  lookup?: LookupFn;
}

/**
 * The connection was refused because the host is, or resolves to, an address webhooks may not reach.
 * `detail` reads like "resolves to a private address (10.0.0.5)".
 */
export class BlockedAddressError extends Error {
  readonly hostname: string;
  readonly address: string;
  readonly kind: ForbiddenAddressKind;
  readonly detail: string;

  constructor(hostname: string, address: string, kind: ForbiddenAddressKind) {
    const detail = `${hostname === address ? "is" : "resolves to"} ${describeForbiddenAddress(address, kind)}`;
    super(`Refused to connect to ${hostname}: ${detail}`);
    this.name = "BlockedAddressError";
    this.hostname = hostname;
    this.address = address;
    this.kind = kind;
    this.detail = detail;
  }
}

const defaultLookup: LookupFn = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

// Names that only ever mean "this machine" or "this private network", whatever DNS says today.
const INTERNAL_NAMES = ["localhost", "localhost.localdomain"];
const INTERNAL_SUFFIXES = [".localhost", ".internal", ".local", ".home.arpa"];

function isInternalHostname(hostname: string): boolean {
  return INTERNAL_NAMES.includes(hostname) || INTERNAL_SUFFIXES.some((suffix) => hostname.endsWith(suffix));
}

// Names that always mean this machine (RFC 6761): allowed with "loopback", checked again at connect time.
function isLoopbackHostname(hostname: string): boolean {
  return hostname === "localhost" || hostname === "localhost.localdomain" || hostname.endsWith(".localhost");
}

/** Why `address` may not be reached under `policy`, or null when it may. */
function forbiddenUnder(address: string, policy: PrivateWebhookUrls): ForbiddenAddressKind | null {
  if (policy === true) return null;
  const kind = forbiddenAddressKind(address);
  return policy === "loopback" && kind === "loopback" ? null : kind;
}

function firstForbidden(
  addresses: readonly ResolvedAddress[],
  policy: PrivateWebhookUrls,
): { address: string; kind: ForbiddenAddressKind } | null {
  for (const { address } of addresses) {
    const kind = forbiddenUnder(address, policy);
    if (kind !== null) return { address, kind };
  }
  return null;
}

/**
 * Decides whether a webhook URL may be registered: an absolute http(s) URL without credentials and, unless
 * `allowPrivate`, whose host is not an internal name (`localhost`, `*.internal`, ...), not a forbidden IP
 * literal, and does not resolve to any forbidden address (see `isForbiddenAddress`). Never throws.
 *
 * Registration-time checks alone cannot stop DNS rebinding; deliveries must also go through
 * {@link createGuardedDispatcher}.
 */
export async function checkWebhookUrl(url: string, options: CheckWebhookUrlOptions): Promise<WebhookUrlCheck> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: "is not a valid absolute URL" };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return { ok: false, reason: "must use http or https" };
  }
  if (parsed.username !== "" || parsed.password !== "") {
    return { ok: false, reason: "must not contain a username or password" };
  }
  if (options.allowPrivate === true) return { ok: true };

  // WHATWG URL parsing already normalised odd IPv4 forms (0x7f.1, 2130706433) to dotted quads.
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1").replace(/\.+$/, "");
  if (isIP(hostname) !== 0) {
    const kind = forbiddenUnder(hostname, options.allowPrivate);
    return kind === null ? { ok: true } : { ok: false, reason: `is ${describeForbiddenAddress(hostname, kind)}` };
  }
  if (options.allowPrivate === "loopback" && isLoopbackHostname(hostname)) return { ok: true };
  if (isInternalHostname(hostname)) {
    return { ok: false, reason: `points to an internal host name (${hostname})` };
  }

  let addresses: ResolvedAddress[];
  try {
    addresses = await (options.lookup ?? defaultLookup)(hostname);
  } catch {
    addresses = [];
  }
  if (addresses.length === 0) {
    return options.requireResolvable === true ? { ok: false, reason: "does not resolve" } : { ok: true };
  }
  const forbidden = firstForbidden(addresses, options.allowPrivate);
  if (forbidden !== null) {
    return { ok: false, reason: `resolves to ${describeForbiddenAddress(forbidden.address, forbidden.kind)}` };
  }
  return { ok: true };
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** A `net.connect` lookup that resolves with `resolve` and, unless allowed, refuses forbidden addresses. */
function createGuardedLookup(resolve: LookupFn, allowPrivate: PrivateWebhookUrls): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (all) => {
        const addresses =
          options.family === 4 || options.family === 6 ? all.filter((a) => a.family === options.family) : all;
        const first = addresses[0];
        if (first === undefined) {
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), "");
          return;
        }
        // Every address is checked, not only the first: with autoSelectFamily the socket may try any of them.
        const forbidden = firstForbidden(addresses, allowPrivate);
        if (forbidden !== null) {
          callback(new BlockedAddressError(hostname, forbidden.address, forbidden.kind), "");
        } else if (options.all === true) {
          callback(null, addresses);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: unknown) => callback(toError(error), ""),
    );
  };
}

/**
 * An undici dispatcher for webhook deliveries. Unless `allowPrivate`, it refuses to connect to a forbidden
 * address: the addresses it checks are the ones the socket connects to, so a DNS answer that changes between
 * {@link checkWebhookUrl} and delivery (DNS rebinding) cannot reach a private network. IP-literal hosts, which
 * `net.connect` never looks up, are checked before connecting. The connection then fails with a
 * {@link BlockedAddressError}. Connect, headers and body timeouts are `timeoutMs` each.
 */
export function createGuardedDispatcher(options: GuardedDispatcherOptions): Dispatcher {
  const lookup = createGuardedLookup(options.lookup ?? defaultLookup, options.allowPrivate);
  const connectBase = buildConnector({ timeout: options.timeoutMs, lookup });
  const connect: buildConnector.connector = (connectOptions, callback) => {
    const host = connectOptions.hostname;
    if (isIP(host) !== 0) {
      const kind = forbiddenUnder(host, options.allowPrivate);
      if (kind !== null) {
        callback(new BlockedAddressError(host, host, kind), null);
        return;
      }
    }
    connectBase(connectOptions, callback);
  };
  return new Agent({ connect, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
}
