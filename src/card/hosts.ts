import { BlockList, isIP } from "node:net";
import { parse as parseDomain } from "tldts";

/**
 * One entry of a card's `allowed_hosts`:
 *   example.com          that name; port 80 for http, 443 for CONNECT/https
 *   example.com:8443     that name, that port only
 *   *.example.com        any subdomain (not example.com itself, not evilexample.com);
 *                        refused over a public suffix (*.com, *.co.uk: the Public
 *                        Suffix List's ICANN section), marked `shared` over a suffix
 *                        of its private section (*.github.io: anyone can publish there)
 *   *                    any public name on the default ports
 *   10.0.0.5, [::1]:8080, 10.0.0.0/8, 10.0.0.0/8:5432
 *                        an address or range, named explicitly: the only way to
 *                        reach a private, loopback or link-local address
 */
export type HostRule =
  | { kind: "name"; text: string; name: string; port?: number }
  | { kind: "suffix"; text: string; suffix: string; port?: number; shared?: boolean }
  | { kind: "any"; text: string; port?: number }
  | { kind: "address"; text: string; network: BlockList; port?: number };

export function parseHostRule(text: string): HostRule | string {
  const raw = text.trim().toLowerCase();
  let host = raw;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw);
  if (bracketed) {
    host = bracketed[1]!;
    port = bracketed[2] === undefined ? undefined : Number(bracketed[2]);
  } else if (!raw.includes("::")) {
    const m = /^(.*):(\d+)$/.exec(raw);
    if (m) [host, port] = [m[1]!, Number(m[2])];
  }
  if (port !== undefined && (port < 1 || port > 65535)) return `port ${port} is out of range`;
  const cidr = /^(.+)\/(\d{1,3})$/.exec(host);
  if (cidr || isIP(host)) {
    const address = cidr ? cidr[1]! : host;
    const family = isIP(address);
    const prefix = cidr ? Number(cidr[2]) : family === 6 ? 128 : 32;
    if (!family) return `'${address}' is not an IP address`;
    if (prefix > (family === 6 ? 128 : 32)) return `prefix /${prefix} is too long`;
    const network = new BlockList();
    network.addSubnet(address, prefix, family === 6 ? "ipv6" : "ipv4");
    return { kind: "address", text, network, port };
  }
  if (host === "*") return { kind: "any", text, port };
  const name = host.startsWith("*.") ? host.slice(2) : host;
  if (!/^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/.test(name)) {
    return `'${host}' is not a host name, *.domain, address or CIDR`;
  }
  if (!host.startsWith("*.")) return { kind: "name", text, name, port };
  const psl = parseDomain(name, { allowPrivateDomains: true });
  if (psl.publicSuffix === name && psl.isIcann) {
    return `'${host}' covers the public suffix '${name}': anyone can register a name under it, so this would allow a large part of the internet; name the hosts, or *.your-domain.${name}`;
  }
  return { kind: "suffix", text, suffix: name, port, ...(psl.publicSuffix === name && psl.isPrivate ? { shared: true } : {}) };
}
