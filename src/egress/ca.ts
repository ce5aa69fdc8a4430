// @peculiar/x509 resolves its ASN.1 types through tsyringe, which needs the Reflect metadata API first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPrivateKey, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import { createSecureContext, type SecureContext } from "node:tls";

x509.cryptoProvider.set(webcrypto as Crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const HOUR = 3_600_000;
/** The CA outlives any one agent's run; leaves are short-lived and made again before they expire. */
const CA_LIFETIME = 365 * 24 * HOUR;
const LEAF_LIFETIME = 24 * HOUR;
/** Clocks inside and outside may differ a little. */
const BACKDATE = 5 * 60_000;
/** Hosts an agent talks to under a `*.domain` credential are many at most; beyond this the oldest leaf is made again when needed. */
const MAX_LEAVES = 256;

/** A CA as stored on the host (PEM), so a restarted daemon serves a running agent with the CA its sandbox trusts. */
export interface CaMaterial {
  key: string;
  cert: string;
}

/**
 * One agent's certificate authority: its certificate is trusted inside that
 * agent's sandbox only, its key never leaves paddock's host. It signs a
 * short-lived leaf per host the proxy terminates TLS for (only hosts with
 * credentials), with one leaf key per CA; leaves are cached until near expiry.
 */
export class AgentCa {
  private readonly leaves = new Map<string, { context: Promise<SecureContext>; expires: number }>();
  private leafKeys?: Promise<CryptoKeyPair>;

  private constructor(
    private readonly keys: CryptoKeyPair,
    private readonly certificate: x509.X509Certificate,
    private readonly pem: CaMaterial,
  ) {}

  static async create(agentId: string): Promise<AgentCa> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      name: [{ CN: [`paddock egress CA for agent ${agentId}`] }, { O: ["paddock"] }],
      keys,
      signingAlgorithm: ALGORITHM,
      notBefore: new Date(now - BACKDATE),
      notAfter: new Date(now + CA_LIFETIME),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
    return new AgentCa(keys, certificate, { key: toPem(pkcs8, "PRIVATE KEY"), cert: certificate.toString("pem") });
  }

  static async load(material: CaMaterial): Promise<AgentCa> {
    const certificate = new x509.X509Certificate(material.cert);
    const der = createPrivateKey(material.key).export({ format: "der", type: "pkcs8" });
    const privateKey = await webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"]);
    const publicKey = await certificate.publicKey.export(ALGORITHM, ["verify"]);
    return new AgentCa({ privateKey, publicKey }, certificate, material);
  }

  get material(): CaMaterial {
    return this.pem;
  }

  /** The TLS server context for `host`: a leaf for that name signed by this CA. */
  context(host: string): Promise<SecureContext> {
    const cached = this.leaves.get(host);
    if (cached && cached.expires - HOUR > Date.now()) return cached.context;
    this.leaves.delete(host);
    if (this.leaves.size >= MAX_LEAVES) this.leaves.delete(this.leaves.keys().next().value!);
    const expires = Date.now() + LEAF_LIFETIME;
    const context = this.leaf(host, expires);
    this.leaves.set(host, { context, expires });
    context.catch(() => this.leaves.delete(host));
    return context;
  }

  private async leaf(host: string, expires: number): Promise<SecureContext> {
    this.leafKeys ??= webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
    const leafKeys = await this.leafKeys;
    const certificate = await x509.X509CertificateGenerator.create({
      subject: [{ CN: [host] }],
      issuer: this.certificate.subject,
      publicKey: leafKeys.publicKey,
      signingKey: this.keys.privateKey,
      signingAlgorithm: ALGORITHM,
      notBefore: new Date(Date.now() - BACKDATE),
      notAfter: new Date(expires),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: isIP(host) ? "ip" : "dns", value: host }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    const key = toPem(Buffer.from(await webcrypto.subtle.exportKey("pkcs8", leafKeys.privateKey)), "PRIVATE KEY");
    return createSecureContext({ key, cert: certificate.toString("pem"), minVersion: "TLSv1.2" });
  }
}

function toPem(der: Buffer, label: string): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
