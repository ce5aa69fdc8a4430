import type { Command } from "commander";
import { cardJsonSchema, CardError, formatProblem, loadCard, type CardProblem } from "../card/index.js";
import { EXIT, report } from "./fail.js";

export function registerCard(program: Command): void {
  const card = program.command("card").description("work with agent cards (JSON, YAML or TOML)");

  card
    .command("validate")
    .description("check agent cards; print every problem with file, line and field")
    .argument("<files...>", "card files")
    .option("--json", "print a JSON array of results")
    .action(async (files: string[], opts: { json?: boolean }) => {
      const results = await Promise.all(files.map(async (file) => {
        try {
          const { card } = await loadCard(file);
          return { file, valid: true, agent_id: card.agent_id, problems: [] as CardProblem[] };
        } catch (err) {
          if (err instanceof CardError) return { file, valid: false, problems: err.problems };
          process.exitCode = report(err);
          return { file, valid: false, problems: [] };
        }
      }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      } else {
        for (const r of results) {
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
