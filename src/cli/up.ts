import type { Command } from "commander";
import { paddockPaths } from "../paths/index.js";
import { EXIT, report } from "./fail.js";

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("run the paddock daemon in the foreground: the supervisor, the egress proxy, and an API on a unix socket")
    .option("--max-agents <n>", "agents this host runs at most", "64")
    .option("--gateway <config>", "also run the LLM gateway with this paddock.yaml (LiteLLM's format, plus executor:); each agent gets its own key and reaches it at 127.0.0.1:4000; agents can then be A2A workers")
    .option("--listen <host:port>", "also serve the API on TCP; every request must carry the daemon's token")
    .option("--token-file <file>", "the token for --listen (default: a new one, written to the runtime folder)")
    .option("--dashboard <host:port>", "where the web dashboard listens (default: --listen's host, port 7420; a busy default port gives way to a free one)")
    .option("--no-dashboard", "serve no web dashboard")
    .option("--cards <dir>", "the cards the dashboard offers to spawn (default: ./cards, if there is one)")
    .option("--kube", "run agents as pods of a Kubernetes cluster (the kubeconfig's current context, or the pod's ServiceAccount in one)")
    .option("--context <name>", "with --kube: the kubeconfig context")
    .option("--namespace <ns>", "with --kube: the agents' namespace", "paddock-agents")
    .option("--runtime-class <name>", "with --kube: every agent pod under this RuntimeClass (gvisor)")
    .option("--kube-objects <kind>", "with --kube: auto (agent-sandbox's Sandbox where installed), sandbox, or pod", "auto")
    .option("--agent-image <kind=ref...>", "with --kube: the image of a kind of agent (command, opencode, claude-code)")
    .option("--warm <card...>", "with --kube: fill these cards' warm pools (their warm: N) now, not at their first spawn")
    .option("--store <url>", "the state store: postgres://... (several daemons and gateways share it), or a SQLite file (default: $PADDOCK_DATABASE_URL, else SQLite in the data folder)")
    .addHelpText("after", "\nWith --kube the state is in the cluster and the store: a restarted daemon adopts the pods it finds. An A2A worker's tasks run in its pod\n(pods/exec); the dashboard's terminal runs on one host only.\nExit status: 0 stopped by a signal, 125 it could not start (the message says what and where).")
    .action(async (opts: { maxAgents: string; gateway?: string; listen?: string; tokenFile?: string; dashboard: string | boolean; cards?: string; kube?: boolean; context?: string; namespace: string; runtimeClass?: string; kubeObjects: string; agentImage?: string[]; warm?: string[]; store?: string }) => {
      try {
        const { EgressService } = await import("../egress/index.js");
        const { openStore, storeLocation } = await import("../store/index.js");
        const { Supervisor, SupervisorApi, daemonSocket, describeLeftovers, findLeftovers } = await import("../supervisor/index.js");
        const paths = paddockPaths();
        const log = (fields: Record<string, unknown>) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", ...fields })}\n`);
        const store = openStore(paths, opts.store ?? (process.env.PADDOCK_DATABASE_URL || undefined));
        const pods = opts.kube ? await kubeBackend(opts, log) : undefined;
        // On a cluster the agents' way out is the cluster's proxy (egress serve --kube-namespace), not this process.
        const egress = pods ? undefined : new EgressService(paths);
        const gateway = opts.gateway ? await startGateway(opts.gateway, store, paths.runtime) : undefined;
        // With a gateway the captain can plan and roles resolve; agents can also be A2A workers whose tasks run through the
        // executor: in sandboxes on this host, or on a cluster in the worker's own pod.
        const placeOf = pods && (async (id: string, card: import("../card/index.js").Card) => {
          const agent = await supervisor.status(id);
          if (agent.state !== "running" || !agent.pod) throw new (await import("../errors/index.js")).PaddockError("worker_not_running", `worker ${id} is ${agent.state}: its pod is not running`, id, "paddock status shows why; spawn it again");
          return pods.taskPlace(id, card, agent.pod);
        });
        const a2a = gateway ? await workersFor(gateway, { store, paths, egress, log }, placeOf) : undefined;
        const supervisor: import("../supervisor/index.js").Supervisor = new Supervisor({ store, paths, egress, gateway: gateway?.access, pods, maxAgents: Number(opts.maxAgents), log, onEnded: (id) => void a2a?.workers?.close(id) });
        const { mcpHttpHandler } = await import("../mcp/index.js");
        const { daemonApi } = await import("../supervisor/index.js");
        const api = new SupervisorApi(supervisor, {
          workers: a2a?.workers,
          planner: a2a?.planner,
          roles: a2a?.roles,
          mcp: mcpHttpHandler(daemonApi(paths, { ...process.env, PADDOCK_DAEMON_URL: undefined })),
        });
        const socket = daemonSocket(paths);
        // Owning the socket first proves no other daemon runs: only then are the agents it left taken care of.
        await api.listen(socket);
        const tcp = opts.listen ? await listenTcp(api, opts.listen, opts.tokenFile, paths.runtime) : undefined;
        const dashboard = opts.dashboard === false ? undefined : await startDashboard({ supervisor, store, gateway: gateway?.gateway, spawn: (request) => api.spawn(request), paths, listen: typeof opts.dashboard === "string" ? opts.dashboard : undefined, tcp, cards: opts.cards });
        await supervisor.recover();
        // What earlier runs left behind (recover has ended this daemon's own strays): said, not removed.
        const leftovers = describeLeftovers(await findLeftovers(paths, store, { inspect: false, daemonRunning: true }));
        if (leftovers) log({ level: "warn", msg: "left behind by earlier runs: paddock gc removes them", leftovers });
        // Workers taken over from a previous daemon get their A2A server back (with a new token, shown by `paddock status`).
        for (const agent of await supervisor.list()) {
          if (a2a?.workers && agent.state === "running" && (agent.card as { paddock_worker?: boolean }).paddock_worker) {
            await a2a.workers.open(agent.agent_id, agent.card as unknown as import("../card/index.js").Card).catch((err: Error) => log({ level: "error", msg: "could not serve a worker over A2A again", agent_id: agent.agent_id, error: err.message }));
          }
        }
        process.stdout.write(
          [
            "paddock is up",
            `  api      unix:${socket}`,
            ...(tcp ? [`  api      http://${tcp.address} (token in ${tcp.tokenFile})`] : []),
            `  state    ${opts.store || process.env.PADDOCK_DATABASE_URL ? "the --store database" : storeLocation(paths)}`,
            ...(pods ? [`  agents   ${pods.objectKind === "Sandbox" ? "agent-sandbox Sandboxes" : "pods"} in namespace ${opts.namespace} of ${pods.server}`] : []),
            `  logs     ${paths.data}/logs`,
            ...(gateway ? [`  gateway  http://${gateway.listen} (agents: 127.0.0.1:4000 inside their sandbox)${gateway.masterKeyFile ? `; master key in ${gateway.masterKeyFile}` : ""}`] : []),
            ...(dashboard ? [`  web      ${dashboard.url} (log in with the token in ${dashboard.tokenFile})`] : []),
            ...(leftovers ? [`  note     left behind by earlier runs: ${leftovers}; \`paddock gc\` removes them`] : []),
            `  mcp      ${tcp ? `http://${tcp.address}/mcp (with the token)` : `unix:${socket} /mcp`}; or \`paddock mcp\` on stdio`,
            "Ctrl-C stops it and its agents.",
            "",
          ].join("\n"),
        );
        await new Promise<void>((resolve) => {
          for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
        });
        log({ msg: "stopping: agents first" });
        await api.close();
        await dashboard?.dashboard.close();
        // On a cluster the agents outlive the daemon: a new one adopts them. On this host they stop with it.
        if (!pods) await supervisor.close();
        await pods?.close();
        await a2a?.workers?.closeAll();
        await gateway?.gateway.close();
        await egress?.close();
        await store.close();
        process.exit(EXIT.ok);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}

/** Agents as pods: the cluster of the kubeconfig's context, checked before anything starts. */
async function kubeBackend(opts: { context?: string; namespace: string; runtimeClass?: string; kubeObjects: string; agentImage?: string[]; warm?: string[] }, log: (fields: Record<string, unknown>) => void) {
  const { KubeBackend, kubeClients } = await import("../kube/index.js");
  const { PaddockError } = await import("../errors/index.js");
  const { PADDOCK_VERSION } = await import("./version.js");
  if (!["auto", "pod", "sandbox"].includes(opts.kubeObjects)) throw new PaddockError("kube_objects_invalid", `'${opts.kubeObjects}' is not auto, pod or sandbox`, "--kube-objects");
  const images: Record<string, string> = {};
  for (const pair of opts.agentImage ?? []) {
    const [kind, ref] = [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)];
    if (!["command", "opencode", "claude-code"].includes(kind) || !ref) throw new PaddockError("agent_image_invalid", `'${pair}' is not KIND=IMAGE with KIND command, opencode or claude-code`, "--agent-image");
    images[kind] = ref;
  }
  const clients = await kubeClients(opts.context);
  const { loadCard } = await import("../card/index.js");
  const warm = await Promise.all((opts.warm ?? []).map((file) => loadCard(file)));
  for (const { card, file } of warm) {
    if (card.warm === 0) throw new PaddockError("warm_card_cold", `${file} asks for no warm pods`, `${file}: warm`, "set warm: N in the card (the pool's size)");
  }
  const backend = await KubeBackend.open(clients, { namespace: opts.namespace, version: PADDOCK_VERSION, images, runtimeClass: opts.runtimeClass, objects: opts.kubeObjects as "auto" | "pod" | "sandbox", log });
  for (const { card, file } of warm) {
    const pool = await backend.warm(card);
    if (!pool) throw new PaddockError("warm_needs_agent_sandbox", `${file} asks for warm pods, and this cluster's agents are plain pods`, "--warm", "install agent-sandbox with its extensions (or use --kube-objects sandbox)");
    log({ msg: "warm pool filling", pool, replicas: card.warm, card: file });
  }
  return Object.assign(backend, { server: clients.server });
}

/** The gateway in the daemon's process: on its configured address for people, on a unix socket for agents. */
async function startGateway(file: string, store: import("../store/index.js").Store, runtime: string) {
  const { Gateway, gatewayAccess } = await import("../gateway/index.js");
  const { loadPaddockConfig } = await import("../config/index.js");
  const paddockConfig = await loadPaddockConfig(file);
  // Agents' keys only mean something when the gateway checks keys: without a master key in the file, the daemon makes one (owner-only file).
  const { randomBytes } = await import("node:crypto");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  let config = paddockConfig.gateway!;
  let masterKeyFile: string | undefined;
  if (!config.general_settings.master_key) {
    mkdirSync(runtime, { recursive: true, mode: 0o700 });
    masterKeyFile = `${runtime}/gateway-master-key`;
    const masterKey = `sk-${randomBytes(24).toString("base64url")}`;
    writeFileSync(masterKeyFile, `${masterKey}\n`, { mode: 0o600 });
    config = { ...config, general_settings: { ...config.general_settings, master_key: masterKey } };
  }
  const gateway = new Gateway(config, store);
  const listen = config.paddock_settings.listen;
  const i = listen.lastIndexOf(":");
  const address = await gateway.listen(Number(listen.slice(i + 1)), listen.slice(0, i).replace(/^\[|\]$/g, ""));
  const socket = `${runtime}/gateway.sock`;
  await gateway.listenSocket(socket);
  return { gateway, access: gatewayAccess(gateway, socket), config: paddockConfig, masterKeyFile, listen: `${address.address}:${address.port}` };
}

/** The executor behind the daemon's A2A workers, and the captain's planner, both on the daemon's gateway. */
async function workersFor(
  gateway: Awaited<ReturnType<typeof startGateway>>,
  parts: { store: import("../store/index.js").Store; paths: import("../paths/index.js").PaddockPaths; egress: import("../egress/index.js").EgressService | undefined; log: (fields: Record<string, unknown>) => void },
  placeOf?: (id: string, card: import("../card/index.js").Card) => Promise<import("../executor/index.js").TaskPlace>,
) {
  const { Executor } = await import("../executor/index.js");
  const { A2AWorkers } = await import("../a2a/index.js");
  const { planTask } = await import("../captain/index.js");
  const { resolveRole } = await import("../config/index.js");
  const { config } = gateway;
  const { egress } = parts;
  const roles = Object.entries(config.roles).map(([name, role]) => ({ name, ...(role.description ? { description: role.description } : {}) }));
  return {
    workers: egress || placeOf ? new A2AWorkers(new Executor({ ...parts, egress, gateway: gateway.access, settings: config.executor }), placeOf) : undefined,
    planner: (request: { task: string; workers: number; model?: string; roles?: boolean }) => planTask({ gateway: gateway.access, task: request.task, workers: request.workers, model: request.model, roles: request.roles === false ? [] : roles }),
    roles: { resolve: (name: string) => resolveRole(config, name) },
  };
}

/** The API on TCP, never without a token: the given one, or a new one only the owner can read. */
async function listenTcp(api: import("../supervisor/index.js").SupervisorApi, listen: string, tokenFile: string | undefined, runtime: string) {
  const { randomBytes } = await import("node:crypto");
  const { readFileSync, writeFileSync } = await import("node:fs");
  const file = tokenFile ?? `${runtime}/daemon.token`;
  const token = tokenFile ? readFileSync(tokenFile, "utf8").trim() : randomBytes(32).toString("base64url");
  if (!tokenFile) writeFileSync(file, `${token}\n`, { mode: 0o600 });
  if (token.length < 16) throw new (await import("../errors/index.js")).PaddockError("token_weak", "the daemon's token must be at least 16 characters", file);
  const i = listen.lastIndexOf(":");
  const address = await api.listenTcp(Number(listen.slice(i + 1)), listen.slice(0, i).replace(/^\[|\]$/g, ""), token);
  return { address: `${address.address}:${address.port}`, host: address.address, token, tokenFile: file };
}

const DASHBOARD_PORT = 7420;

/** The web dashboard: with --listen, on its host and with its token; otherwise on loopback with a token of its own. */
async function startDashboard(parts: {
  supervisor: import("../supervisor/index.js").Supervisor;
  store: import("../store/index.js").Store;
  gateway?: import("../gateway/index.js").Gateway;
  spawn: (request: { card_path: string; name?: string; ttl_seconds?: number }) => Promise<unknown>;
  paths: import("../paths/index.js").PaddockPaths;
  listen?: string;
  tcp?: Awaited<ReturnType<typeof listenTcp>>;
  cards?: string;
}) {
  const { Dashboard } = await import("../dashboard/index.js");
  const { randomBytes } = await import("node:crypto");
  const { existsSync, writeFileSync } = await import("node:fs");
  const { join, resolve } = await import("node:path");
  const { ROOT_DIR } = await import("./root.js");
  let token = parts.tcp?.token;
  let tokenFile = parts.tcp?.tokenFile;
  if (!token) {
    tokenFile = join(parts.paths.runtime, "dashboard.token");
    token = randomBytes(32).toString("base64url");
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  }
  const cardsDir = parts.cards ? resolve(parts.cards) : existsSync("cards") ? resolve("cards") : undefined;
  const dashboard = new Dashboard({ ...parts, token, cardsDir, assetsDir: join(ROOT_DIR, "dist", "dashboard"), uploadsDir: join(parts.paths.data, "dashboard-cards") });
  const listen = parts.listen ?? `${parts.tcp?.host ?? "127.0.0.1"}:${DASHBOARD_PORT}`;
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(i + 1));
  const address = await dashboard.listen(port, host).catch(async (err: NodeJS.ErrnoException) => {
    // The default port taken (another daemon): a free one, which the banner prints; a port asked for is not given up.
    if (err.code !== "EADDRINUSE" || parts.listen) throw err;
    return dashboard.listen(0, host);
  });
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return { dashboard, url: `http://${shown}:${address.port}/`, tokenFile };
}
