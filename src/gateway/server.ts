import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Store } from "../store/index.js";
import { countTokens, messages } from "./anthropic.js";
import type { ChatDeps } from "./chat.js";
import type { GatewayConfig } from "./config.js";
import { GatewayError, sendError, type Dialect } from "./errors.js";
import { hashKey, KeyFieldsSchema, KeyService, type AgentBudget, type Caller } from "./keys.js";
import { chatCompletions, completions, embeddings, models, send, type Billed } from "./openai.js";
import { Router } from "./router.js";
import { globalSpendReport, spendLogs } from "./spend.js";
import { discoverWindow, unreachable } from "./tokens.js";
import { GatewayMetrics, UsageSink } from "./usage.js";

type Handler = (req: IncomingMessage, res: ServerResponse, caller: Caller, body: Record<string, unknown>) => Promise<Billed | void>;

/**
 * paddock's LLM gateway: OpenAI and Anthropic wire APIs in front of
 * OpenAI-compatible model servers, with the token cap, virtual keys, budgets,
 * rate limits, routing and usage. The only door from an agent to a model.
 */
export class Gateway {
  readonly router: Router;
  readonly keys: KeyService;
  readonly metrics = new GatewayMetrics();
  private readonly usage: UsageSink;
  private readonly deps: ChatDeps;
  private server?: Server;
  private socketServer?: Server;
  private readonly routes: Record<string, { dialect: Dialect; master?: boolean; handler: Handler }>;

  constructor(
    readonly config: GatewayConfig,
    private readonly store: Store,
    private readonly log: (fields: Record<string, unknown>) => void = (f) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", ...f })}\n`),
  ) {
    this.router = new Router(config, (model, err, waitMs) => this.log({ level: "warn", msg: "model server busy; asking it again", model, wait_ms: waitMs, error: err.message }));
    this.usage = new UsageSink(store);
    this.keys = new KeyService(store, config.general_settings.master_key, this.log, (match) => this.usage.unstored(match));
    this.deps = { router: this.router, config, log: this.log };
    const openai = (h: (deps: ChatDeps, req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => Promise<Billed>): Handler => (req, res, _c, body) => h(this.deps, req, res, body);
    this.routes = {
      "POST /v1/chat/completions": { dialect: "openai", handler: openai(chatCompletions) },
      "POST /v1/completions": { dialect: "openai", handler: openai(completions) },
      "POST /v1/embeddings": { dialect: "openai", handler: openai(embeddings) },
      "GET /v1/models": { dialect: "openai", handler: async (_q, res, caller) => send(res, 200, models(this.router, caller.kind === "key" ? caller.key.models : [])) },
      "POST /v1/messages": { dialect: "anthropic", handler: (req, res, _c, body) => messages(this.deps, req, res, body) },
      "POST /v1/messages/count_tokens": { dialect: "anthropic", handler: (_q, res, _c, body) => countTokens(this.deps, res, body) },
      "POST /key/generate": { dialect: "openai", master: true, handler: (_q, res, _c, body) => this.generateKey(res, body) },
      // As LiteLLM's: the master key asks about any key (?key=), a key about itself (no ?key=, or its own).
      "GET /key/info": { dialect: "openai", handler: (req, res, caller) => this.keyInfo(req, res, caller) },
      "GET /spend/logs/v2": { dialect: "openai", master: true, handler: async (req, res) => send(res, 200, await spendLogs(this.store, searchParams(req))) },
      "GET /global/spend/report": { dialect: "openai", master: true, handler: async (req, res) => send(res, 200, await globalSpendReport(this.store, searchParams(req))) },
      "POST /key/update": { dialect: "openai", master: true, handler: (_q, res, _c, body) => this.updateKey(res, body) },
      "POST /key/delete": { dialect: "openai", master: true, handler: (_q, res, _c, body) => this.deleteKeys(res, body) },
      "GET /key/list": { dialect: "openai", master: true, handler: async (req, res) => {
        const query = searchParams(req);
        const alias = query.get("key_alias");
        const keys = (await this.keys.list()).filter((k) => alias === null || k.key_alias === alias);
        const full = query.get("return_full_object") === "true";
        send(res, 200, { keys: keys.map((k) => (full ? publicKey(k) : k.token_hash)), total_count: keys.length, current_page: 1, total_pages: 1 });
      } },
    };
  }

  private discovered?: Promise<void>;

  /** Asks each upstream its context window, once; logged per deployment. */
  discover(): Promise<void> {
    this.discovered ??= (async () => {
      await Promise.all(this.router.all().map(async (d) => (d.contextWindow ??= await discoverWindow(d))));
      for (const d of this.router.all()) this.log({ msg: "deployment", deployment: d.id, api_base: d.apiBase, context_window: d.contextWindow ?? "unknown (no cap)", max_parallel: Number.isFinite(d.maxParallel) ? d.maxParallel : "unbounded" });
    })();
    return this.discovered;
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    await this.discover();
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => this.server!.once("error", reject).listen(port, host, resolve));
    return this.server.address() as AddressInfo;
  }

  /** Also serve on a unix socket: the door agents' sandboxes are bridged to. */
  async listenSocket(path: string): Promise<void> {
    const { rmSync } = await import("node:fs");
    rmSync(path, { force: true });
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(path, resolve));
    this.socketServer = server;
  }

  /** A key for one agent: the given models only (all models when none), tagged with the agent's id. */
  async mintAgentKey(agentId: string, models: string[] = [], budget?: AgentBudget): Promise<string> {
    const { key } = await this.keys.generate({ models, metadata: { agent_id: agentId, minted_by: "paddock-supervisor", ...(budget ? { agent_budget: budget } : {}) } });
    return key;
  }

  /** A key for one task of an agent, tagged with the run; the agent's own keys (and their revocation) are not touched. */
  async mintTaskKey(agentId: string, runId: string, models: string[] = [], budget?: AgentBudget): Promise<string> {
    const { key } = await this.keys.generate({ models, metadata: { agent_id: agentId, run_id: runId, minted_by: "paddock-executor", ...(budget ? { agent_budget: budget } : {}) } });
    return key;
  }

  async revokeKey(key: string): Promise<void> {
    await this.keys.delete([key]);
  }

  /** Revokes the keys minted for an agent. */
  async revokeAgentKeys(agentId: string): Promise<void> {
    const keys = (await this.keys.list()).filter((k) => k.metadata.agent_id === agentId && k.metadata.minted_by === "paddock-supervisor");
    if (keys.length > 0) await this.keys.delete(keys.map((k) => k.token_hash));
  }

  async close(): Promise<void> {
    for (const server of [this.server, this.socketServer]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await this.usage.flush();
  }

  /** Why none of `model`'s deployments takes connections, or undefined when one does. */
  async unreachable(model: string): Promise<string | undefined> {
    const deployments = this.router.all().filter((d) => d.modelName === model);
    const reasons = await Promise.all(deployments.map((d) => unreachable(d)));
    return deployments.length > 0 && reasons.every(Boolean) ? `no deployment of '${model}' takes connections: ${reasons.join("; ")}` : undefined;
  }

  private readonly upstreamWatchers = new Map<string, Set<(message: string) => void>>();
  private fromOwnPod?: (agentId: string, remoteAddress: string) => boolean;

  /** Calls `listener` each time a request with `key` finds no deployment that answers (after the router's retries and fallbacks); returns the unsubscribe. */
  watchUpstreamFailures(key: string, listener: (message: string) => void): () => void {
    const hash = hashKey(key);
    const watchers = this.upstreamWatchers.get(hash) ?? new Set();
    this.upstreamWatchers.set(hash, watchers.add(listener));
    return () => {
      watchers.delete(listener);
      if (watchers.size === 0) this.upstreamWatchers.delete(hash);
    };
  }

  /** What one key has used so far: requests and tokens (after the pending usage rows are written). */
  async keyUsage(key: string): Promise<{ requests: number; input_tokens: number; output_tokens: number; cost: number }> {
    await this.usage.flush();
    const [row] = await this.store.usageSummary({ by: "key_hash", tokenHash: hashKey(key) });
    return { requests: row?.requests ?? 0, input_tokens: row?.input_tokens ?? 0, output_tokens: row?.output_tokens ?? 0, cost: row?.cost ?? 0 };
  }

  /** Usage rows reach the store in batches; tests and shutdown wait for them. */
  /**
   * On a cluster: an agent's key (minted by paddock's supervisor) is taken only from the address of one of that agent's
   * pods, so a key copied out of its pod is refused.
   */
  requireOwnPod(fromOwnPod: (agentId: string, remoteAddress: string) => boolean): void {
    this.fromOwnPod = fromOwnPod;
  }

  /** Resolves once every finished call is in the store: its usage row, its spend, its tokens for the key's tpm. */
  async flushUsage(): Promise<void> {
    await Promise.all([this.usage.flush(), this.keys.flush()]);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!.replace(/^\/(chat|completions|embeddings|models)/, "/v1/$1");
    const route = this.routes[`${req.method} ${path}`];
    if (req.method === "GET" && (path === "/health/liveliness" || path === "/health/liveness")) return send(res, 200, "I'm alive!");
    if (req.method === "GET" && path === "/health/readiness") return this.readiness(res);
    if (req.method === "GET" && path === "/metrics") {
      return void this.metrics.registry.metrics().then((text) => res.writeHead(200, { "Content-Type": this.metrics.registry.contentType }).end(text));
    }
    const dialect: Dialect = path.startsWith("/v1/messages") ? "anthropic" : "openai";
    const started = performance.now();
    let caller: Caller | undefined;
    let model = "";
    try {
      if (!route) throw new GatewayError(404, "not_found_error", `no route ${req.method} ${path}`);
      caller = await this.keys.authenticate(req.headers);
      const agentId = caller.kind === "key" && caller.key.metadata.minted_by === "paddock-supervisor" ? caller.key.metadata.agent_id : undefined;
      if (typeof agentId === "string" && this.fromOwnPod && !this.fromOwnPod(agentId, req.socket.remoteAddress ?? "")) {
        throw new GatewayError(401, "authentication_error", `this key is agent ${agentId}'s, and is only taken from its own pod`);
      }
      if (route.master && caller.kind !== "master") throw new GatewayError(403, "permission_error", "this endpoint needs the master key");
      const body = req.method === "POST" ? await readRequest(req, this.config.paddock_settings.max_body_bytes) : {};
      model = typeof body.model === "string" ? body.model : "";
      if (model && !route.master) {
        await this.keys.admit(caller, model);
        await this.keys.admitAgent(caller);
      }
      const billed = await route.handler(req, res, caller, body);
      if (billed) this.bill(caller, billed, started);
    } catch (err) {
      const error = err instanceof GatewayError ? err : new GatewayError(500, "api_error", `internal error: ${(err as Error).message}`);
      if (!(err instanceof GatewayError)) this.log({ level: "error", msg: "request failed", error: (err as Error).stack });
      if (model) this.metrics.requests.inc({ model, status: String(error.status) });
      if (model && caller) this.bill(caller, { model, input: 0, output: 0, status: error.status, capped: false, stream: false }, started);
      if ((error.status === 502 || error.status === 504) && caller?.kind === "key") for (const watcher of this.upstreamWatchers.get(caller.key.token_hash) ?? []) watcher(error.message);
      sendError(res, error, dialect);
    }
  }

  private bill(caller: Caller, billed: Billed, started: number): void {
    const latencyMs = performance.now() - started;
    const deployment = billed.deployment ? this.router.all().find((d) => d.id === billed.deployment) : undefined;
    const cost = deployment ? billed.input * deployment.inputCost + billed.output * deployment.outputCost : 0;
    this.keys.charge(caller, billed.input + billed.output);
    const key = caller.kind === "key" ? caller.key : undefined;
    const agentId = typeof key?.metadata.agent_id === "string" ? key.metadata.agent_id : null;
    this.usage.record({
      time: new Date().toISOString(),
      token_hash: key?.token_hash ?? null,
      agent_id: agentId,
      model: billed.model,
      deployment: billed.deployment ?? null,
      input_tokens: billed.input,
      output_tokens: billed.output,
      cost,
      latency_ms: Math.round(latencyMs * 1000) / 1000,
      status: billed.status,
      capped: billed.capped,
      stream: billed.stream,
    });
    if (billed.status !== 200) return;
    deployment?.noteLatency(latencyMs);
    this.metrics.requests.inc({ model: billed.model, status: "200" });
    this.metrics.tokens.inc({ model: billed.model, direction: "input" }, billed.input);
    this.metrics.tokens.inc({ model: billed.model, direction: "output" }, billed.output);
    this.metrics.latency.observe({ model: billed.model }, latencyMs / 1000);
    if (billed.firstByteMs !== undefined) this.metrics.ttfb.observe({ model: billed.model }, billed.firstByteMs / 1000);
    if (billed.capped) {
      this.metrics.capped.inc({ model: billed.model });
      this.log({ msg: "max_tokens capped", agent_id: agentId, model: billed.model, deployment: billed.deployment, input_tokens: billed.input });
    }
  }

  /** Every deployment's live state (health, slots, queue, latency), for the dashboard's models page. */
  deploymentStatus() {
    return this.router.all().map((d) => d.status());
  }

  private async readiness(res: ServerResponse): Promise<void> {
    const checks = await Promise.all(
      this.router.all().map(async (d) => {
        const reported = await discoverWindow(d);
        d.contextWindow ??= reported;
        return { deployment: d.id, context_window: d.contextWindow ?? null, healthy: reported !== undefined };
      }),
    );
    const healthy = checks.every((c) => c.healthy);
    send(res, healthy ? 200 : 503, { status: healthy ? "healthy" : "unhealthy", deployments: checks });
  }

  private async keyInfo(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const asked = searchParams(req).get("key");
    if (caller.kind === "master") {
      if (!asked) throw new GatewayError(400, "invalid_request_error", "pass the key as ?key= (the master key has no info of its own)", "key");
      return send(res, 200, { key: asked, info: publicKey(await this.keys.info(asked)) });
    }
    const own = caller.key.token_hash;
    if (asked && asked !== own && hashKey(asked) !== own) throw new GatewayError(403, "permission_error", "a key may only ask about itself; the master key may ask about any", "key");
    send(res, 200, { key: asked ?? own, info: publicKey(await this.keys.info(own)) });
  }

  private async generateKey(res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    const fields = parseKeyFields(body);
    const { key, record } = await this.keys.generate({ ...fields, key: typeof body.key === "string" ? body.key : undefined });
    send(res, 200, { key, ...publicKey(record) });
  }

  private async updateKey(res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    if (typeof body.key !== "string") throw new GatewayError(400, "invalid_request_error", "key is required", "key");
    send(res, 200, publicKey(await this.keys.update(body.key, parseKeyFields(body))));
  }

  private async deleteKeys(res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    if (!Array.isArray(body.keys)) throw new GatewayError(400, "invalid_request_error", "keys must be a list", "keys");
    send(res, 200, { deleted_keys: await this.keys.delete(body.keys as string[]) });
  }
}

function parseKeyFields(body: Record<string, unknown>) {
  const parsed = KeyFieldsSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new GatewayError(400, "invalid_request_error", `${issue.path.join(".")}: ${issue.message}`, issue.path.join("."));
  }
  return parsed.data;
}

function searchParams(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? "/", "http://x").searchParams;
}

function publicKey(record: import("../store/index.js").KeyRecord) {
  const { token_hash, ...rest } = record;
  return { token: token_hash, ...rest };
}

/** Reads a JSON body, refusing more than `limit` bytes (413) and malformed JSON (400). */
async function readRequest(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) {
    req.resume();
    throw new GatewayError(413, "request_too_large", `the request body is ${declared} bytes; the limit is ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new GatewayError(413, "request_too_large", `the request body is over the limit of ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as unknown;
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
    return value as Record<string, unknown>;
  } catch (err) {
    throw new GatewayError(400, "invalid_request_error", `the request body is not a JSON object: ${(err as Error).message}`);
  }
}
