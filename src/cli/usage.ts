import { Option, type Command } from "commander";
import { paddockPaths } from "../paths/index.js";
import { report } from "./fail.js";
import { since } from "./parse.js";
import { printTable } from "./table.js";


export function registerUsage(program: Command): void {
  program
    .command("usage")
    .description("tokens, requests and cost through the gateway, summed per agent, key, model, day or hour (from its usage rows)")
    .addOption(new Option("--by <group>", "what to sum by").choices(["agent", "key", "model", "day", "hour"]).default("agent"))
    .option("--since <when>", "a span back from now (30m, 24h, 7d) or a date (2026-12-01)", since, since("30d"))
    .option("--database <url>", "the store the gateway writes to (a SQLite file or postgres:// URL; default: paddock's own)")
    .option("--json", "JSON on stdout")
    .action(async (opts: { by: "agent" | "key" | "model" | "day" | "hour"; since: string; database?: string; json?: boolean }) => {
      const { openStore } = await import("../store/index.js");
      const store = openStore(paddockPaths(), opts.database);
      try {
        const rows = await store.usageSummary({ by: opts.by, since: opts.since });
        if (opts.json) return void process.stdout.write(`${JSON.stringify({ by: opts.by, since: opts.since, rows }, null, 2)}\n`);
        if (rows.length === 0) return void process.stderr.write(`no usage since ${opts.since}\n`);
        const total = rows.reduce((t, r) => ({ requests: t.requests + r.requests, input: t.input + r.input_tokens, output: t.output + r.output_tokens, cost: t.cost + r.cost, limited: t.limited + r.rate_limited }), { requests: 0, input: 0, output: 0, cost: 0, limited: 0 });
        const line = (name: string, requests: number, input: number, output: number, cost: number, limited: number) => [name, String(requests), String(input), String(output), `$${cost.toFixed(4)}`, String(limited)];
        printTable(
          [opts.by.toUpperCase(), "REQUESTS", "INPUT TOKENS", "OUTPUT TOKENS", "COST", "RATE LIMITED"],
          [...rows.map((r) => line(r.group ?? "-", r.requests, r.input_tokens, r.output_tokens, r.cost, r.rate_limited)), line("total", total.requests, total.input, total.output, total.cost, total.limited)],
        );
      } catch (err) {
        process.exitCode = report(err);
      } finally {
        await store.close();
      }
    });
}
