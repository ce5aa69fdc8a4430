import { z } from "zod";

/** One egress decision, as stored and as written to the JSON-lines audit log. */
export const EgressRecordSchema = z.object({
  time: z.iso.datetime(),
  agent_id: z.string(),
  method: z.string(),
  host: z.string(),
  port: z.number().int(),
  /** The address connected to (or that was refused), after resolution. */
  address: z.string().nullable(),
  decision: z.enum(["allowed", "denied"]),
  /** The allowlist rule that allowed it, or the one the request failed. */
  rule: z.string().nullable(),
  /** Machine-readable reason: allowed, not_allowed, blocked_address, dns_failed, ... */
  reason: z.string(),
  /** HTTP status paddock answered with (for tunnels: 200 once established). */
  status: z.number().int().nullable(),
  bytes_up: z.number().int(),
  bytes_down: z.number().int(),
  duration_ms: z.number(),
});

export type EgressRecord = z.infer<typeof EgressRecordSchema>;

export interface EgressQuery {
  agentId?: string;
  deniedOnly?: boolean;
  /** ISO time: only records at or after it. */
  since?: string;
  /** Newest N records (returned oldest first). */
  limit?: number;
}
