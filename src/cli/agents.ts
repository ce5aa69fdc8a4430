import { resolve } from "node:path";
import type { Command } from "commander";
import { isPaddockError, PaddockError } from "../errors/index.js";
import { paddockPaths } from "../paths/index.js";
import type { AgentView } from "../supervisor/index.js";
import { printTable } from "./table.js";
import { EXIT, report } from "./fail.js";

/** Exit status when the daemon is not running, so scripts can tell it from other failures. */
const DAEMON_DOWN = 3;

export function registerAgents(program: Command): void {
  program
    .command("spawn")
    .description("start an agent from its card in the running daemon; prints the agent id")
    .argument("[card]", "agent card (JSON, YAML or TOML); with --role, instead of the role's")
    .option("--role <name>", "a role of the daemon's paddock.yaml: its card and model, and for an A2A worker its instructions, sections and verification on every task")
    .option("--name <id>", "run it under this id instead of the card's agent_id")
    .option("--a2a", "also serve it as an A2A worker (its URL and token are printed on stderr, and in `paddock status`)")
    .option("--ttl <seconds>", "end it after this many seconds, whatever the card says")
    .option("--worktree", "work in a clone and branch (paddock/ID) of its own when the card's workspace is in a git repository; the branch's commits come into the repository when the agent ends")
    .option("--allow-unconfined-seccomp", "run a card that sets seccomp: unconfined (no system call filter)")
    .option("--json", "print the agent's record as JSON")
    .action((card: string | undefined, opts: { role?: string; name?: string; a2a?: boolean; ttl?: string; worktree?: boolean; allowUnconfinedSeccomp?: boolean; json?: boolean }) =>
      call(async (api) => {
        if (!card && !opts.role) throw new PaddockError("card_missing", "give the agent's card (paddock spawn CARD) or a role of the daemon's paddock.yaml (--role NAME)", "card");
        const agent = (await api("POST", "/v1/agents", { card_path: card ? resolve(card) : undefined, role: opts.role, name: opts.name, a2a: opts.a2a, worktree: opts.worktree, allow_unconfined_seccomp: opts.allowUnconfinedSeccomp, ttl_seconds: opts.ttl === undefined ? undefined : Number(opts.ttl) })) as AgentView & { a2a?: { url: string; token: string }; worktree?: { branch: string; path: string } | null };
        process.stdout.write(opts.json ? `${JSON.stringify(agent, null, 2)}\n` : `${agent.agent_id}\n`);
        if (agent.a2a && !opts.json) process.stderr.write(`a2a: ${agent.a2a.url} (Authorization: Bearer ${agent.a2a.token})\n`);
        if (agent.worktree && !opts.json) process.stderr.write(`worktree: ${agent.worktree.path} on branch ${agent.worktree.branch}\n`);
      }),
    );

  program
    .command("list")
    .description("the agents: id, kind, state, pid, uptime, memory, TTL left, restarts")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) =>
      call(async (api) => {
        const agents = (await api("GET", "/v1/agents")) as AgentView[];
        if (opts.json) return void process.stdout.write(`${JSON.stringify(agents, null, 2)}\n`);
        const rows = agents.map((a) => [a.agent_id, a.kind, a.state, a.pid ?? "-", duration(a.uptime_ms), a.memory_bytes === null ? "-" : `${(a.memory_bytes / 1048576).toFixed(1)}M`, a.ttl_left_s === null ? "-" : `${a.ttl_left_s}s`, a.restarts].map(String));
        printTable(["ID", "KIND", "STATE", "PID", "UPTIME", "MEMORY", "TTL LEFT", "RESTARTS"], rows);
      }),
    );

  program
    .command("status")
    .description("one agent's record: state, pid, card, last exit")
    .argument("<id>")
    .option("--json", "the record as JSON (what it always prints: accepted for scripts that pass it to every command)")
    .action((id: string) => call(async (api) => void process.stdout.write(`${JSON.stringify(await api("GET", `/v1/agents/${id}`), null, 2)}\n`)));

  program
    .command("stop")
    .description("stop an agent: SIGTERM inside, SIGKILL to the whole tree after the grace period")
    .argument("<id>")
    .option("--grace <seconds>", "seconds between SIGTERM and SIGKILL", "10")
    .action((id: string, opts: { grace: string }) =>
      call(async (api) => {
        const agent = (await api("POST", `/v1/agents/${id}/stop`, { grace_seconds: Number(opts.grace) })) as AgentView;
        process.stdout.write(`${agent.agent_id} ${agent.state}\n`);
      }),
    );

  program
    .command("attach")
    .description("your terminal on an agent: its UI inside its sandbox (OpenCode's TUI attached to its server, Claude Code, or a shell), or a command you give")
    .argument("<id>")
    .argument("[command...]", "run this inside instead (after --)")
    .option("--context <name>", "an agent on a cluster: the kubeconfig context to exec with (default: the current one)")
    .addHelpText("after", "\nOn a cluster (paddock up --kube) this is `kubectl exec -it` into the agent's container, with your kubeconfig's rights (pods/exec).\nExit status: the command's own.")
    .action((id: string, command: string[], opts: { context?: string }) =>
      call(async (api) => {
        const agent = (await api("GET", `/v1/agents/${id}`)) as AgentView;
        const card = agent.card as { kind: string; backend?: string };
        const { agentBinary, OPENCODE_SERVE_PORT } = await import("../agents/index.js");
        const { enterSandbox, toolPathInside } = await import("../sandbox/index.js");
        // The agent images keep the agents' binaries where a local sandbox mounts them (/opt/paddock/bin).
        const ui = command.length > 0 ? command : card.kind === "opencode" ? [toolPathInside(agentBinary("opencode")), "attach", `http://127.0.0.1:${OPENCODE_SERVE_PORT}`] : card.kind === "claude-code" ? [toolPathInside(agentBinary("claude-code"))] : ["sh"];
        if (agent.state === "running" && agent.pod) {
          const { execInPod, kubeClients } = await import("../kube/index.js");
          process.on("SIGINT", () => undefined);
          process.exitCode = await execInPod(await kubeClients(opts.context), agent.pod, ui);
          return;
        }
        if (agent.state !== "running" || !agent.pid || !agent.sandbox) throw new PaddockError("agent_not_running", `agent ${id} is ${agent.state}`, id, `start it: paddock spawn CARD --name ${id}`);
        if (card.backend === "gvisor") throw new PaddockError("attach_unsupported", "attach works on bwrap agents; gVisor sandboxes take no second process from outside", id);
        const entry = enterSandbox({ runtimePid: agent.pid, sandbox: agent.sandbox, command: ui, term: process.stdout.isTTY ? process.env.TERM : undefined });
        const { spawn } = await import("node:child_process");
        const child = spawn(entry.file, entry.args, { env: entry.env, stdio: "inherit" });
        // The terminal's Ctrl-C belongs to the program inside.
        process.on("SIGINT", () => undefined);
        const [code, signal] = (await new Promise((resolve) => child.on("exit", (...args) => resolve(args)))) as [number | null, NodeJS.Signals | null];
        process.exitCode = code ?? 128 + ((await import("node:os")).constants.signals[signal!] ?? 0);
      }),
    );

  program
    .command("logs")
    .description("an agent's output (stdout and stderr)")
    .argument("<id>")
    .option("-f, --follow", "keep printing what it writes until it ends")
    .option("--tail <lines>", "only the last N lines first")
    .option("--since <time>", "only what it wrote since then: an ISO time, or an age such as 30s, 10m, 2h (to within 2 seconds)")
    .action((id: string, opts: { follow?: boolean; tail?: string; since?: string }) =>
      call(async (_api, stream) => {
        const since = opts.since ? `&since=${encodeURIComponent(sinceTime(opts.since))}` : "";
        await stream(`/v1/agents/${id}/logs?follow=${opts.follow ? 1 : 0}&tail=${Number(opts.tail ?? 0)}${since}`);
      }),
    );
}

type Api = import("../supervisor/index.js").DaemonApi;

async function call(fn: (api: Api, stream: (path: string) => Promise<void>) => Promise<void>): Promise<void> {
  const { callDaemon, daemonApi } = await import("../supervisor/index.js");
  const paths = paddockPaths();
  const api = daemonApi(paths);
  const stream = async (path: string) => {
    const { status, value } = await callDaemon(paths, "GET", path, undefined, process.stdout);
    if (status >= 400) throw new PaddockError((value as { error: { code: string } }).error.code, (value as { error: { message: string } }).error.message);
  };
  try {
    await fn(api, stream);
  } catch (err) {
    process.exitCode = report(err, isPaddockError(err) && err.code === "daemon_not_running" ? DAEMON_DOWN : EXIT.paddockError);
  }
}

/** `--since`: an ISO time, or an age (30s, 10m, 2h, 1d) before now. */
function sinceTime(value: string): string {
  const age = /^(\d+)([smhd])$/.exec(value);
  if (age) return new Date(Date.now() - Number(age[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[age[2] as "s" | "m" | "h" | "d"]).toISOString();
  if (Number.isNaN(Date.parse(value))) throw new PaddockError("since_invalid", `'${value}' is neither an ISO time nor an age like 10m`, "--since");
  return new Date(value).toISOString();
}

function duration(ms: number | null): string {
  if (ms === null) return "-";
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
