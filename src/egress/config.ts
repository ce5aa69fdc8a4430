import { z } from "zod";
import { CredentialSchema, parseHostRule, uncoveredCredentials } from "../card/index.js";

const hostRule = z.string().superRefine((rule, ctx) => {
  const parsed = parseHostRule(rule);
  if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
});

const listenAddress = z.string().regex(/^(\[[^\]]+\]|[^:]+):\d{1,5}$/, "must be HOST:PORT");

/** `paddock egress serve --config FILE`: the proxy on TCP, for agents that are not on this host (Kubernetes pods). */
export const EgressConfigSchema = z.strictObject({
  listen: listenAddress.default("127.0.0.1:3128"),
  metrics_listen: listenAddress.optional().describe("Serve Prometheus /metrics here"),
  database: z.string().optional().describe("Where the audit is stored: a SQLite file or postgres://... (default: $PADDOCK_DATABASE_URL, else SQLite in paddock's data folder)"),
  audit_log: z.string().optional().describe("JSON-lines audit file"),
  resolve: z.record(z.string(), z.array(z.string())).default({}).describe("Pinned name resolutions, as curl's --resolve"),
  kube_secrets_dir: z.string().optional().describe("Where this proxy's Kubernetes Secrets are mounted (a folder per Secret, a file per key), for credentials with secret: { kube }"),
  agents: z
    .array(
      z
        .strictObject({
          agent_id: z.string().regex(/^[a-z0-9-]+$/),
          token_sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be the hex SHA-256 of the agent's token").optional(),
          token_file: z.string().optional().describe("File holding the agent's token"),
          allowed_hosts: z.array(hostRule).default([]),
          credentials: z.array(CredentialSchema).default([]).describe("As in an agent card: injected into requests to their hosts"),
          ca: z
            .strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1) })
            .optional()
            .describe("The agent's CA (PEM files, made by `paddock egress ca`): every replica of the proxy must hold the same one, and the agent's pod trusts its certificate"),
        })
        .refine((a) => !!a.token_sha256 !== !!a.token_file, { message: "give exactly one of token_sha256 and token_file" })
        .superRefine((agent, ctx) => {
          if (agent.credentials.length > 0 && !agent.ca) ctx.addIssue({ code: "custom", path: ["ca"], message: "is required with credentials (make one with `paddock egress ca`)" });
          for (const { index, message } of uncoveredCredentials(agent.allowed_hosts, agent.credentials)) ctx.addIssue({ code: "custom", path: ["credentials", index, "host"], message });
        }),
    )
    .default([]),
});

export type EgressConfig = z.output<typeof EgressConfigSchema>;
