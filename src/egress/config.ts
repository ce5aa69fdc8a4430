import { z } from "zod";
import { parseHostRule } from "../card/index.js";

const hostRule = z.string().superRefine((rule, ctx) => {
  const parsed = parseHostRule(rule);
  if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
});

const listenAddress = z.string().regex(/^(\[[^\]]+\]|[^:]+):\d{1,5}$/, "must be HOST:PORT");

/** `paddock egress serve --config FILE`: the proxy on TCP, for agents that are not on this host (Kubernetes pods). */
export const EgressConfigSchema = z.strictObject({
  listen: listenAddress.default("127.0.0.1:3128"),
  metrics_listen: listenAddress.optional().describe("Serve Prometheus /metrics here"),
  database: z.string().optional().describe("SQLite file for the audit (default: paddock's data folder)"),
  audit_log: z.string().optional().describe("JSON-lines audit file"),
  resolve: z.record(z.string(), z.array(z.string())).default({}).describe("Pinned name resolutions, as curl's --resolve"),
  agents: z
    .array(
      z
        .strictObject({
          agent_id: z.string().regex(/^[a-z0-9-]+$/),
          token_sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be the hex SHA-256 of the agent's token").optional(),
          token_file: z.string().optional().describe("File holding the agent's token"),
          allowed_hosts: z.array(hostRule).default([]),
        })
        .refine((a) => !!a.token_sha256 !== !!a.token_file, { message: "give exactly one of token_sha256 and token_file" }),
    )
    .default([]),
});

export type EgressConfig = z.output<typeof EgressConfigSchema>;
