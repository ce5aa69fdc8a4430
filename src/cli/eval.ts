import { Option, type Command } from "commander";
import type { EvalEvent, EvalReport } from "../eval/index.js";
import { EXIT } from "./fail.js";
import { withLocalPaddock } from "./local.js";
import { defaultLogFormat, type LogFormat } from "./log.js";
import { number } from "./parse.js";
import { printTable } from "./table.js";
import { warnAbout } from "./warn.js";

interface EvalOptions {
  task: string;
  candidates: string;
  repeat: number;
  parallel?: number;
  workspace?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
  allowUnconfinedSeccomp?: boolean;
  logFormat: LogFormat;
}

/** Exit statuses of `paddock eval`. */
export const EVAL_EXIT = { winner: 0, none: 1, setup: EXIT.paddockError, cancelled: 130 } as const;

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("run one task on several candidates (card + model) side by side, each in its own clone of the repository, verified, and report the winner")
    .requiredOption("--task <file>", "the task (YAML, JSON or TOML): prompt, and optionally verify, verify_retries, role, workspace")
    .requiredOption("--candidates <files>", "comma-separated candidate files (card:, model:, small_model:, contract:, name:) or agent cards")
    .option("--repeat <n>", "runs per candidate", number(1, true), 1)
    .option("--parallel <n>", "runs at once (default: one per candidate); each model server's pool still bounds its own", number(1, true))
    .option("--workspace <dir>", "the folder, in a git repository, the candidates start from (default: the task's workspace, else the current folder)")
    .option("--config <file>", "paddock.yaml: model servers, executor settings, roles (as for paddock run)")
    .option("--json", "print the report as JSON on stdout")
    .option("--allow-unconfined-seccomp", "run cards that set seccomp: unconfined")
    .option("-q, --quiet", "no progress on stderr")
    .addOption(new Option("--log-format <format>", "paddock's structured logs: human (to the log file) or json (JSON lines on stderr)").choices(["human", "json"]).default(defaultLogFormat()))
    .addHelpText(
      "after",
      `
Each run starts from a clone of the repository's HEAD (all at the same commit),
kept under paddock's data folder (evals/EVAL_ID/CANDIDATE-N) with the candidate's
work in it; every run is recorded (paddock runs RUN_ID --diff) with its
candidate, for paddock runs compare. A run passes when it ends COMPLETE and, if
the task has verify, its verification passed. The winner has the most passed
runs, then the shortest median wall time, then the fewest tokens.

Exit status: 0 a winner, 1 no candidate passed, 125 paddock could not run the
evaluation (a bad task or candidate file, no git repository), 2 wrong usage,
130 cancelled.

Example:
  paddock eval --task fix-date.yaml --candidates opencode-qwen.yaml,claude-qwen.yaml --repeat 3`,
    )
    .action(async (opts: EvalOptions) => {
      process.exitCode = await runEval(opts);
    });
}

async function runEval(opts: EvalOptions): Promise<number> {
  const { evaluate, loadCandidates, loadEvalTask } = await import("../eval/index.js");
  const { resolveRole } = await import("../config/index.js");
  return withLocalPaddock(opts, async (local, signal) => {
    const task = await loadEvalTask(opts.task);
    const candidates = await loadCandidates(opts.candidates.split(",").map((f) => f.trim()).filter(Boolean));
    for (const candidate of candidates) warnAbout(candidate.warnings);
    const role = task.role ? await resolveRole(local.config, task.role) : undefined;
    const verify = task.verify ?? role?.verify;
    const progress = !opts.quiet && !opts.json;
    const result = await evaluate(
      {
        executor: local.executor,
        prompt: task.prompt,
        workspace: opts.workspace ?? task.workspace ?? process.cwd(),
        candidates,
        repeat: opts.repeat,
        parallel: opts.parallel ?? candidates.length,
        ...(verify ? { verify: { command: verify, retries: task.verify_retries ?? role?.verify_retries ?? 0 } } : {}),
        ...(role ? { role: { name: role.name, systemPrompt: role.systemPrompt, sections: role.sections, model: role.model } } : {}),
        signal,
        allowUnconfinedSeccomp: opts.allowUnconfinedSeccomp,
      },
      (event) => progress && process.stderr.write(progressLine(event)),
    );
    if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else printEval(result);
    if (signal.aborted) return EVAL_EXIT.cancelled;
    return result.winner ? EVAL_EXIT.winner : EVAL_EXIT.none;
  });
}

function progressLine(event: EvalEvent): string {
  if (event.type === "cloned") return `paddock: ${event.eval_id}: ${event.clones} clone(s) at ${event.base.slice(0, 12)}\n`;
  const who = `paddock: ${event.candidate} #${event.repeat}`;
  const e = event.event;
  if (e.type === "queued") return `${who}: waiting for ${e.pool} (position ${e.position})\n`;
  if (e.type === "attempt") return `${who}: attempt ${e.attempt} (${e.run_id})\n`;
  if (e.type === "verification" && e.passed !== undefined) return `${who}: verification ${e.passed ? "passed" : `failed (exit ${e.exit_code ?? "by a signal"})`}\n`;
  if (e.type === "finished") return `${who}: ${e.run.outcome ?? e.run.state}${e.run.error ? ` (${e.run.error.category})` : ""} in ${((e.run.duration_ms ?? 0) / 1000).toFixed(1)} s\n`;
  return "";
}

/** A fraction and its interval as "2/3 67% [21–94%]". */
export function rate(successes: number, n: number, interval: [number, number]): string {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  return `${successes}/${n} ${n ? pct(successes / n) : "-"} [${pct(interval[0])}–${pct(interval[1])}]`;
}

function printEval(result: EvalReport): void {
  process.stdout.write(`${result.eval_id}: ${result.candidates.length} candidate(s) × ${result.repeat}, from ${result.base.slice(0, 12)} of ${result.repository}\n\n`);
  printTable(
    ["CANDIDATE", "CARD", "MODEL", "CONTRACT", "PASSED (95% CI)", "VERIFIED", "MEDIAN", "TOKENS/RUN", "COST", "LINES/RUN"],
    result.candidates.map((c) => [c.name, c.card, c.model ?? "-", c.contract, rate(c.passed, c.runs, c.pass_interval), `${c.verified}`, c.median_ms === null ? "-" : `${(c.median_ms / 1000).toFixed(1)}s`, `${c.tokens}`, `$${c.cost.toFixed(4)}`, `${c.changed_lines}`]),
  );
  const lines = [
    "",
    result.winner ? `winner: ${result.winner}` : "no winner: no candidate's run passed",
    ...result.candidates.map((c) => `  ${c.name}: runs ${c.run_ids.join(", ")}; work in ${c.workspaces.join(", ")}`),
    `  (paddock runs RUN_ID shows a run, --diff its changes; ${((result.duration_ms) / 1000).toFixed(1)} s in all)`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
