import { createHash, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { CardError, loadCard, type Card } from "../card/index.js";
import { isPaddockError, PaddockError } from "../errors/index.js";
import { followLog, writeWithBackpressure } from "./logs.js";
import type { Supervisor } from "./supervisor.js";

/** What the daemon adds to its agents: A2A servers for those exposed as workers (paddock's a2a module). */
export interface WorkerEndpoints {
  open(agentId: string, card: Card): Promise<{ url: string; token: string }>;
  get(agentId: string): { url: string; token: string } | undefined;
}

/** Splits a task into subtasks with a model (the captain's planner, run where the gateway is); with `roles`, it may give each a role. */
export type Planner = (request: { task: string; workers: number; model?: string; roles?: boolean }) => Promise<unknown>;

/** paddock.yaml's roles, as the daemon read them: a role by name (its card's path and its instructions read), and each with its description. */
export interface DaemonRoles {
  resolve(name: string): Promise<{ name: string; card: string; model?: string; small_model?: string; systemPrompt?: string; sections: string[]; verify?: string; verify_retries: number }>;
}

/**
 * The daemon's HTTP API, on a unix socket only its owner can open:
 *   POST /v1/agents {card_path?, role?, name?, a2a?, ttl_seconds?, worktree?}  spawn (201; 409 if the id is alive; 400
 *                                            with the card's problems); with a2a (or a card with a2a_port) the agent is an
 *                                            A2A worker; with worktree, it works in a git worktree of its own; with role
 *                                            (paddock.yaml's), the role's card (unless card_path), model, and, for a
 *                                            worker's tasks, its instructions, sections and verification
 *   POST /v1/plan {task, workers, model?, roles?}  the captain's plan: subtasks (each with a role, with roles), from a model through the gateway
 *   /mcp                                     paddock's MCP server, Streamable HTTP
 *   GET  /v1/agents                          list
 *   GET  /v1/agents/ID                       status
 *   POST /v1/agents/ID/stop {grace_seconds}  stop
 *   GET  /v1/agents/ID/logs?follow=1&tail=N&since=ISO  the agent's output
 */
export class SupervisorApi {
  private server?: Server;
  private tcpServer?: Server;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly options: { workers?: WorkerEndpoints; planner?: Planner; roles?: DaemonRoles; mcp?: (req: IncomingMessage, res: ServerResponse) => Promise<void> } = {},
  ) {}

  async listen(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    if (existsSync(socketPath)) {
      if (await answers(socketPath)) throw new PaddockError("daemon_running", `a paddock daemon already listens on ${socketPath}`, socketPath, "stop it first, or use that one");
      rmSync(socketPath);
    }
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => this.server!.once("error", reject).listen(socketPath, resolve));
    chmodSync(socketPath, 0o600);
  }

  /** The same API on TCP, for callers on other hosts: every request must carry `Authorization: Bearer <token>`. */
  async listenTcp(port: number, host: string, token: string): Promise<AddressInfo> {
    const expected = createHash("sha256").update(token).digest();
    const server = createServer((req, res) => {
      const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
      if (!timingSafeEqual(createHash("sha256").update(given).digest(), expected)) {
        return json(res, 401, { error: { code: "unauthorized", message: "send Authorization: Bearer <the daemon's token>" } });
      }
      void this.handle(req, res);
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
    this.tcpServer = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    for (const server of [this.server, this.tcpServer]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://paddock");
    const [, version, collection, id, action] = url.pathname.split("/");
    try {
      if (url.pathname === "/mcp" && this.options.mcp) return await this.options.mcp(req, res);
      if (version === "v1" && collection === "plan" && req.method === "POST") {
        if (!this.options.planner) throw new PaddockError("gateway_unavailable", "planning needs a model, and this daemon runs no gateway", "plan", "start the daemon with `paddock up --gateway paddock.yaml`");
        return json(res, 200, await this.options.planner((await body(req)) as { task: string; workers: number; model?: string }));
      }
      if (version !== "v1" || collection !== "agents") throw new PaddockError("not_found", `no route ${req.method} ${url.pathname}`);
      if (req.method === "POST" && !id) return json(res, 201, await this.spawn(await body(req)));
      if (req.method === "GET" && !id) return json(res, 200, (await this.supervisor.list()).map((a) => this.withWorker(a)));
      if (req.method === "GET" && id && !action) return json(res, 200, this.withWorker(await this.supervisor.status(id)));
      if (req.method === "POST" && id && action === "stop") {
        const { grace_seconds } = (await body(req)) as { grace_seconds?: number };
        return json(res, 200, await this.supervisor.stop(id, (grace_seconds ?? 10) * 1000));
      }
      if (req.method === "GET" && id && action === "logs") {
        const since = url.searchParams.get("since");
        return this.logs(res, id, url.searchParams.get("follow") === "1", Number(url.searchParams.get("tail") ?? 0), since ? Date.parse(since) : undefined);
      }
      throw new PaddockError("not_found", `no route ${req.method} ${url.pathname}`);
    } catch (err) {
      const status = !isPaddockError(err) ? 500 : err.code === "not_found" || err.code === "agent_unknown" ? 404 : err.code === "agent_exists" ? 409 : err.code === "agent_limit" ? 429 : 400;
      json(res, status, { error: isPaddockError(err) ? err.toJSON() : { code: "internal", message: (err as Error).message } });
    }
  }

  /** Spawns from a card file, as POST /v1/agents asks (the dashboard's spawn too). */
  async spawn(request: unknown) {
    const { card_path, role: roleName, name, a2a, ttl_seconds, worktree, allow_unconfined_seccomp } = request as { card_path?: string; role?: string; name?: string; a2a?: boolean; ttl_seconds?: number; worktree?: boolean; allow_unconfined_seccomp?: boolean };
    if (typeof card_path !== "string" && typeof roleName !== "string") throw new PaddockError("request_invalid", "card_path (or a role) is required", "card_path");
    if (ttl_seconds !== undefined && (!Number.isInteger(ttl_seconds) || ttl_seconds < 0)) throw new PaddockError("request_invalid", "ttl_seconds must be a whole number of seconds", "ttl_seconds");
    if (typeof roleName === "string" && !this.options.roles) throw new PaddockError("roles_unavailable", "roles are paddock.yaml's, and this daemon runs without one", "role", "start the daemon with `paddock up --gateway paddock.yaml`");
    const role = typeof roleName === "string" ? await this.options.roles!.resolve(roleName) : undefined;
    const loaded = await loadCard(card_path ?? role!.card);
    const card = { ...loaded.card, ...(ttl_seconds === undefined ? {} : { ttl_seconds }), ...(role?.model ? { model: role.model } : {}), ...(role?.small_model ? { small_model: role.small_model } : {}) };
    const worker = a2a === true || card.a2a_port !== undefined;
    if (worker && !this.options.workers) {
      throw new PaddockError("a2a_unavailable", "A2A workers need the executor, and this daemon runs no gateway", "a2a", "start the daemon with `paddock up --gateway paddock.yaml`");
    }
    const stored = role && { name: role.name, ...(role.systemPrompt !== undefined ? { system_prompt: role.systemPrompt } : {}), sections: role.sections, ...(role.verify ? { verify: role.verify } : {}), verify_retries: role.verify_retries };
    const record = await this.supervisor.spawn(card, { cardPath: loaded.file, id: name, worker, worktree, role: stored, allowUnconfinedSeccomp: allow_unconfined_seccomp === true });
    if (!worker) return record;
    try {
      // The stored card: a worker's clone and the folder it starts in, and what the command line allowed.
      return { ...record, a2a: await this.options.workers!.open(record.agent_id, record.card as unknown as Card) };
    } catch (err) {
      await this.supervisor.stop(record.agent_id, 0);
      throw err;
    }
  }

  private withWorker<T extends { agent_id: string }>(agent: T): T & { a2a: { url: string; token: string } | null } {
    return { ...agent, a2a: this.options.workers?.get(agent.agent_id) ?? null };
  }

  private async logs(res: ServerResponse, id: string, follow: boolean, tail: number, since: number | undefined): Promise<void> {
    await this.supervisor.status(id);
    if (since !== undefined && Number.isNaN(since)) throw new PaddockError("request_invalid", "since must be an ISO time", "since");
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
    await followLog(this.supervisor, id, { follow, tail, since, closed: () => res.destroyed }, (chunk) => writeWithBackpressure(res, chunk));
    res.end();
  }
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socketPath, () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString() || "{}");
  } catch {
    throw new PaddockError("request_invalid", "the request body is not JSON");
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value, (_k, v) => (v instanceof CardError ? v.toJSON() : v));
  res.writeHead(status, { "Content-Type": "application/json" }).end(text);
}
