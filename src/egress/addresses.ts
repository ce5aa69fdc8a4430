import { BlockList, isIP } from "node:net";

/** Ranges no agent reaches unless its card names the address explicitly; each with the reason a denial gives. */
const RANGES: Array<[string, number, "ipv4" | "ipv6", string]> = [
  ["0.0.0.0", 8, "ipv4", "unspecified"],
  ["10.0.0.0", 8, "ipv4", "private (RFC 1918)"],
  ["100.64.0.0", 10, "ipv4", "carrier-grade NAT (RFC 6598)"],
  ["127.0.0.0", 8, "ipv4", "loopback"],
  ["169.254.0.0", 16, "ipv4", "link-local (cloud metadata)"],
  ["172.16.0.0", 12, "ipv4", "private (RFC 1918)"],
  ["192.0.0.0", 24, "ipv4", "IETF protocol assignments"],
  ["192.0.2.0", 24, "ipv4", "documentation"],
  ["192.168.0.0", 16, "ipv4", "private (RFC 1918)"],
  ["198.18.0.0", 15, "ipv4", "benchmarking"],
  ["198.51.100.0", 24, "ipv4", "documentation"],
  ["203.0.113.0", 24, "ipv4", "documentation"],
  ["224.0.0.0", 4, "ipv4", "multicast"],
  ["240.0.0.0", 4, "ipv4", "reserved"],
  ["::", 128, "ipv6", "unspecified"],
  ["::1", 128, "ipv6", "loopback"],
  ["64:ff9b::", 96, "ipv6", "NAT64"],
  ["100::", 64, "ipv6", "discard"],
  ["2001:db8::", 32, "ipv6", "documentation"],
  ["fc00::", 7, "ipv6", "unique local (private)"],
  ["fe80::", 10, "ipv6", "link-local"],
  ["ff00::", 8, "ipv6", "multicast"],
];

const ranges = RANGES.map(([net, prefix, type, reason]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return { list, type, reason, range: `${net}/${prefix}` };
});

/** Every range in one list: one check per address on the hot path; the named range is looked up only on a hit. */
const anyRange = new BlockList();
for (const [net, prefix, type] of RANGES) anyRange.addSubnet(net, prefix, type);

/** ::ffff:a.b.c.d and ::ffff:XXXX:XXXX are IPv4 addresses in IPv6 dress: judge them as IPv4. */
export function unmapped(address: string): string {
  const lower = address.toLowerCase();
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const n = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16);
    return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
  }
  return address;
}

/**
 * Remembers a pure function of an address string: the same few origins come
 * back on every request, and BlockList allocates on each check. Bounded: cleared when full.
 */
export function memoizeByAddress<T>(fn: (address: string) => T, max = 4096): (address: string) => T {
  const seen = new Map<string, T>();
  return (address) => {
    if (seen.has(address)) return seen.get(address)!;
    if (seen.size >= max) seen.clear();
    const value = fn(address);
    seen.set(address, value);
    return value;
  };
}

/** Why an address must not be reached (e.g. "loopback 127.0.0.0/8"), or undefined for a public address. */
export const forbiddenRange = memoizeByAddress(rangeOf);

function rangeOf(address: string): string | undefined {
  const plain = unmapped(address);
  const family = isIP(plain);
  if (!family) return "not an IP address";
  const type = family === 6 ? "ipv6" : "ipv4";
  if (!anyRange.check(plain, type)) return undefined;
  const hit = ranges.find((l) => l.type === type && l.list.check(plain, type));
  return hit ? `${hit.reason} ${hit.range}` : undefined;
}

export function addressFamily(address: string): "ipv4" | "ipv6" {
  return isIP(unmapped(address)) === 6 ? "ipv6" : "ipv4";
}
