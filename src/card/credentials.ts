import { z } from "zod";
import { parseHostRule, type HostRule } from "./hosts.js";

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");

/** Where the `${secret}` goes; CR and LF would let a value start a header of its own. */
const template = z
  .string()
  .refine((v) => v.includes("${secret}"), "must contain ${secret}, where the secret goes")
  .refine((v) => !/[\r\n\0]/.test(v), "may not contain CR, LF or NUL");

/** A credential's host: a name or *.domain (optionally :port); the proxy needs a name to make a certificate for. */
const credentialHost = z.string().min(1).superRefine((text, ctx) => {
  const rule = parseHostRule(text);
  if (typeof rule === "string") ctx.addIssue({ code: "custom", message: rule });
  else if (rule.kind !== "name" && rule.kind !== "suffix") ctx.addIssue({ code: "custom", message: `must be a host name or *.domain (a credential is tied to names its certificate can carry), not '${text}'` });
});

export const CredentialSecretSchema = z.union([
  z.strictObject({ file: z.string().min(1).describe("A file on paddock's host (never mounted into the sandbox); re-read on every request, so rotating it needs no restart") }),
  z.strictObject({ env: envName.describe("A variable of the environment paddock (the daemon, for spawned agents) runs in") }),
  z.strictObject({
    kube: z
      .strictObject({ secret: z.string().min(1), key: z.string().min(1) })
      .describe("A key of a Kubernetes Secret mounted into the egress proxy only (its kube_secrets_dir), never into agent pods"),
  }),
]);

export const CredentialSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 letters, digits, '_', '.' or '-'")
    .optional()
    .describe("How audit records name this credential (default: its placeholder variable, else its host); never its value"),
  host: credentialHost.describe("Where it is injected: a name (api.github.com) or *.domain, with :port if not 443; must be covered by allowed_hosts"),
  inject: z
    .union([
      z.strictObject({
        header: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name").describe("Header set on every request to the host (replacing whatever the agent sent)"),
        value: template.describe('Its value, e.g. "Bearer ${secret}"'),
      }),
      z.strictObject({
        basic: z.strictObject({ user: z.string().refine((u) => !/[:\r\n\0]/.test(u), "may not contain ':', CR, LF or NUL"), password: template }),
      }).describe("Authorization: Basic base64(user:password), as git and registries use"),
    ])
    .describe("How the secret goes into requests to the host"),
  secret: CredentialSecretSchema.describe("Where paddock reads the secret; the sandbox only ever sees a placeholder"),
  placeholder_env: envName.optional().describe("A variable set inside the sandbox to a placeholder (for tools that refuse to start without a token); the proxy replaces it on the way out"),
});

export type Credential = z.output<typeof CredentialSchema>;

/** The name audit records give a credential. */
export function credentialName(credential: Credential): string {
  return credential.name ?? credential.placeholder_env ?? credential.host;
}

/** Problems of credentials against the allowlist beside them (a card's, or an agent's in the standalone proxy's config). */
export function uncoveredCredentials(allowedHosts: readonly string[], credentials: readonly Credential[]): Array<{ index: number; message: string }> {
  return credentials.flatMap((credential, index) => (hostCovered(allowedHosts, credential.host) === false ? [{ index, message: `'${credential.host}' is not covered by allowed_hosts: add "${credential.host}" there too` }] : []));
}

/** Whether allowed_hosts lets the agent reach every host of a rule (name, name:port, *.domain); undefined for a rule that does not parse. */
export function hostCovered(allowedHosts: readonly string[], host: string): boolean | undefined {
  const wanted = parseHostRule(host);
  if (typeof wanted === "string") return undefined;
  return allowedHosts.map(parseHostRule).some((rule) => typeof rule !== "string" && ruleCovers(rule, wanted));
}

/** Whether an allowlist rule lets the agent reach every host a credential rule covers (on the credential's port, 443 by default). */
function ruleCovers(rule: HostRule, credential: HostRule): boolean {
  if ((rule.port ?? 443) !== (credential.port ?? 443)) return false;
  if (rule.kind === "any") return true;
  if (credential.kind === "name") return (rule.kind === "name" && rule.name === credential.name) || (rule.kind === "suffix" && credential.name.endsWith(`.${rule.suffix}`));
  if (credential.kind === "suffix") return rule.kind === "suffix" && (rule.suffix === credential.suffix || credential.suffix.endsWith(`.${rule.suffix}`));
  return false;
}
