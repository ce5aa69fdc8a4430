import type { Command } from "commander";
import { paddockPaths } from "../paths/index.js";
import { EXIT, report } from "./fail.js";

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("run the paddock daemon in the foreground: the supervisor, the egress proxy, and an API on a unix socket")
    .option("--max-agents <n>", "agents this host runs at most", "64")
    .option("--gateway <config>", "also run the LLM gateway with this config; each agent gets its own key and reaches it at 127.0.0.1:4000")
    .action(async (opts: { maxAgents: string; gateway?: string }) => {
      try {
        const { EgressService } = await import("../egress/index.js");
        const { openStore, storeLocation } = await import("../store/index.js");
        const { Supervisor, SupervisorApi, daemonSocket } = await import("../supervisor/index.js");
        const paths = paddockPaths();
        const log = (fields: Record<string, unknown>) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", ...fields })}\n`);
        const store = openStore(paths);
        const egress = new EgressService(paths);
        const gateway = opts.gateway ? await startGateway(opts.gateway, store, paths.runtime) : undefined;
        const supervisor = new Supervisor({ store, paths, egress, gateway: gateway?.access, maxAgents: Number(opts.maxAgents), log });
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
            ...(gateway ? [`  gateway  http://${gateway.listen} (agents: 127.0.0.1:4000 inside their sandbox)`] : []),
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
        await gateway?.gateway.close();
        await egress.close();
        await store.close();
        process.exit(EXIT.ok);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}

/** The gateway in the daemon's process: on its configured address for people, on a unix socket for agents. */
async function startGateway(file: string, store: import("../store/index.js").Store, runtime: string) {
  const { Gateway, loadGatewayConfig } = await import("../gateway/index.js");
  const config = await loadGatewayConfig(file);
  const gateway = new Gateway(config, store);
  const listen = config.paddock_settings.listen;
  const i = listen.lastIndexOf(":");
  const address = await gateway.listen(Number(listen.slice(i + 1)), listen.slice(0, i).replace(/^\[|\]$/g, ""));
  const socket = `${runtime}/gateway.sock`;
  await gateway.listenSocket(socket);
  const access = { socket, mint: (id: string, model?: string) => gateway.mintAgentKey(id, model), revoke: (id: string) => gateway.revokeAgentKeys(id) };
  return { gateway, access, listen: `${address.address}:${address.port}` };
}
