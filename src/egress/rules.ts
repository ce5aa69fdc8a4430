import { isIP } from "node:net";
import { parseHostRule, type HostRule } from "../card/index.js";
import { addressFamily, memoizeByAddress, unmapped } from "./addresses.js";

/** How a target is asked for: a plain-HTTP request (default port 80) or a tunnel / https (default 443). */
export type Scheme = "http" | "tunnel";

const DEFAULT_PORT: Record<Scheme, number> = { http: 80, tunnel: 443 };

export class Allowlist {
  readonly rules: HostRule[];
  /** Per address rule: does it cover an address (remembered, see memoizeByAddress). */
  private readonly covers = new Map<HostRule, (address: string) => boolean>();

  constructor(entries: readonly string[]) {
    this.rules = entries.map((entry) => {
      const rule = parseHostRule(entry);
      if (typeof rule === "string") throw new Error(`allowed_hosts: ${entry}: ${rule}`);
      if (rule.kind === "address") this.covers.set(rule, memoizeByAddress((ip) => rule.network.check(ip, addressFamily(ip))));
      return rule;
    });
  }

  /** The rule that lets `host:port` be asked for, if any. `host` is already normalised (lower case, canonical IP). */
  match(host: string, port: number, scheme: Scheme): HostRule | undefined {
    const ip = isIP(unmapped(host)) ? unmapped(host) : undefined;
    return this.rules.find((rule) => {
      if ((rule.port ?? DEFAULT_PORT[scheme]) !== port) return false;
      switch (rule.kind) {
        case "address":
          return !!ip && this.covers.get(rule)!(ip);
        case "name":
          return !ip && rule.name === host;
        case "suffix":
          return !ip && host.endsWith(`.${rule.suffix}`);
        case "any":
          return true;
      }
    });
  }

  /** The explicit address rule that lets a resolved address be reached despite the SSRF guard. */
  exempts(address: string, port: number, scheme: Scheme): HostRule | undefined {
    const ip = unmapped(address);
    return this.rules.find((rule) => rule.kind === "address" && (rule.port ?? DEFAULT_PORT[scheme]) === port && this.covers.get(rule)!(ip));
  }
}
