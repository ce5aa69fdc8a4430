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
  /** The credential the proxy injected into the request, or the one whose placeholder or secret it refused to let out (its name, never its value). */
  credential: z.string().nullable(),
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

/** What egress decisions are counted by: the agent, the decision, where they went, why, and a time bucket. */
export const EGRESS_GROUPS = ["agent_id", "decision", "host", "port", "reason", "bucket"] as const;
export type EgressGroup = (typeof EGRESS_GROUPS)[number];

/** Egress decisions counted per group, from `since`; `bucket` is the start (Unix seconds) of a `bucketSeconds` span. */
export interface EgressSummaryQuery {
  by: EgressGroup[];
  agentId?: string;
  decision?: "allowed" | "denied";
  since?: string;
  bucketSeconds?: number;
  /** The largest groups first, this many (default: all, in the groups' order). */
  top?: number;
}

export interface EgressSummary {
  agent_id?: string;
  decision?: "allowed" | "denied";
  host?: string;
  port?: number;
  reason?: string;
  bucket?: number;
  requests: number;
  bytes_down: number;
  /** The last decision's time, and a rule and an address of the group (the same for a group by host and reason). */
  last: string;
  rule: string | null;
  address: string | null;
}

/** A gateway virtual key, as LiteLLM's /key endpoints describe it; only its SHA-256 is stored. */
export const KeyRecordSchema = z.object({
  token_hash: z.string(),
  /** The key's first and last characters, to recognise it in listings. */
  key_name: z.string(),
  key_alias: z.string().nullable(),
  /** Model names it may call; empty: all. */
  models: z.array(z.string()),
  max_budget: z.number().nullable(),
  spend: z.number(),
  rpm_limit: z.number().int().nullable(),
  tpm_limit: z.number().int().nullable(),
  expires: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  user_id: z.string().nullable(),
  team_id: z.string().nullable(),
  created_at: z.string(),
  blocked: z.boolean(),
  /** LiteLLM's budget window ("30d"): at budget_reset_at the key's spend and tokens_used go back to 0 and the next window starts. */
  budget_duration: z.string().nullable(),
  budget_reset_at: z.string().nullable(),
  /** paddock's token budget (input + output, per window): local models cost 0 USD, so a USD budget never bites on them. */
  max_tokens_budget: z.number().int().nullable(),
  tokens_used: z.number(),
});

export type KeyRecord = z.infer<typeof KeyRecordSchema>;

/** One gateway request, as billed. */
export const UsageRecordSchema = z.object({
  time: z.string(),
  token_hash: z.string().nullable(),
  agent_id: z.string().nullable(),
  model: z.string(),
  deployment: z.string().nullable(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cost: z.number(),
  latency_ms: z.number(),
  status: z.number().int(),
  capped: z.boolean(),
  stream: z.boolean(),
});

export type UsageRecord = z.infer<typeof UsageRecordSchema>;

/** How usage is summed: per agent, per key (named by its alias, else its masked name), per key's hash, per model, per UTC day or hour. */
export const USAGE_GROUPS = ["agent", "key", "key_hash", "model", "day", "hour"] as const;

/** One group's usage (and, with `within`, one subgroup's of it): requests, tokens and cost. */
export const UsageSummarySchema = z.object({
  group: z.string().nullable(),
  subgroup: z.string().nullable().optional(),
  requests: z.number(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  cost: z.number(),
  /** Requests the gateway refused for a rate limit (429). */
  rate_limited: z.number(),
});

export type UsageSummary = z.infer<typeof UsageSummarySchema>;
export type UsageGroup = (typeof USAGE_GROUPS)[number];
/** Usage from `since` (inclusive) to `until` (exclusive), ISO 8601; optionally one key's only. */
export type UsageSummaryQuery = { by: UsageGroup; within?: UsageGroup; since?: string; until?: string; tokenHash?: string; agentId?: string };

/** Usage rows one page at a time, newest first, with how many match in all. */
export type UsagePageQuery = { tokenHash?: string; agentId?: string; model?: string; since?: string; until?: string; offset: number; limit: number };
export type UsagePage = { rows: Array<UsageRecord & { id: number }>; total: number };

/** States an agent passes through; the last three are final. */
export const AGENT_STATES = ["starting", "running", "restarting", "stopping", "exited", "failed", "stopped"] as const;
export const FINAL_STATES: ReadonlyArray<(typeof AGENT_STATES)[number]> = ["exited", "failed", "stopped"];

/** One agent as the supervisor keeps it: the card as it was at spawn, and where its process is. */
export const AgentRecordSchema = z.object({
  agent_id: z.string(),
  kind: z.string(),
  state: z.enum(AGENT_STATES),
  /** The card as validated at spawn: later edits of the file do not reach a running agent. */
  card: z.record(z.string(), z.unknown()),
  card_path: z.string().nullable(),
  sandbox: z.string().nullable(),
  pid: z.number().int().nullable(),
  /** The runtime process's start time (/proc/PID/stat, field 22): with the pid and the cgroup, it proves a process is this agent's. */
  pid_start: z.string().nullable(),
  /** The agent's egress socket, kept so a restarted daemon serves the agent at the same place. */
  egress_socket: z.string().nullable(),
  log_path: z.string(),
  restarts: z.number().int(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  ended_at: z.string().nullable(),
  /** The last exit report (cause, code, signal, duration). */
  exit: z.record(z.string(), z.unknown()).nullable(),
  error: z.string().nullable(),
});

export type AgentRecord = z.infer<typeof AgentRecordSchema>;

/** Which evaluation a run belongs to, as which candidate (its name, its card's agent id) and which of its repeats. */
export const CandidateRunSchema = z.object({
  eval_id: z.string(),
  name: z.string(),
  card: z.string(),
  repeat: z.number().int(),
  /** How its result was obtained: asked for in the prompt, or enforced on the wire by a schema. */
  contract: z.enum(["prompt", "schema"]).optional(),
});

/** One one-shot task (`paddock run`, an A2A task): what was asked, each attempt, and how it ended. */
export const RunRecordSchema = z.object({
  run_id: z.string(),
  agent_id: z.string(),
  state: z.enum(["queued", "running", "finished"]),
  prompt: z.string(),
  model: z.string().nullable(),
  /** The contract's outcome; ERROR also when paddock could not get one. */
  outcome: z.enum(["COMPLETE", "NEEDS_INFO", "ERROR"]).nullable(),
  summary: z.string().nullable(),
  questions: z.array(z.string()),
  /** The role the task was done in (paddock.yaml's roles), if any. */
  role: z.string().optional(),
  /** The named parts of the result a role asks for (its `sections`), as the agent wrote them. */
  sections: z.record(z.string(), z.string()).optional(),
  /** The contract was extracted from the narrative by the structurer, not written by the agent. */
  recovered: z.boolean(),
  attempts: z.array(
    z.object({
      started_at: z.string(),
      duration_ms: z.number(),
      exit: z.record(z.string(), z.unknown()).nullable(),
      /** parsed, structured (recovered), unparsed, fatal, timeout, inactive */
      result: z.string(),
      stdout_bytes: z.number().int(),
    }),
  ),
  /** Why the run failed, when it did: category (Network, Auth, Config, Path, Model, RateLimit, Timeout, Contract), evidence, hint. */
  error: z.object({ category: z.string(), message: z.string(), hint: z.string() }).nullable(),
  changed_files: z.array(z.object({ path: z.string(), status: z.string() })),
  /** What of the workspace could not be read when its changes were computed (absent: all of it was). */
  workspace_notes: z.array(z.string()).optional(),
  /** The verification command's runs after the agent reported COMPLETE (one per attempt at it), when the task had one. */
  verifications: z
    .array(
      z.object({
        command: z.string(),
        passed: z.boolean(),
        exit_code: z.number().int().nullable(),
        /** The end of what it printed (stdout, then stderr). */
        output_tail: z.string(),
        duration_ms: z.number(),
        timed_out: z.boolean(),
      }),
    )
    .optional(),
  /** When files changed: the workspace's git diff against HEAD after the run, read in an inspection sandbox (cut at RUN_DIFF_MAX_BYTES). */
  diff: z.object({ text: z.string(), truncated: z.boolean() }).optional(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  requests: z.number().int(),
  /** What the run's model requests cost (USD, by the deployments' token prices; 0 for local models). */
  cost: z.number().optional(),
  /** The run was one candidate's in a `paddock eval`. */
  candidate: CandidateRunSchema.optional(),
  duration_ms: z.number().nullable(),
  /** The agent's output of every attempt (and the structurer's), in order. */
  conversation: z.string(),
  created_at: z.string(),
  ended_at: z.string().nullable(),
});

export type RunRecord = z.infer<typeof RunRecordSchema>;

/** A run keeps at most this much of its diff. */
export const RUN_DIFF_MAX_BYTES = 1 << 20;

/** A run as a list shows it: what a row needs, read out of the record by the database (never its conversation). */
export const RunSummarySchema = z.object({
  run_id: z.string(),
  agent_id: z.string(),
  created_at: z.string(),
  state: RunRecordSchema.shape.state,
  outcome: RunRecordSchema.shape.outcome,
  model: z.string().nullable(),
  /** The prompt's first PROMPT_HEAD characters. */
  prompt: z.string(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  requests: z.number(),
  duration_ms: z.number().nullable(),
  /** How many files the run changed. */
  changed_files: z.number(),
  ended_at: z.string().nullable(),
  role: z.string().optional(),
  cost: z.number().optional(),
  candidate: CandidateRunSchema.optional(),
  /** Its last verification passed (absent: the task had none). */
  verified: z.boolean().optional(),
  /** Lines added and removed in its diff. */
  changed_lines: z.number().optional(),
});

export type RunSummary = z.infer<typeof RunSummarySchema>;

/** The fields a summary copies from its record as they are; the prompt is cut, the changed files counted. */
export const RUN_SUMMARY_FIELDS = ["run_id", "agent_id", "created_at", "state", "outcome", "model", "input_tokens", "output_tokens", "requests", "duration_ms", "ended_at"] as const;
export const PROMPT_HEAD = 160;

/** A run's summary, stored beside its record when it is saved: a list reads these and never a conversation. */
export function runSummaryOf(run: RunRecord): RunSummary {
  const summary = Object.fromEntries(RUN_SUMMARY_FIELDS.map((f) => [f, run[f]]));
  const verified = run.verifications?.at(-1)?.passed;
  return {
    ...summary,
    prompt: run.prompt.slice(0, PROMPT_HEAD),
    changed_files: run.changed_files.length,
    ...(run.role ? { role: run.role } : {}),
    ...(run.cost !== undefined ? { cost: run.cost } : {}),
    ...(run.candidate ? { candidate: run.candidate } : {}),
    ...(verified !== undefined ? { verified } : {}),
    ...(run.diff ? { changed_lines: changedLines(run.diff.text) } : {}),
  } as RunSummary;
}

/** The lines a unified diff adds and removes (its file headers not counted). */
export function changedLines(diff: string): number {
  let lines = 0;
  for (const line of diff.split("\n")) if ((line.startsWith("+") && !line.startsWith("+++ ")) || (line.startsWith("-") && !line.startsWith("--- "))) lines++;
  return lines;
}
/** Newest first; `outcome` matches a finished run's outcome or an unfinished one's state. */
export type RunSummaryQuery = { agentId?: string; outcome?: string; since?: string; limit: number; /** Only the runs of candidates in an evaluation. */ candidates?: boolean };
