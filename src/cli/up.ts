import type { Command } from "commander";
import { paddockPaths } from "../paths/index.js";
import { EXIT, report } from "./fail.js";

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("run the paddock daemon in the foreground: the supervisor, the egress proxy, and an API on a unix socket")
    .option("--max-agents <n>", "agents this host runs at most", "64")
    .action(async (opts: { maxAgents: string }) => {
      try {
        const { EgressService } = await import("../egress/index.js");
        const { openStore, storeLocation } = await import("../store/index.js");
        const { Supervisor, SupervisorApi, daemonSocket } = await import("../supervisor/index.js");
        const paths = paddockPaths();
        const log = (fields: Record<string, unknown>) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", ...fields })}\n`);
        const store = openStore(paths);
        const egress = new EgressService(paths);
        const supervisor = new Supervisor({ store, paths, egress, maxAgents: Number(opts.maxAgents), log });
        const api = new SupervisorApi(supervisor);
        const socket = daemonSocket(paths);
        // Owning the socket first proves no other daemon runs: only then are the agents it left taken care of.
        await api.listen(socket);
        await supervisor.recover();
        process.stdout.write(
          [
            "paddock is up",
            `  api      unix:${socket}`,
            `  state    ${storeLocation(paths)}`,
            `  logs     ${paths.data}/logs`,
            "Ctrl-C stops it and its agents.",
            "",
          ].join("\n"),
        );
        await new Promise<void>((resolve) => {
          for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
        });
        log({ msg: "stopping: agents first" });
        await api.close();
        await supervisor.close();
        await egress.close();
        await store.close();
        process.exit(EXIT.ok);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}
