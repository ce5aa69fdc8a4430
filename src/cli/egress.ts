import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
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
    .command("serve")
    .description("run the proxy on TCP; agents name themselves with Proxy-Authorization: Basic agent_id:token; SIGHUP reloads the config")
    .requiredOption("--config <file>", "egress config (YAML or JSON): listen, agents with tokens and allowed_hosts")
    .action(async (opts: { config: string }) => {
      try {
        await serve(opts.config);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}

function formatRow(r: EgressRecord): string {
  const target = r.port ? `${r.host}:${r.port}` : r.host;
  const verdict = r.decision === "allowed" ? "ALLOW" : "DENY ";
  return `${r.time}  ${verdict} ${r.agent_id.padEnd(16)} ${r.method.padEnd(7)} ${target.padEnd(32)} ${r.reason}${r.rule ? ` (${r.rule})` : ""}  ${r.bytes_up}/${r.bytes_down} B  ${r.duration_ms} ms`;
}

async function loadConfig(file: string): Promise<EgressConfig> {
  const { parse: parseYaml } = await import("yaml");
  const { EgressConfigSchema } = await import("../egress/index.js");
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, "utf8"));
  } catch (err) {
    throw new PaddockError("egress_config_unreadable", `cannot read the egress config: ${(err as Error).message}`, file);
  }
  const parsed = EgressConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${file}: ${i.path.join(".")}: ${i.message}`).join("\n");
    throw new PaddockError("egress_config_invalid", problems);
  }
  return parsed.data;
}

async function serve(file: string): Promise<void> {
  const { EgressService, systemResolver } = await import("../egress/index.js");
  let config = await loadConfig(file);
  let tokens = tokensOf(config);
  const paths = paddockPaths();
  const service = new EgressService(paths, {
    database: config.database,
    auditLog: config.audit_log,
    resolver: systemResolver(config.resolve),
    authenticate: (id, token) => {
      const expected = tokens.get(id);
      return !!expected && timingSafeEqual(expected, Buffer.from(sha256(token), "hex"));
    },
  });
  for (const agent of config.agents) await service.proxy.addAgent(agent.agent_id, agent.allowed_hosts);
  const [host, port] = splitHostPort(config.listen);
  const address = await service.proxy.listenTcp(port, host);
  log({ msg: "egress proxy listening", listen: `${address.address}:${address.port}`, agents: config.agents.length });
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
        const next = await loadConfig(file);
        const wanted = new Set(next.agents.map((a) => a.agent_id));
        for (const id of service.proxy.agentIds()) if (!wanted.has(id)) await service.proxy.removeAgent(id);
        for (const agent of next.agents) {
          if (service.proxy.agentIds().includes(agent.agent_id)) service.proxy.setAllowlist(agent.agent_id, agent.allowed_hosts);
          else await service.proxy.addAgent(agent.agent_id, agent.allowed_hosts);
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
  await service.close();
  process.exit(EXIT.ok);
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
