import { existsSync, readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";

/** Debian's (and most distributions') bundle of the host's trusted CAs. */
export const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * What origins reached over TLS are verified against: the host's trust store
 * (where the host has one, else Node's own list), plus the certificates in
 * `extraFile` (PADDOCK_EGRESS_UPSTREAM_CA: a private CA, or a test's).
 */
export function upstreamTrust(extraFile = process.env.PADDOCK_EGRESS_UPSTREAM_CA): string[] | undefined {
  const extra = extraFile ? [readFileSync(extraFile, "utf8")] : [];
  if (existsSync(HOST_CA_BUNDLE)) return [readFileSync(HOST_CA_BUNDLE, "utf8"), ...extra];
  return extra.length > 0 ? [...rootCertificates, ...extra] : undefined;
}
