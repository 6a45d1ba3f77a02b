import { isIP } from "node:net";

/** Why an address may not receive webhooks. */
export type ForbiddenAddressKind =
  | "loopback"
  | "unspecified"
  | "private"
  | "link-local"
  | "carrier-grade NAT"
  | "cloud metadata"
  | "benchmarking"
  | "documentation"
  | "multicast"
  | "reserved";

type Range4 = readonly [base: number, prefix: number, kind: ForbiddenAddressKind];

// Most specific first: the first match names the kind.
const FORBIDDEN_V4: readonly Range4[] = [
  [ipv4("169.254.169.254"), 32, "cloud metadata"],
  [ipv4("100.100.100.200"), 32, "cloud metadata"], // Alibaba Cloud
  [ipv4("168.63.129.16"), 32, "cloud metadata"], // Azure WireServer, a public address reachable only inside Azure
  [ipv4("0.0.0.0"), 8, "unspecified"],
  [ipv4("10.0.0.0"), 8, "private"],
  [ipv4("100.64.0.0"), 10, "carrier-grade NAT"],
  [ipv4("127.0.0.0"), 8, "loopback"],
  [ipv4("169.254.0.0"), 16, "link-local"],
  [ipv4("172.16.0.0"), 12, "private"],
  [ipv4("192.0.0.0"), 24, "reserved"],
  [ipv4("192.0.2.0"), 24, "documentation"],
  [ipv4("192.88.99.0"), 24, "reserved"],
  [ipv4("192.168.0.0"), 16, "private"],
  [ipv4("198.18.0.0"), 15, "benchmarking"],
  [ipv4("198.51.100.0"), 24, "documentation"],
  [ipv4("203.0.113.0"), 24, "documentation"],
  [ipv4("224.0.0.0"), 4, "multicast"],
  [ipv4("240.0.0.0"), 4, "reserved"],
];

/** Parses canonical dotted-quad IPv4 (already validated by `isIP`) into an unsigned 32-bit number. */
function ipv4(address: string): number {
  let value = 0;
  for (const part of address.split(".")) value = value * 256 + Number(part);
  return value;
}

function kindOfV4(value: number): ForbiddenAddressKind | null {
  for (const [base, prefix, kind] of FORBIDDEN_V4) {
    const size = 2 ** (32 - prefix);
    if (value >= base && value < base + size) return kind;
  }
  return null;
}

/** Parses an IPv6 address (already validated by `isIP`, zone removed) into its eight 16-bit groups. */
function ipv6Groups(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (last.includes(".")) {
    const v4 = ipv4(last);
    text = `${text.slice(0, lastColon + 1)}${Math.floor(v4 / 65536).toString(16)}:${(v4 % 65536).toString(16)}`;
  }
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((group) => parseInt(group, 16)));
  const doubleColon = text.indexOf("::");
  let groups: number[];
  if (doubleColon === -1) {
    groups = parse(text);
  } else {
    const head = parse(text.slice(0, doubleColon));
    const rest = parse(text.slice(doubleColon + 2));
    const missing = 8 - head.length - rest.length;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  }
  return groups;
}

function embeddedV4(high: number | undefined, low: number | undefined): number {
  return (high ?? 0) * 65536 + (low ?? 0);
}

function kindOfV6(groups: readonly number[]): ForbiddenAddressKind | null {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;

  // Addresses that carry an IPv4 address are judged by it: the socket ends up talking IPv4 to that host.
  if (upperZero && g5 === 0xffff) return kindOfV4(embeddedV4(g6, g7)); // ::ffff:a.b.c.d, IPv4-mapped
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return kindOfV4(embeddedV4(g6, g7)); // 64:ff9b::/96, well-known NAT64 prefix
  }
  if (g0 === 0x2002) return kindOfV4(embeddedV4(g1, g2)); // 6to4, 2002::/16
  if (upperZero && g5 === 0 && g6 === 0) {
    if (g7 === 0) return "unspecified";
    if (g7 === 1) return "loopback";
  }
  if (g0 === 0xfd00 && g1 === 0x0ec2 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 0x254) {
    return "cloud metadata"; // AWS IMDS over IPv6
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return "private"; // 64:ff9b:1::/48, local-use NAT64
  if ((g0 & 0xfe00) === 0xfc00) return "private"; // fc00::/7, unique local
  if ((g0 & 0xffc0) === 0xfe80) return "link-local"; // fe80::/10
  if ((g0 & 0xff00) === 0xff00) return "multicast"; // ff00::/8
  if (g0 === 0x2001 && g1 === 0x0db8) return "documentation"; // 2001:db8::/32
  if ((g0 & 0xfff0) === 0x3ff0) return "documentation"; // 3fff::/20
  if (g0 === 0x2001 && g1 < 0x0200) return "reserved"; // 2001::/23: Teredo, benchmarking, ORCHID and kin
  // Only 2000::/3 is global unicast; everything else (::/8 leftovers, deprecated site-local, ...) is not a
  // place a public webhook receiver can live.
  if ((g0 & 0xe000) !== 0x2000) return "reserved";
  return null;
}

/**
 * Why an IP address may not receive webhooks, or `null` when it is an ordinary public address. IPv4-mapped,
 * NAT64 (64:ff9b::/96) and 6to4 IPv6 addresses are judged by the IPv4 address they carry. Documentation
 * ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20) are refused. Accepts an
 * IPv6 address with or without brackets and zone. Anything that is not an IP address is `null`.
 */
export function forbiddenAddressKind(ip: string): ForbiddenAddressKind | null {
  let address = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const zone = address.indexOf("%");
  if (zone !== -1) address = address.slice(0, zone);
  const version = isIP(address);
  if (version === 4) return kindOfV4(ipv4(address));
  if (version === 6) return kindOfV6(ipv6Groups(address.toLowerCase()));
  return null;
}

/**
 * Whether a webhook may not be delivered to this IP address: loopback, unspecified, private, link-local,
 * carrier-grade NAT, cloud metadata, benchmarking, documentation, multicast or reserved. See
 * {@link forbiddenAddressKind}.
 */
export function isForbiddenAddress(ip: string): boolean {
  return forbiddenAddressKind(ip) !== null;
}

/** A user-facing description such as "a private address (10.0.0.5)". */
export function describeForbiddenAddress(ip: string, kind: ForbiddenAddressKind): string {
  const article = /^[aeiou]/.test(kind) ? "an" : "a";
  return `${article} ${kind} address (${ip})`;
}
