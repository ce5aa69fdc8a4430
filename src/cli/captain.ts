import { resolve } from "node:path";
import type { Command } from "commander";
import { isPaddockError } from "../errors/index.js";
import { paddockPaths } from "../paths/index.js";
import { ROOT_DIR } from "./root.js";
import { EXIT, report } from "./fail.js";

export function registerCaptain(program: Command): void {
  program
    .command("captain")
    .description("split a task with the model, run the parts on sandboxed A2A workers in parallel, gather one report, stop the workers")
    .argument("<task>", "the high-level task")
    .option("--workers <n>", "workers at most (the plan may need fewer)", "2")
    .option("--card <template>", "the workers' card (each worker is named captain-XXXX-wN)", resolve(ROOT_DIR, "examples", "cards", "opencode.yaml"))
    .option("--model <name>", "the planner's model (default: the gateway's first)")
    .option("--ttl <seconds>", "each worker ends after this long, whatever happens", "1800")
    .option("--no-roles", "plan without the daemon's roles: every worker from --card")
    .option("--shared-workspace", "all workers in the template's workspace (default: a git worktree and branch each, when it is a repository)")
    .option("--json", "print the report as JSON")
    .addHelpText("after", "\nNeeds the daemon with a gateway: paddock up --gateway paddock.yaml. With roles in that file, the planner gives\neach subtask a role (or none), and a role's subtasks go to workers spawned in it (its card, model, instructions,\nsections and verification): one worker per role the plan uses at least, the others where the work is.\nExit status: 0 every subtask completed, 1 some did not, 130 cancelled (Ctrl-C), 3 no daemon, 125 paddock error.")
    .action(async (task: string, opts: { workers: string; card: string; model?: string; ttl: string; roles: boolean; sharedWorkspace?: boolean; json?: boolean }) => {
      const { daemonApi } = await import("../supervisor/index.js");
      const { runCaptain } = await import("../captain/index.js");
      const controller = new AbortController();
      const onSignal = () => {
        process.stderr.write("paddock: cancelling: the workers' tasks are cancelled and the workers stopped\n");
        controller.abort();
      };
      process.once("SIGINT", onSignal);
      try {
        const reportValue = await runCaptain({
          api: daemonApi(paddockPaths()),
          task,
          workers: Number(opts.workers),
          cardPath: resolve(opts.card),
          model: opts.model,
          ttlSeconds: Number(opts.ttl),
          sharedWorkspace: opts.sharedWorkspace,
          roles: opts.roles,
          signal: controller.signal,
          onEvent: (e) => {
            if (opts.json) return;
            const text = e.text?.trim().split("\n").at(-1)?.slice(0, 120);
            process.stderr.write(`[${e.worker}]${e.subtask ? ` ${e.subtask}:` : ""} ${e.state}${text ? ` · ${text}` : ""}\n`);
          },
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(reportValue, null, 2)}\n`);
        else {
          process.stdout.write(`${reportValue.ok ? "COMPLETE" : "INCOMPLETE"}: ${task} (${reportValue.results.length} subtasks, ${(reportValue.duration_ms / 1000).toFixed(1)} s)\n`);
          for (const r of reportValue.results) {
            process.stdout.write(`  ${r.state.padEnd(14)} ${r.title} [${r.worker || "-"}${r.role ? ` as ${r.role}` : ""}]: ${r.summary}\n`);
            if (r.worktree) process.stdout.write(`      on branch ${r.worktree.branch} (worktree ${r.worktree.path})\n`);
            for (const f of r.changed_files) process.stdout.write(`      ${f.status.padEnd(8)} ${f.path}\n`);
          }
        }
        process.exitCode = controller.signal.aborted ? 130 : reportValue.ok ? EXIT.ok : 1;
      } catch (err) {
        process.exitCode = report(err, isPaddockError(err) && err.code === "daemon_not_running" ? 3 : EXIT.paddockError);
      } finally {
        process.off("SIGINT", onSignal);
      }
    });
}
