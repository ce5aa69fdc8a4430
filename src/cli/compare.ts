import type { Command } from "commander";
import { paddockPaths } from "../paths/index.js";
import { rate } from "./eval.js";
import { report } from "./fail.js";
import { number, since } from "./parse.js";
import { printTable } from "./table.js";

/** `paddock runs compare`: every recorded candidate run, as win and pass rates per (role, card, model, contract). */
export function registerCompare(runs: Command): void {
  runs
    .command("compare")
    .description("win and pass rates per (role, card, model, contract) over the recorded runs of paddock eval, with 95% confidence intervals")
    .option("--role <name>", "only runs done in this role")
    .option("--since <when>", "only runs from then: a span (30d, 12h) or a date", since)
    .option("--limit <n>", "read at most the newest N candidate runs", number(1, true), 100_000)
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      `
Each evaluation's winner is found as paddock eval found it (most passed runs,
then the shortest median time, then the fewest tokens); a row's win rate is the
evaluations it won out of those it took part in. The intervals are Wilson score
intervals: with few evaluations they are wide, and say so.`,
    )
    .action(async (opts: { role?: string; since?: string; limit: number; json?: boolean }) => {
      const { openStore } = await import("../store/index.js");
      const { compareCandidates } = await import("../eval/index.js");
      const store = openStore(paddockPaths());
      try {
        const summaries = await store.runSummaries({ candidates: true, since: opts.since, limit: opts.limit });
        const rows = compareCandidates(summaries.filter((r) => !opts.role || r.role === opts.role));
        if (opts.json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        if (rows.length === 0) return void process.stdout.write("no candidate runs recorded (paddock eval records them)\n");
        printTable(
          ["ROLE", "CARD", "MODEL", "CONTRACT", "WINS (95% CI)", "PASSED (95% CI)", "MEDIAN", "TOKENS/RUN", "COST"],
          rows.map((r) => [r.role ?? "-", r.card, r.model ?? "-", r.contract, rate(r.wins, r.evaluations, r.win_interval), rate(r.passed, r.runs, r.pass_interval), r.median_ms === null ? "-" : `${(r.median_ms / 1000).toFixed(1)}s`, `${r.tokens}`, `$${r.cost.toFixed(4)}`]),
        );
      } catch (err) {
        process.exitCode = report(err);
      } finally {
        await store.close();
      }
    });
}
