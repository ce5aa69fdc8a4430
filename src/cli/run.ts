import { Option, type Command } from "commander";
import { loadCard } from "../card/index.js";
import { PaddockError } from "../errors/index.js";
import { paddockPaths } from "../paths/index.js";
import type { RunRecord } from "../store/index.js";
import { registerCompare } from "./compare.js";
import { report } from "./fail.js";
import { withLocalPaddock } from "./local.js";
import { warnAbout } from "./warn.js";
import { defaultLogFormat, type LogFormat } from "./log.js";
import { number } from "./parse.js";
import { printTable } from "./table.js";

interface RunOptions {
  card?: string;
  role?: string;
  model?: string;
  workspace?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
  allowUnconfinedSeccomp?: boolean;
  verify?: string;
  verifyRetries: number;
  logFormat: LogFormat;
}

/** Exit statuses of `paddock run`, by outcome. */
export const RUN_EXIT = { COMPLETE: 0, ERROR: 1, NEEDS_INFO: 4, timeout: 124, setup: 125, cancelled: 130 } as const;

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run one task headless with the card's agent, in its sandbox, and report a structured result")
    .option("--card <file>", "agent card (JSON, YAML or TOML); with --role, instead of the role's")
    .option("--role <name>", "do the task in a role of paddock.yaml's roles: its card, model, instructions, result sections and verification")
    .option("--model <name>", "model to use (default: the card's, else the gateway's first)")
    .option("--workspace <dir>", "use this folder as /workspace instead of the card's")
    .option("--config <file>", "paddock.yaml: model servers (LiteLLM's format) and executor settings (default: ./paddock.yaml, then ~/.config/paddock/paddock.yaml; none: the built-in scripted smoke-test model)")
    .option("--json", "print the run record as JSON on stdout")
    .option("--allow-unconfined-seccomp", "run a card that sets seccomp: unconfined (no system call filter)")
    .option("--verify <command>", "after a COMPLETE, run this in a fresh sandbox of the card (no model, no network); if it fails, the run is an ERROR with its output")
    .option("--verify-retries <n>", "after a failed verification, this many more attempts, each given its output", number(0, true), 0)
    .option("-q, --quiet", "do not show the agent's output while it works")
    .addOption(new Option("--log-format <format>", "paddock's structured logs: human (to the log file, warnings on stderr) or json (JSON lines on stderr; also PADDOCK_LOG=json)").choices(["human", "json"]).default(defaultLogFormat()))
    .argument("<prompt>", "what the agent should do")
    .addHelpText(
      "after",
      `
The result follows a contract: outcome (COMPLETE, NEEDS_INFO or ERROR), summary,
and the files the task changed. Exit status:
  0    COMPLETE (and, with --verify, its verification passed)
  4    NEEDS_INFO (the questions are in the result)
  1    ERROR (reported by the agent, no result could be read, or the verification
       failed; the category and a hint say why)
  124  ended by a timeout (executor.timeout_seconds or inactivity_timeout_seconds)
  125  paddock could not run the agent: an invalid card or paddock.yaml, an
       unknown --model, a sandbox that could not start (the message says why)
  2    wrong usage (a missing prompt, an unknown option)
  130  cancelled (Ctrl-C)

Example:
  paddock run --card examples/cards/opencode.yaml "Summarise README.md into SUMMARY.md"
  paddock run --card card.yaml --verify "npm test" --verify-retries 1 "Fix the failing test in src/date.js"`,
    )
    .action(async (prompt: string, opts: RunOptions) => {
      process.exitCode = await runTask(prompt, opts);
    });

  const runs = program
    .command("runs")
    .description("list the recorded runs, or show one")
    .argument("[run-id]", "show this run whole")
    .option("--agent <id>", "only this agent's runs")
    .option("--limit <n>", "newest N runs", "20")
    .option("--conversation", "with a run id: print the agent's output of every attempt")
    .option("--diff", "with a run id: print the workspace's git diff after the run (kept when files changed)")
    .option("--json", "JSON output")
    .action(async (runId: string | undefined, opts: { agent?: string; limit: string; conversation?: boolean; diff?: boolean; json?: boolean }) => {
      const { openStore, RUN_DIFF_MAX_BYTES } = await import("../store/index.js");
      const store = openStore(paddockPaths());
      try {
        if (runId) {
          const run = await store.getRun(runId);
          if (!run) throw new (await import("../errors/index.js")).PaddockError("run_unknown", `no run ${runId}`, runId, "paddock runs lists them");
          if (opts.conversation) process.stdout.write(run.conversation);
          else if (opts.diff) process.stdout.write(run.diff ? `${run.diff.text}${run.diff.truncated ? `\n(cut at ${RUN_DIFF_MAX_BYTES >> 20} MiB)\n` : ""}` : "");
          else process.stdout.write(opts.json ? `${JSON.stringify(run, null, 2)}\n` : describeRun(run));
          return;
        }
        const runs = await store.listRuns({ agentId: opts.agent, limit: Number(opts.limit) });
        if (opts.json) return void process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
        const rows = runs.map((r) => [r.run_id, r.agent_id, r.state, r.outcome ?? "-", `${r.attempts.length}`, r.duration_ms === null ? "-" : `${(r.duration_ms / 1000).toFixed(1)}s`, r.prompt.slice(0, 50).replace(/\s+/g, " ")]);
        printTable(["RUN", "AGENT", "STATE", "OUTCOME", "ATTEMPTS", "TIME", "PROMPT"], rows);
      } catch (err) {
        process.exitCode = report(err);
      } finally {
        await store.close();
      }
    });
  registerCompare(runs.enablePositionalOptions());
}

async function runTask(prompt: string, opts: RunOptions): Promise<number> {
  return withLocalPaddock(opts, async (local, signal) => {
    if (!opts.card && !opts.role) throw new PaddockError("card_missing", "give the agent's card (--card FILE) or a role of paddock.yaml (--role NAME)", "--card");
    const role = opts.role ? await (await import("../config/index.js")).resolveRole(local.config, opts.role) : undefined;
    const loaded = await loadCard(opts.card ?? role!.card);
    warnAbout(loaded.warnings);
    const card = role?.small_model ? { ...loaded.card, small_model: role.small_model } : loaded.card;
    const verify = opts.verify ?? role?.verify;
    const progress = !opts.quiet && !opts.json;
    const run = await local.executor.run(
      {
        card,
        prompt,
        model: opts.model ?? role?.model,
        workspace: opts.workspace,
        signal,
        allowUnconfinedSeccomp: opts.allowUnconfinedSeccomp,
        ...(verify ? { verify: { command: verify, retries: opts.verify ? opts.verifyRetries : (role?.verify_retries ?? 0) } } : {}),
        ...(role ? { role: { name: role.name, systemPrompt: role.systemPrompt, sections: role.sections } } : {}),
      },
      (event) => {
        if (!progress) return;
        if (event.type === "queued") process.stderr.write(`paddock: ${event.run_id}: waiting for ${event.pool} (position ${event.position})\n`);
        if (event.type === "attempt") process.stderr.write(`paddock: ${event.run_id}: attempt ${event.attempt} (${card.kind} in its sandbox${role ? `, as ${role.name}` : ""})\n`);
        if (event.type === "output" && event.stream === "stdout") process.stderr.write(event.text);
        if (event.type === "structurer") process.stderr.write(`paddock: ${event.run_id}: no result in the output: asking ${event.model} to extract it\n`);
        if (event.type === "verification") process.stderr.write(`paddock: ${event.run_id}: verification \`${event.command}\`${event.passed === undefined ? "..." : event.passed ? " passed" : ` failed (exit ${event.exit_code ?? "by a signal"})`}\n`);
      },
    );
    process.stdout.write(opts.json ? `${JSON.stringify(run, null, 2)}\n` : describeRun(run));
    if (run.error?.category === "Timeout") return RUN_EXIT.timeout;
    if (run.error?.category === "Cancelled") return RUN_EXIT.cancelled;
    if (run.error?.category === "Setup") return RUN_EXIT.setup;
    return RUN_EXIT[run.outcome ?? "ERROR"];
  });
}

function describeRun(run: RunRecord): string {
  // A failed run's summary is its error: said once, with its category.
  const failure = run.error && run.summary === run.error.message ? run.error : undefined;
  const lines = [
    `${run.outcome ?? run.state}${failure ? ` (${failure.category})` : ""}${run.recovered ? " (recovered by the structurer)" : ""}: ${run.summary ?? ""}`,
    ...run.questions.map((q) => `  ? ${q}`),
    ...(run.error && !failure ? [`  error: ${run.error.category}: ${run.error.message}`] : []),
    ...(run.error?.hint ? [`  hint: ${run.error.hint}`] : []),
    ...(run.error && run.attempts.length ? [`  the agent's own output: paddock runs ${run.run_id} --conversation`] : []),
    ...(run.changed_files.length ? ["  changed files:", ...run.changed_files.map((f) => `    ${f.status.padEnd(8)} ${f.path}`)] : ["  changed files: none"]),
    ...Object.entries(run.sections ?? {}).map(([name, text]) => `  ${name}: ${text}`),
    ...(run.workspace_notes ?? []).map((note) => `  note: ${note}`),
    ...(run.verifications ?? []).map((v) => `  verification: \`${v.command}\` ${v.passed ? "passed" : v.timed_out ? "ran out of time" : `failed (exit ${v.exit_code ?? "by a signal"})`} in ${(v.duration_ms / 1000).toFixed(1)} s`),
    `  run ${run.run_id} · agent ${run.agent_id}${run.role ? ` as ${run.role}` : ""} · model ${run.model ?? "-"} · ${run.attempts.length} attempt(s) · ${run.requests} model requests, ${run.input_tokens} in / ${run.output_tokens} out tokens · ${((run.duration_ms ?? 0) / 1000).toFixed(1)} s`,
  ];
  return `${lines.join("\n")}\n`;
}
