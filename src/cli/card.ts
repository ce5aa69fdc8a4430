import type { Command } from "commander";
import { cardJsonSchema, CardError, formatProblem, loadCard, type CardProblem } from "../card/index.js";
import { cardHostProblems } from "../sandbox/index.js";
import { EXIT, report } from "./fail.js";
import { warnAbout } from "./warn.js";

export function registerCard(program: Command): void {
  const card = program.command("card").description("work with agent cards (JSON, YAML or TOML)");

  card
    .command("validate")
    .description("check agent cards, and that this host has their tools, workspace and mount sources; print every problem and warning with file, line and field")
    .argument("<files...>", "card files")
    .option("--json", "print a JSON array of results")
    .option("--schema-only", "check the cards alone, not against this host")
    .action(async (files: string[], opts: { json?: boolean; schemaOnly?: boolean }) => {
      const results = await Promise.all(files.map(async (file) => {
        try {
          const { card, warnings } = await loadCard(file, { hostCheck: opts.schemaOnly ? undefined : cardHostProblems });
          return { file, valid: true, agent_id: card.agent_id, problems: [] as CardProblem[], warnings };
        } catch (err) {
          if (err instanceof CardError) return { file, valid: false, problems: err.problems, warnings: [] as CardProblem[] };
          process.exitCode = report(err);
          return { file, valid: false, problems: [], warnings: [] as CardProblem[] };
        }
      }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      } else {
        for (const r of results) {
          warnAbout(r.warnings);
          if (r.valid) process.stdout.write(`${r.file}: ok (${r.agent_id})\n`);
          else for (const p of r.problems) process.stderr.write(`${formatProblem(p)}\n`);
        }
      }
      if (results.some((r) => !r.valid)) process.exitCode ??= EXIT.invalid;
    });

  card
    .command("schema")
    .description("print the agent card's JSON Schema (generated from the same schema paddock validates with)")
    .action(() => {
      process.stdout.write(`${JSON.stringify(cardJsonSchema(), null, 2)}\n`);
    });
}
