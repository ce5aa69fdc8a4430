import { z } from "zod";
import { CredentialSchema, hostCovered, uncoveredCredentials } from "./credentials.js";
import { parseHostRule } from "./hosts.js";

// One wording for a missing field across every paddock schema.
z.config({ customError: (issue) => (issue.code === "invalid_type" && issue.input === undefined ? "is required" : undefined) });

/** The tools a card gets when it names none: a shell and what agents reach for first. */
export const DEFAULT_TOOLS = ["sh", "coreutils", "findutils", "grep", "sed", "diffutils", "git", "rg"] as const;

/** Paths the sandbox builds itself (the tool tree is mounted read-only at the system folders); a mount there would hide or replace them. */
const RESERVED_TARGETS = ["/proc", "/dev", "/workspace", "/output", "/home/agent", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

const absolutePath = z.string().min(1).refine((p) => p.startsWith("/"), "must be an absolute path");
const workspacePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), "must be a path inside the workspace (relative, without '..')");

/** A cache folder as one name: `node_modules/`, `./node_modules` and `node_modules` are the same folder. */
export function normalCache(path: string): string {
  return path.split("/").filter((part) => part !== "" && part !== ".").join("/");
}
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");

export const ResourceLimitsSchema = z.strictObject({
  memory_mb: z.number().int().min(16).default(4096).describe("Memory ceiling in MiB; the sandbox is OOM-killed above it"),
  cpu_shares: z.number().int().min(2).max(262144).default(1024).describe("Relative CPU weight (cgroup v1 cpu.shares; mapped to cpu.weight on v2)"),
  max_processes: z.number().int().min(1).default(50).describe("Most processes and threads alive at once (pids cgroup)"),
  max_open_files: z.number().int().min(16).default(1024).describe("Open file descriptors per process (RLIMIT_NOFILE)"),
});

const permissionAction = z.enum(["allow", "ask", "deny"]);

export const PermissionSchema = z.strictObject({
  edit: permissionAction.default("allow"),
  bash: permissionAction.default("allow"),
  webfetch: permissionAction.default("allow"),
});

export const MountSchema = z.strictObject({
  source: z.string().min(1).describe("Host path; relative paths are resolved against the card's folder"),
  target: absolutePath.describe("Where it appears inside the sandbox"),
  mode: z.enum(["ro", "rw"]).default("ro"),
});

/** Where an agent's /workspace comes from on a cluster, instead of an empty volume. */
export const ClusterWorkspaceSchema = z
  .strictObject({
    pvc: z
      .string()
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "must be a PersistentVolumeClaim's name (lower-case letters, digits, '-' and '.')")
      .optional()
      .describe("An existing PersistentVolumeClaim in the agents' namespace, mounted at /workspace: what the agent leaves there stays for its next run"),
    git: z
      .url({ protocol: /^https$/, error: "must be an https:// URL (the clone goes through the egress proxy)" })
      .refine((u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password), "must not carry a user or key: name the key in credentials, and the egress proxy adds it")
      .optional()
      .describe("A repository cloned into the pod's /workspace before the agent starts, through the egress proxy (its host must be in allowed_hosts)"),
    ref: z
      .string()
      .max(255)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, "must be a branch or tag name")
      .optional()
      .describe("With git: the branch or tag to clone (default: the remote's HEAD)"),
  })
  .superRefine((w, ctx) => {
    if (Boolean(w.pvc) === Boolean(w.git)) ctx.addIssue({ code: "custom", message: "needs exactly one of pvc and git" });
    if (w.ref && !w.git) ctx.addIssue({ code: "custom", path: ["ref"], message: "is a git ref: it needs git" });
  });

export const CardSchema = z
  .strictObject({
    $schema: z.string().optional().describe("JSON Schema reference for editors; ignored"),
    agent_id: z
      .string()
      .regex(/^[a-z0-9-]+$/, "must match ^[a-z0-9-]+$ (lower-case letters, digits, dashes)")
      .max(63, "must be at most 63 characters (it names sockets, cgroups and Kubernetes pods)")
      .describe("Unique identifier for this agent"),
    workspace: z.string().min(1).describe("The agent's working directory, read-write at /workspace; relative paths are resolved against the card's folder"),
    workdir: workspacePath.optional().describe("Where the agent starts, relative to the workspace (default: its root)"),
    api_provider: z.enum(["anthropic", "openai", "ollama", "custom"]).default("anthropic"),
    api_key_file: z.string().min(1).optional().describe("Path to a file containing the upstream API key"),
    proxy: z.url().default("http://127.0.0.1:3128").describe("Egress proxy URL as seen inside the sandbox"),
    resource_limits: ResourceLimitsSchema.default(() => ResourceLimitsSchema.parse({})),
    allowed_hosts: z
      .array(
        z.string().min(1).superRefine((rule, ctx) => {
          const parsed = parseHostRule(rule);
          if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
        }),
      )
      .default([])
      .describe("Hosts the agent may reach through the egress proxy: name, name:port, *.domain, *, or an explicit address or CIDR (the only way to reach private addresses)"),
    acknowledge_shared_suffixes: z
      .array(z.string().min(1))
      .default([])
      .describe("Suffixes of the Public Suffix List's private section (github.io, vercel.app: anyone can publish under them) that a '*.suffix' rule in allowed_hosts may cover; naming one here says you mean every site under it"),
    credentials: z
      .array(CredentialSchema)
      .default([])
      .describe("Secrets the egress proxy adds to the agent's requests to a host (TLS to that host is terminated with a CA trusted only in this sandbox); the agent never sees them"),
    ttl_seconds: z.number().int().min(0).default(0).describe("End the whole process tree after N seconds (0 = no limit)"),
    cluster: z
      .strictObject({ workspace: ClusterWorkspaceSchema.optional().describe("Where /workspace comes from (default: an empty volume)") })
      .optional()
      .describe("How the card runs on a cluster (paddock up --kube); on one host it has no effect"),
    warm: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(0)
      .describe("On a cluster with agent-sandbox (paddock up --kube): keep N pods of this card started ahead (a SandboxWarmPool), so a spawn claims one instead of waiting for a new pod; on one host it has no effect"),
    environment: z.record(envName, z.string()).default({}).describe("Additional environment variables"),
    a2a_port: z.number().int().min(1).max(65535).optional().describe("Port of the agent's A2A server"),
    kind: z.enum(["opencode", "claude-code", "command"]).default("opencode").describe("Which agent runs: OpenCode, Claude Code, or the card's own command"),
    command: z.array(z.string()).min(1).optional().describe("argv for kind 'command'"),
    contract: z
      .enum(["prompt", "schema"])
      .default("prompt")
      .describe("How a task's result is obtained: prompt (the prompt asks for the JSON result, paddock reads it from the output) or schema (Claude Code's --json-schema: the result is a tool call checked against the schema on the wire; claude-code only)"),
    model: z.string().min(1).optional().describe("Model name as the gateway knows it (default: the gateway's first model)"),
    small_model: z.string().min(1).optional().describe("Model for the agent's small jobs (titles, summaries); default: model"),
    max_tokens_budget: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("The most tokens (input + output) the agent may use through the gateway, over budget_duration (or ever, without one), across its restarts and tasks; checked before each call"),
    budget_duration: z
      .string()
      .regex(/^\d+[smhd]$/, "must look like 30s, 15m, 24h or 30d")
      .optional()
      .describe("The sliding window of max_tokens_budget: tokens used in the last 1d, 30d, ..."),
    permission: PermissionSchema.default(() => PermissionSchema.parse({})).describe("What the agent may do without asking: edit files, run shell commands, fetch web pages (OpenCode's permission settings; Claude Code's allow/deny rules)"),
    tools: z
      .array(z.string().min(1))
      .default([...DEFAULT_TOOLS])
      .describe(`Executables present inside the sandbox (bundles such as 'coreutils', any program on the host's PATH, or an absolute path); default ${DEFAULT_TOOLS.join(", ")}`),
    mounts: z.array(MountSchema).default([]).describe("Extra bind mounts"),
    caches: z
      .array(workspacePath.refine((p) => normalCache(p) !== "", "must name a folder inside the workspace, not the workspace itself"))
      .default([])
      .refine((list) => new Set(list.map(normalCache)).size === list.length, "lists a folder twice")
      .describe("Workspace folders (node_modules, .gradle, target) kept per agent outside the workspace and mounted over it: installs survive runs, and never count as changed files"),
    backend: z.enum(["bwrap", "gvisor"]).default("bwrap").describe("Sandbox backend"),
    seccomp: z
      .enum(["default", "strict", "unconfined"])
      .default("default")
      .describe("System call filter: default (Docker's denials plus io_uring, eBPF, keyrings, userfaultfd, the mount API, new namespaces), strict (also no tracing, only local and IP sockets), or unconfined (none; needs --allow-unconfined-seccomp on the command line)"),
    restart: z
      .strictObject({
        policy: z.enum(["never", "on-failure"]).default("never"),
        max_restarts: z.number().int().min(0).default(5),
        backoff_seconds: z.number().min(0).default(1).describe("First wait before a restart; doubled after each"),
      })
      .default({ policy: "never", max_restarts: 5, backoff_seconds: 1 })
      .describe("What the supervisor does when the agent exits with a failure"),
  })
  .superRefine((card, ctx) => {
    if (card.kind === "command" && !card.command) {
      ctx.addIssue({ code: "custom", path: ["command"], message: "is required when kind is 'command'" });
    }
    if (card.contract === "schema" && card.kind !== "claude-code") {
      ctx.addIssue({ code: "custom", path: ["contract"], message: `'schema' needs Claude Code's --json-schema (kind: claude-code); ${card.kind} reads its result from the output: use 'prompt'` });
    }
    card.allowed_hosts.forEach((rule, i) => {
      const parsed = parseHostRule(rule);
      if (typeof parsed !== "string" && parsed.kind === "suffix" && parsed.shared && !card.acknowledge_shared_suffixes.includes(parsed.suffix)) {
        ctx.addIssue({
          code: "custom",
          path: ["allowed_hosts", i],
          message: `'${rule}' covers '${parsed.suffix}', a suffix where anyone can publish (the Public Suffix List's private section): name the sites, or add '${parsed.suffix}' to acknowledge_shared_suffixes if you mean all of them`,
        });
      }
    });
    const git = card.cluster?.workspace?.git;
    if (git?.startsWith("https://") && hostCovered(card.allowed_hosts, new URL(git).host) === false) {
      ctx.addIssue({ code: "custom", path: ["cluster", "workspace", "git"], message: `the clone goes through the egress proxy: add "${new URL(git).host}" to allowed_hosts` });
    }
    if (card.warm > 0 && card.cluster?.workspace) {
      ctx.addIssue({ code: "custom", path: ["warm"], message: "a warm pod starts before its agent, with an empty /workspace: drop warm, or cluster.workspace" });
    }
    for (const { index, message } of uncoveredCredentials(card.allowed_hosts, card.credentials)) ctx.addIssue({ code: "custom", path: ["credentials", index, "host"], message });
    card.credentials.forEach((credential, i) => {
      if (credential.placeholder_env && credential.placeholder_env in card.environment) {
        ctx.addIssue({ code: "custom", path: ["credentials", i, "placeholder_env"], message: `${credential.placeholder_env} is also set in environment; the placeholder needs it` });
      }
    });
    card.mounts.forEach((mount, i) => {
      if (RESERVED_TARGETS.some((r) => mount.target === r || mount.target.startsWith(`${r}/`)) || mount.target === "/") {
        ctx.addIssue({ code: "custom", path: ["mounts", i, "target"], message: `may not cover ${mount.target}: paddock owns it` });
      }
    });
  })
  .meta({ title: "paddock agent card" });

export type Card = z.output<typeof CardSchema>;
export type CardInput = z.input<typeof CardSchema>;
export type ResourceLimits = z.output<typeof ResourceLimitsSchema>;
export type Mount = z.output<typeof MountSchema>;
export type Permission = z.output<typeof PermissionSchema>;

/** What is allowed but worth a second look: each with the field it concerns. */
export function cardWarnings(card: Card): Array<{ path: Array<string | number>; message: string }> {
  const shared = card.allowed_hosts.flatMap((rule, i) => {
    const parsed = parseHostRule(rule);
    return typeof parsed !== "string" && parsed.kind === "suffix" && parsed.shared
      ? [{ path: ["allowed_hosts", i], message: `'${rule}' lets the agent reach every site published under ${parsed.suffix} (acknowledged in acknowledge_shared_suffixes)` }]
      : [];
  });
  const unconfined = card.seccomp === "unconfined" ? [{ path: ["seccomp"], message: "no system call filter: the agent can make every call the kernel offers an unprivileged process (io_uring, eBPF, userfaultfd ...)" }] : [];
  const idle = card.budget_duration && !card.max_tokens_budget ? [{ path: ["budget_duration"], message: "has no effect without max_tokens_budget" }] : [];
  return [...shared, ...unconfined, ...idle];
}

export function cardJsonSchema(): Record<string, unknown> {
  return { $schema: "https://json-schema.org/draft/2020-12/schema", ...z.toJSONSchema(CardSchema, { io: "input" }) };
}

/** The card's token budget as the gateway takes it, if it has one. */
export function cardBudget(card: Pick<Card, "max_tokens_budget" | "budget_duration">): Required<Pick<Card, "max_tokens_budget">> & Pick<Card, "budget_duration"> | undefined {
  return card.max_tokens_budget ? { max_tokens_budget: card.max_tokens_budget, ...(card.budget_duration ? { budget_duration: card.budget_duration } : {}) } : undefined;
}
