import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { isPaddockError, PaddockError } from "../errors/index.js";
import { followLog, writeWithBackpressure } from "../supervisor/index.js";
import { agentEgress, agentUsage, egressOverview, usageOverview, type Feeds } from "./feeds.js";
import { cookies, readBody, readJson, redirect, SECURITY_HEADERS, sendAsset, sendError, sendJson } from "./http.js";
import { LiveFeed, send } from "./live.js";
import { loginPage } from "./login.js";
import { Sessions } from "./session.js";

export interface DashboardOptions extends Feeds {
  /** The daemon's token: the login form asks for it. */
  token: string;
  /** The built front end (dist/dashboard). */
  assetsDir: string;
  /** Spawns as the daemon's API does (POST /v1/agents). */
  spawn: (request: { card_path: string; name?: string; ttl_seconds?: number }) => Promise<unknown>;
  /** Cards offered for spawning; uploaded cards are kept in `uploadsDir`. */
  cardsDir?: string;
  uploadsDir: string;
}

const CARD_EXTENSIONS = [".json", ".yaml", ".yml", ".toml"];
const MAX_CARD_BYTES = 256 * 1024;
const MAX_LOG_LINE = 8 * 1024;
const LOGIN_FAILURES_PER_MINUTE = 10;

/**
 * The web dashboard, served by the daemon: a login form that takes the daemon's token and gives an HttpOnly,
 * SameSite=Strict session cookie; JSON reads behind it; state changes only with the session's CSRF token in a
 * header and from the dashboard's own origin; live updates as server-sent events.
 */
export class Dashboard {
  private server?: Server;
  private cookieName = "paddock_session";
  private readonly sessions: Sessions;
  private readonly live: LiveFeed;
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly options: DashboardOptions) {
    this.sessions = new Sessions(options.token);
    this.live = new LiveFeed(options);
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
    this.server = server;
    const address = server.address() as AddressInfo;
    // Cookies do not tell ports apart: two daemons on one host must not share a session.
    this.cookieName = `paddock_session_${address.port}`;
    return address;
  }

  async close(): Promise<void> {
    this.live.close();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://dashboard");
    const path = url.pathname;
    try {
      if (path.startsWith("/assets/") && req.method === "GET") {
        if (!sendAsset(res, this.options.assetsDir, path.slice("/assets/".length))) sendError(res, 404, "not_found", `no file ${path}`);
        return;
      }
      if (path === "/login") return await this.login(req, res);
      const session = this.sessions.verify(cookies(req).get(this.cookieName));
      if (!path.startsWith("/api/")) {
        if (req.method !== "GET") return sendError(res, 405, "method_not_allowed", `${req.method} ${path}`);
        if (!session) return redirect(res, "/login");
        if (!sendAsset(res, this.options.assetsDir, "index.html")) sendError(res, 500, "dashboard_missing", `the dashboard is not built in ${this.options.assetsDir}: run npm run build`);
        return;
      }
      if (!session) return sendError(res, 401, "unauthorized", "log in at /login with the daemon's token");
      if (req.method !== "GET") this.checkForgery(req, session);
      await this.api(req, res, url, session);
    } catch (err) {
      if (res.headersSent) return void res.end();
      if (!isPaddockError(err)) return sendError(res, 500, "internal", (err as Error).message);
      const status = { forbidden: 403, not_found: 404, agent_unknown: 404, run_unknown: 404, agent_exists: 409, agent_limit: 429, body_too_large: 413 }[err.code] ?? 400;
      sendJson(res, status, { error: err.toJSON() });
    }
  }

  /**
   * A state change must come from the dashboard itself: the session's CSRF token in a header (which a form or an
   * image on another site cannot set), and no Origin but this server's.
   */
  private checkForgery(req: IncomingMessage, session: string): void {
    const origin = req.headers.origin;
    if (!sameOrigin(req)) throw new PaddockError("forbidden", `a request from ${origin} may not change anything here`, "Origin");
    const given = req.headers["x-csrf-token"];
    if (!this.sessions.csrfMatches(session, typeof given === "string" ? given : undefined)) throw new PaddockError("forbidden", "the request lacks this session's CSRF token", "X-CSRF-Token");
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const page = (status: number, message?: string) => void res.writeHead(status, { ...SECURITY_HEADERS, "Content-Type": "text/html; charset=utf-8" }).end(loginPage(message));
    if (req.method === "GET") return page(200);
    if (req.method !== "POST") return sendError(res, 405, "method_not_allowed", `${req.method} /login`);
    if (!sameOrigin(req)) return page(403, "That form came from another site.");
    const address = req.socket.remoteAddress ?? "";
    const now = Date.now();
    const recent = (this.failures.get(address) ?? []).filter((t) => t > now - 60_000);
    if (recent.length >= LOGIN_FAILURES_PER_MINUTE) return page(429, "Too many wrong tokens; wait a minute.");
    const token = new URLSearchParams(await readBody(req, 8192)).get("token")?.trim() ?? "";
    if (!this.sessions.tokenMatches(token)) {
      // Addresses whose failures are all over a minute old are forgotten: the map stays as small as the attack is wide.
      if (this.failures.size > 1000) for (const [key, times] of this.failures) if (times.every((t) => t <= now - 60_000)) this.failures.delete(key);
      this.failures.set(address, [...recent, now]);
      return page(401, "That is not the daemon's token.");
    }
    const { cookie, maxAge } = this.sessions.create();
    redirect(res, "/", { "Set-Cookie": `${this.cookieName}=${cookie}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}` });
  }

  private async api(req: IncomingMessage, res: ServerResponse, url: URL, session: string): Promise<void> {
    const { supervisor, store } = this.options;
    const [, , collection, id, action] = url.pathname.split("/").map(decodePart);
    const route = `${req.method} ${collection}${id ? "/:id" : ""}${action ? `/${action}` : ""}`;
    const query = url.searchParams;
    switch (route) {
      case "GET session":
        return sendJson(res, 200, { csrf: this.sessions.csrfToken(session), gateway: !!this.options.gateway, cards_dir: this.options.cardsDir ?? null });
      case "POST logout":
        this.sessions.end(session);
        return sendJson(res, 200, { ok: true });
      case "GET events":
        return this.live.subscribe(res);
      case "GET agents":
        return sendJson(res, 200, await this.live.snapshot());
      case "GET agents/:id": {
        const agent = await supervisor.status(id!);
        const [runs, egress, usage] = await Promise.all([store.runSummaries({ agentId: id, limit: 200 }), agentEgress(store, id!), agentUsage(store, id!)]);
        return sendJson(res, 200, { agent, runs, egress, usage });
      }
      case "POST agents":
        return sendJson(res, 201, await this.spawn(await readJson(req, MAX_CARD_BYTES + 4096)));
      case "POST agents/:id/stop": {
        const { grace_seconds } = await readJson(req, 4096);
        return sendJson(res, 200, await supervisor.stop(id!, (typeof grace_seconds === "number" ? grace_seconds : 10) * 1000));
      }
      case "GET agents/:id/log":
        return this.log(res, id!, Number(query.get("tail") ?? 500));
      case "GET cards":
        return sendJson(res, 200, this.cards());
      case "GET runs":
        return sendJson(res, 200, await store.runSummaries({ agentId: query.get("agent") || undefined, outcome: query.get("outcome") || undefined, since: query.get("since") || undefined, limit: limit(query.get("limit")) }));
      case "GET runs/:id": {
        const run = await store.getRun(id!);
        if (!run) throw new PaddockError("run_unknown", `no run ${id}`, id);
        return sendJson(res, 200, run);
      }
      case "GET egress":
        return sendJson(res, 200, await egressOverview(store, hours(query.get("hours"), 24) * 3_600_000));
      case "GET usage":
        return sendJson(res, 200, await usageOverview(this.options, hours(query.get("hours"), 24 * 7) * 3_600_000));
      case "GET models":
        return sendJson(res, 200, { gateway: !!this.options.gateway, deployments: this.options.gateway?.deploymentStatus() ?? [] });
      default:
        throw new PaddockError("not_found", `no route ${req.method} ${url.pathname}`);
    }
  }

  private cards(): Array<{ name: string }> {
    if (!this.options.cardsDir) return [];
    try {
      return readdirSync(this.options.cardsDir, { withFileTypes: true })
        .filter((e) => e.isFile() && CARD_EXTENSIONS.includes(extname(e.name)))
        .map((e) => ({ name: e.name }))
        .sort((a, b) => a.name.localeCompare(b.name));
    } catch {
      return [];
    }
  }

  /** A card of the cards folder (by name, never a path), or an uploaded one kept under its own name. */
  private async spawn(request: Record<string, unknown>): Promise<unknown> {
    const { card, upload, name, ttl_seconds } = request as { card?: unknown; upload?: { filename?: unknown; text?: unknown }; name?: unknown; ttl_seconds?: unknown };
    let cardPath: string;
    if (typeof card === "string") {
      if (!this.cards().some((c) => c.name === card)) throw new PaddockError("request_invalid", `no card ${card} in the cards folder`, "card");
      cardPath = join(this.options.cardsDir!, card);
    } else if (upload && typeof upload.filename === "string" && typeof upload.text === "string") {
      const filename = upload.filename;
      if (!/^[\w][\w.-]{0,100}$/.test(filename) || !CARD_EXTENSIONS.includes(extname(filename))) throw new PaddockError("request_invalid", `a card's file name is letters, digits, '.', '-' and '_', ending in ${CARD_EXTENSIONS.join(", ")}`, "upload.filename");
      if (Buffer.byteLength(upload.text) > MAX_CARD_BYTES) throw new PaddockError("body_too_large", `a card may be at most ${MAX_CARD_BYTES} bytes`, "upload.text");
      mkdirSync(this.options.uploadsDir, { recursive: true, mode: 0o700 });
      cardPath = join(this.options.uploadsDir, filename);
      writeFileSync(cardPath, upload.text, { mode: 0o600 });
    } else {
      throw new PaddockError("request_invalid", "give card (a card of the cards folder) or upload {filename, text}", "card");
    }
    if (name !== undefined && typeof name !== "string") throw new PaddockError("request_invalid", "name must be a string", "name");
    if (ttl_seconds !== undefined && typeof ttl_seconds !== "number") throw new PaddockError("request_invalid", "ttl_seconds must be a number", "ttl_seconds");
    return this.options.spawn({ card_path: cardPath, ...(name ? { name } : {}), ...(ttl_seconds !== undefined ? { ttl_seconds } : {}) });
  }

  /** The agent's log as events, a line each (cut at 8 KiB), following it until the agent ends or the page goes. */
  private async log(res: ServerResponse, id: string, tail: number): Promise<void> {
    await this.options.supervisor.status(id);
    res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/event-stream; charset=utf-8" });
    const decoder = new StringDecoder("utf8");
    let partial = "";
    const line = (text: string) => `event: line\ndata: ${JSON.stringify(text.length > MAX_LOG_LINE ? `${text.slice(0, MAX_LOG_LINE)}…` : text)}\n\n`;
    await followLog(this.options.supervisor, id, { follow: true, tail: Number.isFinite(tail) ? tail : 500, closed: () => res.destroyed }, (chunk) => {
      const lines = (partial + decoder.write(chunk)).split("\n");
      partial = lines.pop()!;
      if (partial.length > MAX_LOG_LINE) lines.push(partial), (partial = "");
      return lines.length ? writeWithBackpressure(res, lines.map(line).join("")) : undefined;
    });
    if (partial) res.write(line(partial));
    send(res, "end", { state: (await this.options.supervisor.status(id)).state });
    res.end();
  }
}

/** No Origin (not a browser's cross-site request), or this server's own: by plain HTTP, or HTTPS through a proxy in front. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  return origin === undefined || origin === `http://${req.headers.host}` || origin === `https://${req.headers.host}`;
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new PaddockError("request_invalid", `'${part}' is not a valid URL path segment`);
  }
}

/** How many runs a list asks for: 10,000 unless it says otherwise, 50,000 at most. */
function limit(value: string | null): number {
  const n = Number(value ?? 10_000);
  if (!Number.isInteger(n) || n <= 0) throw new PaddockError("request_invalid", "limit must be a positive whole number", "limit");
  return Math.min(n, 50_000);
}

function hours(value: string | null, fallback: number): number {
  const n = Number(value ?? fallback);
  if (!Number.isFinite(n) || n <= 0 || n > 24 * 366) throw new PaddockError("request_invalid", "hours must be a number of hours up to a year", "hours");
  return n;
}
