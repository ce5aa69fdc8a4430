import type { Command } from "commander";
import { paddockPaths } from "../paths/index.js";
import { report } from "./fail.js";

export function registerGc(program: Command): void {
  program
    .command("gc")
    .description("remove what paddock runs left behind: empty agent cgroups, sandboxes of agents that ended, gVisor bundles, and clones of ended agents (their branch brought into the repository first; never one with uncommitted work)")
    .option("--dry-run", "say what would be removed, remove nothing")
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      `
Sandboxes with processes are removed only when they are this state folder's
daemon's, their agent has ended, and no daemon runs (a running daemon owns its
own); those of a running \`paddock run\` or \`exec\` are listed as in use and
left alone. A clone is removed only when its state can be read, nothing in it is
uncommitted, and its branch is in its repository.

Exit status: 0 done (also when something was kept), 125 paddock error.
PADDOCK_CGROUP_PARENT chooses the cgroup parent, as for every paddock command.`,
    )
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const { openStore } = await import("../store/index.js");
      const { callDaemon, describeLeftovers, findLeftovers, removeLeftovers } = await import("../supervisor/index.js");
      const paths = paddockPaths();
      const store = openStore(paths);
      try {
        const daemonRunning = await callDaemon(paths, "GET", "/v1/agents", undefined, undefined, {}).then(() => true, () => false);
        const found = await findLeftovers(paths, store, { inspect: true, daemonRunning });
        const done = opts.dryRun ? { removed: [], kept: [] } : await removeLeftovers(found, paths, store);
        if (opts.json) return void process.stdout.write(`${JSON.stringify({ ...found, daemon_running: daemonRunning, ...done }, null, 2)}\n`);
        if (opts.dryRun) {
          for (const s of found.stray_sandboxes) process.stdout.write(`would end  sandbox ${s.name} (pids ${s.pids.join(", ")})\n`);
          for (const c of found.empty_cgroups) process.stdout.write(`would remove cgroup ${c}\n`);
          for (const d of found.sandbox_dirs) process.stdout.write(`would remove sandbox folder ${d}\n`);
          for (const w of found.worktrees) process.stdout.write(`${w.removable ? "would remove" : "would keep"} clone ${w.path}: ${w.reason}\n`);
        }
        for (const line of done.removed) process.stdout.write(`removed ${line}\n`);
        for (const line of done.kept) process.stdout.write(`kept    ${line}\n`);
        for (const c of found.in_use) process.stdout.write(`in use  ${c.name} (pids ${c.pids.join(", ")})\n`);
        if (!describeLeftovers(found)) process.stdout.write("nothing left behind\n");
      } catch (err) {
        process.exitCode = report(err);
      } finally {
        await store.close();
      }
    });
}
