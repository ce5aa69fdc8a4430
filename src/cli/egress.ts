import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:http";
import type { Command } from "commander";
import type { EgressConfig } from "../egress/index.js";
import { PaddockError } from "../errors/index.js";
import { paddockPaths } from "../paths/index.js";
import type { EgressRecord } from "../store/index.js";
import { EXIT, report } from "./fail.js";

export function registerEgress(program: Command): void {
  const egress = program.command("egress").description("the egress proxy: serve it on TCP, or read its audit log");

  egress
    .command("log")
    .description("print egress decisions, oldest first")
    .option("--agent <id>", "only this agent's")
    .option("--denied", "only denied requests")
    .option("--since <time>", "only at or after this ISO time")
    .option("--limit <n>", "the newest N", "100")
    .option("--database <file>", "SQLite store (default: paddock's data folder)")
    .option("--json", "one JSON object per line")
    .action(async (opts: { agent?: string; denied?: boolean; since?: string; limit: string; database?: string; json?: boolean }) => {
      try {
        const { openStore } = await import("../store/index.js");
        const store = openStore(paddockPaths(), opts.database);
        const rows = await store.egressLog({ agentId: opts.agent, deniedOnly: opts.denied, since: opts.since, limit: Number(opts.limit) });
        await store.close();
        for (const row of rows) process.stdout.write(`${opts.json ? JSON.stringify(row) : formatRow(row)}\n`);
      } catch (err) {
        process.exitCode = report(err);
      }
    });

  egress
    .command("ca")
    .description("make an agent's CA for the standalone proxy (ca.crt for its pod, ca.key for the proxy only) and print its placeholder variables")
    .requiredOption("--agent <id>", "the agent")
    .requiredOption("--out <dir>", "where ca.crt and ca.key go; an existing pair there is kept")
    .option("--config <file>", "the egress config naming the agent's credentials: their placeholder variables are printed (KEY=value lines)")
    .option("--json", "print {cert_file, key_file, environment} as JSON")
    .addHelpText(
      "after",
      `
The pod gets ca.crt (trusted there only) and the placeholder variables; the key
stays with the proxy (a Secret mounted into its pods alone). Every replica of the
proxy reads the same pair, and so injects into, and derives, the same placeholders.`,
    )
    .action(async (opts: { agent: string; out: string; config?: string; json?: boolean }) => {
      try {
        await makeCa(opts);
      } catch (err) {
        process.exitCode = report(err);
      }
    });

  egress
    .command("serve")
    .description("run the proxy on TCP; agents name themselves with Proxy-Authorization: Basic agent_id:token; SIGHUP reloads the config")
    .option("--config <file>", "egress config (YAML or JSON): listen, agents with tokens and allowed_hosts")
    .option("--kube-namespace <ns>", "also know the agents of paddock's pods in this namespace: each by its token and its pod's address")
    .option("--context <name>", "with --kube-namespace: the kubeconfig context (default: the current one, or the pod's ServiceAccount)")
    .option("--listen <host:port>", "override the config's listen")
    .option("--metrics-listen <host:port>", "override the config's metrics_listen")
    .addHelpText("after", "\nGive --config, --kube-namespace, or both.\nExit status: 0 stopped by a signal, 125 a bad config or an unreachable cluster.")
    .action(async (opts: { config?: string; kubeNamespace?: string; context?: string; listen?: string; metricsListen?: string }) => {
      try {
        if (!opts.config && !opts.kubeNamespace) throw new PaddockError("egress_agents_missing", "the proxy would know no agent", "--config", "give --config FILE, --kube-namespace NS, or both");
        await serve(opts);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}

function formatRow(r: EgressRecord): string {
  const target = r.port ? `${r.host}:${r.port}` : r.host;
  const verdict = r.decision === "allowed" ? "ALLOW" : "DENY ";
  const credential = r.credential ? `  ${r.decision === "allowed" ? "injected" : "credential"}: ${r.credential}` : "";
  return `${r.time}  ${verdict} ${r.agent_id.padEnd(16)} ${r.method.padEnd(7)} ${target.padEnd(32)} ${r.reason}${r.rule ? ` (${r.rule})` : ""}  ${r.bytes_up}/${r.bytes_down} B  ${r.duration_ms} ms${credential}`;
}

/** The egress config, read like every paddock config file: each problem as file:line:column: field: message. */
async function loadConfig(file: string): Promise<EgressConfig> {
  const { EgressConfigSchema } = await import("../egress/index.js");
  const { readConfigFile } = await import("../configfile/index.js");
  return readConfigFile(file, EgressConfigSchema, "egress_config");
}

async function serve(opts: { config?: string; kubeNamespace?: string; context?: string; listen?: string; metricsListen?: string }): Promise<void> {
  const { EgressService, EgressConfigSchema, systemResolver } = await import("../egress/index.js");
  const file = opts.config;
  const read = async () => {
    const loaded = file ? await loadConfig(file) : EgressConfigSchema.parse({});
    return { ...loaded, listen: opts.listen ?? loaded.listen, metrics_listen: opts.metricsListen ?? loaded.metrics_listen };
  };
  let config = await read();
  let tokens = tokensOf(config);
  let pods: Awaited<ReturnType<typeof import("../kube/index.js").watchAgentIdentities>> | undefined;
  const paths = paddockPaths();
  const service = new EgressService(paths, {
    kubeSecretsDir: config.kube_secrets_dir,
    // The audit goes where the rest of paddock's state is: on a cluster, the shared PostgreSQL.
    database: config.database ?? (process.env.PADDOCK_DATABASE_URL || undefined),
    auditLog: config.audit_log,
    resolver: systemResolver(config.resolve),
    authenticate: (id, token, address) => {
      const expected = tokens.get(id);
      if (expected) return timingSafeEqual(expected, Buffer.from(sha256(token), "hex"));
      return pods?.authenticate(id, token, address) ?? false;
    },
  });
  for (const agent of config.agents) await service.addConfigured(agent);
  if (opts.kubeNamespace) {
    const { kubeClients, watchAgentIdentities } = await import("../kube/index.js");
    const configured = (id: string) => tokens.has(id);
    pods = await watchAgentIdentities(await kubeClients(opts.context), opts.kubeNamespace, {
      // An agent of the config file keeps the file's settings: a pod cannot take its name.
      add: async (id, hosts) => void (configured(id) ? undefined : await service.proxy.addAgent(id, hosts)),
      setAllowlist: (id, hosts) => void (configured(id) ? undefined : service.proxy.setAllowlist(id, hosts)),
      remove: async (id) => void (configured(id) ? undefined : await service.proxy.removeAgent(id)),
    }, log);
  }
  const [host, port] = splitHostPort(config.listen);
  const address = await service.proxy.listenTcp(port, host);
  log({ msg: "egress proxy listening", listen: `${address.address}:${address.port}`, agents: config.agents.length, ...(opts.kubeNamespace ? { kube_namespace: opts.kubeNamespace } : {}) });
  if (config.metrics_listen) {
    const [mhost, mport] = splitHostPort(config.metrics_listen);
    createServer((req, res) => {
      if (req.url !== "/metrics") return void res.writeHead(404).end();
      void service.metrics.text().then((text) => res.writeHead(200, { "Content-Type": service.metrics.registry.contentType }).end(text));
    }).listen(mport, mhost, () => log({ msg: "metrics listening", listen: config.metrics_listen }));
  }
  // SIGHUP re-reads the config: agents, tokens and allowlists change without a restart (listen addresses do not).
  process.on("SIGHUP", () => {
    void (async () => {
      try {
        const next = await read();
        const wanted = new Set(next.agents.map((a) => a.agent_id));
        // Only the file's own agents: those known from pods come and go with their pods.
        for (const { agent_id: id } of config.agents) if (!wanted.has(id)) await service.proxy.removeAgent(id);
        for (const agent of next.agents) {
          const before = config.agents.find((a) => a.agent_id === agent.agent_id);
          const sameSecrets = before && JSON.stringify([before.credentials, before.ca]) === JSON.stringify([agent.credentials, agent.ca]);
          if (service.proxy.agentIds().includes(agent.agent_id) && sameSecrets) service.proxy.setAllowlist(agent.agent_id, agent.allowed_hosts);
          else {
            // New credentials or a new CA: the agent's identity is made again (its open tunnels close).
            await service.proxy.removeAgent(agent.agent_id);
            await service.addConfigured(agent);
          }
        }
        tokens = tokensOf(next);
        config = next;
        log({ msg: "egress config reloaded", agents: next.agents.length });
      } catch (err) {
        log({ level: "error", msg: "egress config not reloaded; the previous one stays in force", error: (err as Error).message });
      }
    })();
  });
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
  });
  log({ msg: "egress proxy stopping" });
  await pods?.stop();
  await service.close();
  process.exit(EXIT.ok);
}

async function makeCa(opts: { agent: string; out: string; config?: string; json?: boolean }): Promise<void> {
  const { createAgentCa, placeholderEnvironment } = await import("../egress/index.js");
  const certFile = join(opts.out, "ca.crt");
  const keyFile = join(opts.out, "ca.key");
  if (!existsSync(keyFile)) {
    const ca = await createAgentCa(opts.agent);
    mkdirSync(opts.out, { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, ca.material.key, { mode: 0o600 });
    writeFileSync(certFile, ca.material.cert, { mode: 0o644 });
  }
  let environment: Record<string, string> = {};
  if (opts.config) {
    const agent = (await loadConfig(opts.config)).agents.find((a) => a.agent_id === opts.agent);
    if (!agent) throw new PaddockError("egress_agent_unknown", `the egress config has no agent ${opts.agent}`, opts.config);
    environment = placeholderEnvironment(agent.credentials, readFileSync(keyFile, "utf8"));
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ cert_file: certFile, key_file: keyFile, environment })}\n`);
  else for (const [name, value] of Object.entries(environment)) process.stdout.write(`${name}=${value}\n`);
}

function tokensOf(config: EgressConfig): Map<string, Buffer> {
  return new Map(config.agents.map((a) => [a.agent_id, Buffer.from(a.token_sha256 ?? sha256(readFileSync(a.token_file!, "utf8").trim()), "hex")]));
}

function splitHostPort(value: string): [string, number] {
  const i = value.lastIndexOf(":");
  return [value.slice(0, i).replace(/^\[|\]$/g, ""), Number(value.slice(i + 1))];
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function log(fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", ...fields })}\n`);
}
