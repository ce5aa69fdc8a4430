import type { Command } from "commander";
import { planCgroups } from "../cgroups/index.js";
import { report } from "./fail.js";

interface GcResult {
  removed: string[];
  /** Cgroups with processes in them: a running agent (of a daemon or a `paddock exec`), never touched. */
  in_use: Array<{ name: string; pids: number[] }>;
}

export function registerGc(program: Command): void {
  program
    .command("gc")
    .description("remove the agent cgroups that paddock runs left behind empty (a crash, a SIGKILL); those with processes are listed and left alone")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExit status: 0 done (also when some cgroups are in use), 125 paddock error.\nPADDOCK_CGROUP_PARENT chooses the parent, as for every paddock command.")
    .action(async (opts: { json?: boolean }) => {
      try {
        const result = await collect();
        if (opts.json) return void process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        for (const name of result.removed) process.stdout.write(`removed ${name}\n`);
        for (const c of result.in_use) process.stdout.write(`in use  ${c.name} (pids ${c.pids.join(", ")})\n`);
        if (!result.removed.length && !result.in_use.length) process.stdout.write("no agent cgroups\n");
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}

async function collect(): Promise<GcResult> {
  const plan = planCgroups({ allowUnenforced: true });
  const result: GcResult = { removed: [], in_use: [] };
  for (const name of plan.names()) {
    const cgroup = plan.leftover(name);
    const pids = cgroup?.pids() ?? [];
    if (pids.length > 0) {
      result.in_use.push({ name, pids });
      continue;
    }
    await cgroup?.remove(2000);
    result.removed.push(name);
  }
  return result;
}
