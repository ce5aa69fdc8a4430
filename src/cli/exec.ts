import { writeFileSync } from "node:fs";
import { constants } from "node:os";
import { Option, type Command } from "commander";
import { loadCard } from "../card/index.js";
import { cardField } from "../cgroups/index.js";
import { createSandbox, exitStatus, prepareSandbox, type BackendName, type ExitReport, type Sandbox } from "../sandbox/index.js";
import type { EgressAttachment, EgressService } from "../egress/index.js";
import { paddockPaths } from "../paths/index.js";
import { EXIT, report } from "./fail.js";
import { warnAbout } from "./warn.js";

interface ExecOptions {
  card: string;
  workspace?: string;
  readOnlyWorkspace?: boolean;
  output?: string;
  backend?: BackendName;
  allowUnenforcedLimits?: boolean;
  allowUnconfinedSeccomp?: boolean;
  report?: string;
  grace: string;
}

export function registerExec(program: Command): void {
  program
    .command("exec")
    .description("run one command in a card's sandbox; stdin, stdout and stderr pass through")
    .requiredOption("--card <file>", "agent card (JSON, YAML or TOML)")
    .option("--workspace <dir>", "use this folder as /workspace instead of the card's")
    .option("--read-only-workspace", "mount the workspace read-only (needs --output)")
    .option("--output <dir>", "writable folder, mounted at /output")
    .addOption(new Option("--backend <name>", "sandbox backend (default: the card's)").choices(["bwrap", "gvisor"]))
    .option("--allow-unenforced-limits", "start even if this host cannot enforce some resource limits")
    .option("--allow-unconfined-seccomp", "run a card that sets seccomp: unconfined (no system call filter)")
    .option("--report <file>", "write a JSON exit report (cause, code, duration, peak memory) to this file")
    .option("--grace <seconds>", "on SIGINT/SIGTERM, seconds between SIGTERM and SIGKILL inside", "5")
    .argument("[command...]", "the command and its arguments (after --); default: the card's command")
    .addHelpText(
      "after",
      `
Exit status: the command's own, or
  124  killed at the card's ttl_seconds
  137  killed for exceeding memory_mb
  125  paddock could not start the sandbox (the message says why)
  130/143  stopped by SIGINT/SIGTERM

Example:
  paddock exec --card examples/cards/demo.yaml -- git status`,
    )
    .action(async (command: string[], opts: ExecOptions) => {
      process.exitCode = await runExec(command, opts);
    });
}

async function runExec(command: string[], opts: ExecOptions): Promise<number> {
  if (opts.readOnlyWorkspace && !opts.output) {
    process.stderr.write("paddock: --read-only-workspace needs --output DIR for the command's results\n");
    return EXIT.usage;
  }
  let sandbox: Sandbox | undefined;
  let egress: EgressService | undefined;
  // Handled from before the sandbox starts: the command may run (and be signalled) before start() has returned.
  let stoppedBy: NodeJS.Signals | undefined;
  let started = false;
  const onSignal = (sig: NodeJS.Signals) => {
    stoppedBy ??= sig;
    if (started) void sandbox!.stop(Number(opts.grace) * 1000);
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const sig of signals) process.on(sig, onSignal);
  try {
    const { card, warnings } = await loadCard(opts.card);
    warnAbout(warnings);
    // An agent with allowed_hosts gets exactly one way out: paddock's egress proxy, run in this process.
    let attachment: EgressAttachment | undefined;
    if (card.allowed_hosts.length > 0) {
      const { EgressService } = await import("../egress/index.js");
      egress = new EgressService(paddockPaths());
      attachment = await egress.attach(card.agent_id, card);
    }
    const spec = prepareSandbox(card, {
      egress: attachment,
      command: command.length > 0 ? command : undefined,
      workspace: opts.workspace,
      outputDir: opts.readOnlyWorkspace ? opts.output : undefined,
      stdio: "inherit",
      allowUnenforcedLimits: opts.allowUnenforcedLimits,
      allowUnconfinedSeccomp: opts.allowUnconfinedSeccomp,
      term: process.stdout.isTTY ? process.env.TERM : undefined,
    });
    sandbox = createSandbox(spec, opts.backend ?? card.backend);
    await sandbox.start();
    started = true;
  } catch (err) {
    for (const sig of signals) process.off(sig, onSignal);
    await egress?.close();
    return report(err);
  }
  if (stoppedBy) void sandbox.stop(Number(opts.grace) * 1000);
  for (const limit of sandbox.unenforced) {
    process.stderr.write(`paddock: warning: resource_limits.${cardField(limit)} is not enforced on this host\n`);
  }
  const exit = await sandbox.wait();
  await egress?.close();
  if (opts.report) writeFileSync(opts.report, `${JSON.stringify({ sandbox: sandbox.name, backend: sandbox.backend, ...exit }, null, 2)}\n`);
  describeExit(exit);
  return stoppedBy && exit.cause === "stopped" ? 128 + constants.signals[stoppedBy] : exitStatus(exit);
}

function describeExit(exit: ExitReport): void {
  const why: Partial<Record<ExitReport["cause"], string>> = {
    oom: "killed: the sandbox exceeded resource_limits.memory_mb",
    ttl: "killed: the sandbox reached ttl_seconds",
    stopped: "stopped",
  };
  const text = why[exit.cause];
  if (text) process.stderr.write(`paddock: ${text} (after ${(exit.durationMs / 1000).toFixed(1)}s)\n`);
  else if (exit.oomKills > 0) process.stderr.write(`paddock: warning: ${exit.oomKills} process(es) inside were killed for exceeding resource_limits.memory_mb\n`);
}
