import { chmodSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { Duplex } from "node:stream";
import { PaddockError } from "../errors/index.js";
import { forbiddenRange } from "./addresses.js";
import type { AuditSink } from "./audit.js";
import type { AgentCa } from "./ca.js";
import type { AgentCredentials, Injection } from "./credentials.js";
import { Interceptor, type TunnelContext } from "./intercept.js";
import type { EgressMetrics } from "./metrics.js";
import { OriginRelay } from "./relay.js";
import { endToEndHeaders, refusalBody, writeRaw, type Refusal } from "./respond.js";
import { systemResolver, type Resolver } from "./resolver.js";
import { Allowlist } from "./rules.js";
import { connectTarget, httpTarget, TargetError, type Target } from "./target.js";
import { DEFAULT_LIMITS, type EgressLimits } from "./types.js";

export interface EgressProxyOptions {
  audit: AuditSink;
  metrics?: EgressMetrics;
  resolver?: Resolver;
  limits?: Partial<EgressLimits>;
  /** Standalone mode: checks `Proxy-Authorization: Basic agent:token` on the TCP listener (and, on a cluster, the caller's address). */
  authenticate?: (agentId: string, token: string, remoteAddress: string) => boolean;
  /** Certificates (PEM) that origins reached over TLS are verified against; default: Node's own list. */
  upstreamCa?: string[];
}

/** An agent's credentials and the CA its sandbox trusts, for the hosts they are injected into. */
export interface CredentialHandling {
  credentials: AgentCredentials;
  ca: AgentCa;
}

interface AgentEntry {
  id: string;
  allowlist: Allowlist;
  listener?: net.Server;
  socketPath?: string;
  connections: Set<net.Socket>;
  revoked: boolean;
  secrets?: CredentialHandling;
}

/** What an audit record adds beyond the decision. */
interface AuditExtra {
  rule?: string;
  address?: string;
  up?: number;
  down?: number;
  allowed?: boolean;
  credential?: string;
}

/** How long one side of a tunnel is kept, once the other has ended cleanly, for the last bytes to be taken. */
const TUNNEL_DRAIN_MS = 5_000;

/** How much of a request body is searched for another host's placeholder or secret. */
const SCANNED_BODY_BYTES = 1024 * 1024;

/** Node's codes for an origin certificate that does not verify. */
const CERTIFICATE_ERRORS = new Set(["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "CERT_UNTRUSTED", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "ERR_TLS_CERT_ALTNAME_INVALID"]);

type Caller = AgentEntry | "authenticate";

/** What a request came to: the agent it belongs to, or why it has none. */
type Identity = { agent: AgentEntry } | { refusal: Refusal; claimed: string };

/**
 * paddock's egress proxy: HTTP forward proxy and CONNECT tunnels, an allowlist
 * per agent, an SSRF guard that connects only to the addresses it checked, and
 * an audit record of every decision. Each agent has its own unix socket, so the
 * proxy knows who is calling without any credential the agent could forge.
 */
export class EgressProxy {
  private readonly limits: EgressLimits;
  private readonly resolver: Resolver;
  private readonly server: http.Server;
  private readonly agents = new Map<string, AgentEntry>();
  private readonly callers = new WeakMap<Duplex, Caller>();
  private readonly headTimers = new WeakMap<Duplex, NodeJS.Timeout>();
  private readonly tcpListeners: net.Server[] = [];
  private readonly upstreamHttp = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly upstreamHttps: https.Agent;
  /** TLS termination, for tunnels to hosts with credentials only. */
  private readonly interceptor: Interceptor<AgentEntry>;
  /** Requests and tunnels not yet audited: close() waits for them so no record is lost. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: EgressProxyOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.resolver = options.resolver ?? systemResolver();
    this.upstreamHttps = new https.Agent({ keepAlive: true, maxSockets: 256, ca: options.upstreamCa });
    this.interceptor = new Interceptor<AgentEntry>(
      this.limits,
      (req, res, tunnel) => this.onIntercepted(req, res, tunnel),
      (tunnel, err) => {
        const refusal = { status: 0, reason: "tls_handshake_failed", message: err.message };
        this.audit(tunnel.agent.id, "CONNECT", { host: tunnel.host, port: tunnel.port, scheme: "tunnel" }, refusal, 0, { rule: tunnel.rule, address: tunnel.address });
      },
      (err, res) => this.fault(err, res.headersSent ? res.socket : undefined, () => res.writeHead(500).end("paddock egress proxy: internal error\n")),
    );
    // One HTTP parser for every listener: connections are handed to it with their caller attached.
    this.server = http.createServer({ maxHeaderSize: this.limits.maxHeaderBytes, requestTimeout: 0, keepAliveTimeout: 5_000 });
    this.server.maxHeadersCount = 0;
    // A fault in one request must not take down every agent's exit: it ends that request with a 500.
    this.server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) =>
      this.onRequest(req, res).catch((err: Error) => this.fault(err, res.headersSent ? res.socket : undefined, () => res.writeHead(500).end("paddock egress proxy: internal error\n"))),
    );
    this.server.on("connect", (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onConnect(req, socket, head).catch((err: Error) => this.fault(err, undefined, () => writeRaw(socket, { status: 500, reason: "internal_error", message: err.message }, "paddock egress proxy: internal error\n"))),
    );
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
  }

  /**
   * Gives an agent its egress identity and, with `socketPath`, a socket of its
   * own: connections to it are that agent's. Without one, the agent reaches the
   * proxy only through the TCP listener, naming itself with its token. With
   * `secrets`, TLS to its credentials' hosts is terminated and they are injected.
   */
  async addAgent(agentId: string, allowedHosts: readonly string[], socketPath: string, secrets?: CredentialHandling): Promise<string>;
  async addAgent(agentId: string, allowedHosts: readonly string[], socketPath?: undefined, secrets?: CredentialHandling): Promise<undefined>;
  async addAgent(agentId: string, allowedHosts: readonly string[], socketPath?: string, secrets?: CredentialHandling): Promise<string | undefined> {
    if (this.agents.has(agentId)) throw new PaddockError("egress_agent_exists", `agent ${agentId} already has an egress identity`, agentId);
    const agent: AgentEntry = { id: agentId, allowlist: new Allowlist(allowedHosts), socketPath, connections: new Set(), revoked: false, secrets: secrets?.credentials.size ? secrets : undefined };
    if (!socketPath) {
      this.agents.set(agentId, agent);
      return undefined;
    }
    const listener = net.createServer({ noDelay: true }, (socket) => this.accept(socket, agent));
    rmSync(socketPath, { force: true });
    await new Promise<void>((resolve, reject) => listener.once("error", reject).listen(socketPath, resolve));
    chmodSync(socketPath, 0o600);
    agent.listener = listener;
    this.agents.set(agentId, agent);
    return socketPath;
  }

  /** The socket an agent's egress identity listens on, if it has one. */
  socketOf(agentId: string): string | undefined {
    return this.agents.get(agentId)?.socketPath;
  }

  agentIds(): string[] {
    return [...this.agents.keys()];
  }

  /** Changes a running agent's allowlist; the next request is judged by the new one. */
  setAllowlist(agentId: string, allowedHosts: readonly string[]): void {
    const agent = this.agents.get(agentId);
    if (!agent) throw new PaddockError("egress_agent_unknown", `agent ${agentId} has no egress identity`, agentId);
    agent.allowlist = new Allowlist(allowedHosts);
  }

  /** Revokes an agent: its socket goes away and its open connections and tunnels are closed. */
  async removeAgent(agentId: string): Promise<void> {
    const agent = this.agents.get(agentId);
    if (!agent) return;
    agent.revoked = true;
    this.agents.delete(agentId);
    for (const socket of agent.connections) socket.destroy();
    await new Promise<void>((resolve) => (agent.listener ? agent.listener.close(() => resolve()) : resolve()));
    if (agent.socketPath) rmSync(agent.socketPath, { force: true });
  }

  /** Standalone mode: a TCP listener whose callers name themselves with Proxy-Authorization. */
  async listenTcp(port: number, host: string): Promise<net.AddressInfo> {
    if (!this.options.authenticate) throw new PaddockError("egress_no_auth", "a TCP listener needs credentials to tell agents apart");
    const listener = net.createServer({ noDelay: true }, (socket) => this.accept(socket, "authenticate"));
    await new Promise<void>((resolve, reject) => listener.once("error", reject).listen(port, host, resolve));
    this.tcpListeners.push(listener);
    return listener.address() as net.AddressInfo;
  }

  async close(): Promise<void> {
    for (const id of [...this.agents.keys()]) await this.removeAgent(id);
    await Promise.all(this.tcpListeners.map((l) => new Promise((resolve) => l.close(resolve))));
    this.server.closeAllConnections();
    this.interceptor.close();
    this.upstreamHttp.destroy();
    this.upstreamHttps.destroy();
    await Promise.race([Promise.all(this.inFlight), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
  }

  /** Marks work that will write an audit record; call the returned function once it has. */
  private track(): () => void {
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    this.inFlight.add(finished);
    void finished.then(() => this.inFlight.delete(finished));
    return done;
  }

  private accept(socket: net.Socket, caller: Caller): void {
    if (caller !== "authenticate") {
      if (caller.revoked) return void socket.destroy();
      if (caller.connections.size >= this.limits.maxConnectionsPerAgent) {
        const refusal = { status: 429, reason: "too_many_connections", message: `the agent already holds ${caller.connections.size} connections (limit ${this.limits.maxConnectionsPerAgent})` };
        this.audit(caller.id, "-", { host: "-", port: 0, scheme: "http" }, refusal, 0);
        return writeRaw(socket, refusal, refusalBody(refusal, "a new connection", caller.id));
      }
      caller.connections.add(socket);
      socket.once("close", () => caller.connections.delete(socket));
    }
    this.callers.set(socket, caller);
    socket.setTimeout(this.limits.idleTimeoutMs, () => socket.destroy());
    socket.on("error", () => undefined);
    socket.once("close", () => clearTimeout(this.headTimers.get(socket)));
    this.armHeadTimer(socket, caller);
    this.server.emit("connection", socket);
  }

  /** A client must finish each request head in time; the timer re-arms after every response on a kept-alive connection. */
  private armHeadTimer(socket: Duplex, caller: Caller): void {
    clearTimeout(this.headTimers.get(socket));
    // A connection that is gone has no next request to wait for.
    if (socket.destroyed) return;
    const timer = setTimeout(() => {
      const refusal = { status: 408, reason: "headers_timeout", message: `the request head was not complete within ${this.limits.headersTimeoutMs} ms` };
      const agentId = caller === "authenticate" ? "unknown" : caller.id;
      this.audit(agentId, "-", { host: "-", port: 0, scheme: "http" }, refusal, this.limits.headersTimeoutMs);
      writeRaw(socket, refusal, refusalBody(refusal, "an unfinished request", agentId));
      socket.destroy();
    }, this.limits.headersTimeoutMs);
    timer.unref();
    this.headTimers.set(socket, timer);
  }

  private identify(req: http.IncomingMessage): Identity {
    clearTimeout(this.headTimers.get(req.socket));
    const caller = this.callers.get(req.socket);
    let agent: AgentEntry | undefined;
    let claimed = "unknown";
    if (caller === "authenticate") {
      const credentials = /^basic\s+(\S+)$/i.exec(req.headers["proxy-authorization"] ?? "")?.[1];
      const [id, token] = credentials ? splitOnce(Buffer.from(credentials, "base64").toString(), ":") : [];
      claimed = id || "unknown";
      if (!id || token === undefined || !this.options.authenticate?.(id, token, req.socket.remoteAddress ?? "")) {
        return {
          claimed,
          refusal: {
            status: 407,
            reason: credentials ? "proxy_auth_failed" : "proxy_auth_required",
            message: credentials ? "unknown agent or wrong token" : "send Proxy-Authorization: Basic base64(agent_id:token)",
            headers: { "Proxy-Authenticate": 'Basic realm="paddock"' },
          },
        };
      }
      agent = this.agents.get(id);
    } else {
      agent = caller;
      claimed = caller?.id ?? claimed;
    }
    if (!agent || agent.revoked) {
      return { claimed, refusal: { status: 403, reason: "agent_revoked", message: "this connection no longer belongs to a running agent" } };
    }
    if (req.rawHeaders.length / 2 > this.limits.maxHeaders) {
      return { claimed, refusal: { status: 431, reason: "too_many_headers", message: `more than ${this.limits.maxHeaders} headers` } };
    }
    return { agent };
  }

  /** Allowlist, resolution and the SSRF guard; returns the addresses that may be connected to. */
  private async judge(agent: AgentEntry, target: Target): Promise<{ addresses: string[]; rule: string } | { refusal: Refusal; rule?: string; address?: string }> {
    const { host, port, scheme } = target;
    const rule = agent.allowlist.match(host, port, scheme);
    const rules = agent.allowlist.rules.map((r) => r.text).join(", ") || "(none)";
    if (!rule) {
      const suggestion = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
      return {
        refusal: {
          status: 403,
          reason: "not_allowed",
          message: `no allowed_hosts rule matches ${suggestion} (the card allows: ${rules})`,
          hint: `to allow it, add "${suggestion}" to allowed_hosts in the agent's card`,
        },
      };
    }
    let addresses: string[];
    try {
      addresses = await this.resolver(host);
      if (addresses.length === 0) throw new Error("no addresses");
    } catch (err) {
      return { rule: rule.text, refusal: { status: 502, reason: "dns_failed", message: `cannot resolve ${host}: ${(err as Error).message}` } };
    }
    for (const address of addresses) {
      const range = forbiddenRange(address);
      if (range && !agent.allowlist.exempts(address, port, scheme)) {
        return {
          rule: rule.text,
          address,
          refusal: {
            status: 403,
            reason: "blocked_address",
            message: `${host} resolves to ${address}, a ${range} address`,
            hint: `if the agent must reach it, name the address explicitly in allowed_hosts (e.g. "${address.includes(":") ? `[${address}]` : address}:${port}")`,
          },
        };
      }
    }
    return { addresses, rule: rule.text };
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? "GET";
    const identity = this.identify(req);
    const refuse = (refusal: Refusal, target: Target, extra: AuditExtra = {}) => {
      const agentId = "agent" in identity ? identity.agent.id : identity.claimed;
      this.audit(agentId, method, target, refusal, performance.now() - started, extra);
      res.writeHead(refusal.status, { "Content-Type": "text/plain; charset=utf-8", "X-Paddock-Deny-Reason": refusal.reason, ...refusal.headers });
      res.end(refusalBody(refusal, `${method} ${req.url}`, agentId));
      req.resume();
    };
    const unknownTarget: Target = { host: "-", port: 0, scheme: "http" };
    if ("refusal" in identity) return refuse(identity.refusal, unknownTarget);
    let target: Target;
    try {
      target = httpTarget(req.url ?? "", req.headers.host);
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      return refuse({ status: 400, reason: err.reason, message: err.message }, unknownTarget);
    }
    const verdict = await this.judge(identity.agent, target);
    if ("refusal" in verdict) return refuse(verdict.refusal, target, verdict);
    const secrets = identity.agent.secrets;
    const leak = secrets?.credentials.leakIn(target.host, target.port, [req.url ?? "", ...req.rawHeaders]);
    if (leak) return refuse(exfiltration(leak, target), target, { ...verdict, credential: leak });
    // An https URL asked of the proxy in plain HTTP: the proxy speaks TLS to the origin itself, so it can inject there.
    const injected = target.tls && secrets?.credentials.covers(target.host, target.port) ? await this.injections(secrets, target) : [];
    if ("refusal" in injected) return refuse(injected.refusal, target, verdict);
    this.forward(identity.agent, req, res, target, verdict.addresses[0]!, verdict.rule, started, injected);
  }

  /** A request read from a terminated tunnel: it must name the tunnel's host; it goes out with the credentials injected. */
  private async onIntercepted(req: http.IncomingMessage, res: http.ServerResponse, tunnel: TunnelContext<AgentEntry>): Promise<void> {
    clearTimeout(this.headTimers.get(req.socket));
    const started = performance.now();
    const { agent } = tunnel;
    const target: Target = { host: tunnel.host, port: tunnel.port, scheme: "tunnel", path: req.url ?? "/", tls: true };
    const refuse = (refusal: Refusal, credential?: string) => {
      this.audit(agent.id, req.method ?? "GET", target, refusal, performance.now() - started, { rule: tunnel.rule, address: tunnel.address, credential });
      res.writeHead(refusal.status, { "Content-Type": "text/plain; charset=utf-8", "X-Paddock-Deny-Reason": refusal.reason, Connection: "close" });
      res.end(refusalBody(refusal, `${req.method} https://${tunnel.host}:${tunnel.port}${req.url}`, agent.id));
      req.resume();
    };
    if (agent.revoked) return refuse({ status: 403, reason: "agent_revoked", message: "this connection no longer belongs to a running agent" });
    if (!target.path!.startsWith("/")) return refuse({ status: 400, reason: "origin_form", message: "inside a tunnel, send origin-form requests (GET /path)" });
    if (req.rawHeaders.length / 2 > this.limits.maxHeaders) return refuse({ status: 431, reason: "too_many_headers", message: `more than ${this.limits.maxHeaders} headers` });
    try {
      const named = httpTarget(`https://${req.headers.host ?? ""}${target.path}`, undefined);
      if (named.host !== tunnel.host || named.port !== tunnel.port) throw new TargetError("host_mismatch", `the Host header '${req.headers.host}' names another host than the tunnel (${tunnel.host}:${tunnel.port})`);
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      return refuse({ status: 421, reason: "host_mismatch", message: err.reason === "host_mismatch" ? err.message : `the Host header '${req.headers.host ?? ""}' is missing or not a host` });
    }
    const secrets = agent.secrets!;
    const leak = secrets.credentials.leakIn(target.host, target.port, [target.path!, ...req.rawHeaders]);
    if (leak) return refuse(exfiltration(leak, target), leak);
    const injected = await this.injections(secrets, target);
    if ("refusal" in injected) return refuse(injected.refusal);
    this.forward(agent, req, res, target, tunnel.address, tunnel.rule, started, injected);
  }

  /** The credential headers for a request, or why they cannot be had (a secret file gone, empty, too large). */
  private async injections(secrets: CredentialHandling, target: Target): Promise<Injection[] | { refusal: Refusal }> {
    try {
      return await secrets.credentials.injections(target.host, target.port);
    } catch (err) {
      if (!(err instanceof PaddockError)) throw err;
      return { refusal: { status: 502, reason: "credential_unavailable", message: `the credential for ${target.host} cannot be read: ${err.describe()}` } };
    }
  }

  private forward(agent: AgentEntry, req: http.IncomingMessage, res: http.ServerResponse, target: Target, address: string, rule: string, started: number, injected: Injection[] = []): void {
    let up = 0;
    let down = 0;
    let outcome: { status: number; reason: string } = { status: 0, reason: "allowed" };
    let credential = injected.map((i) => i.name).join(",") || undefined;
    let leaked = false;
    const scanner = agent.secrets?.credentials.bodyScanner(target.host, target.port, SCANNED_BODY_BYTES);
    const masker = injected.length > 0 ? agent.secrets!.credentials.masker(injected) : undefined;
    const audited = this.track();
    const upstream = (target.tls ? https : http).request({
      host: address,
      port: target.port,
      method: req.method,
      path: target.path,
      headers: withInjections(endToEndHeaders(req.rawHeaders), injected),
      setHost: false,
      agent: target.tls ? this.upstreamHttps : this.upstreamHttp,
      servername: target.tls && !net.isIP(target.host) ? target.host : undefined,
      timeout: this.limits.connectTimeoutMs,
    });
    upstream.on("response", (response) => {
      outcome = { status: response.statusCode ?? 502, reason: "allowed" };
      const headers = endToEndHeaders(response.rawHeaders);
      res.writeHead(response.statusCode ?? 502, response.statusMessage, masker ? masker.headers(headers) : headers);
      response.on("data", (chunk: Buffer) => (down += chunk.length));
      // Injected requests ask for no compression, so the answer can be masked; an origin that compresses anyway is passed as it is.
      (masker && !response.headers["content-encoding"] ? response.pipe(masker.body()) : response).pipe(res);
    });
    upstream.on("timeout", () => upstream.destroy(Object.assign(new Error("origin timed out"), { code: "ETIMEDOUT" })));
    upstream.on("error", (err: NodeJS.ErrnoException) => {
      if (leaked) return;
      const timedOut = err.code === "ETIMEDOUT";
      const certificate = CERTIFICATE_ERRORS.has(err.code ?? "");
      outcome = { status: timedOut ? 504 : 502, reason: timedOut ? "upstream_timeout" : certificate ? "upstream_certificate" : "upstream_error" };
      if (res.headersSent) return void res.destroy();
      res.writeHead(outcome.status, { "Content-Type": "text/plain; charset=utf-8", "X-Paddock-Deny-Reason": outcome.reason });
      const why = certificate ? `its certificate does not verify against this host's trust store (${err.code}); nothing was sent` : (err.code ?? err.message);
      res.end(`paddock egress proxy: ${target.host}:${target.port} (${address}) failed: ${why}\n`);
    });
    // Copied by hand rather than piped: a chunk that carries another host's placeholder or secret must never be written.
    req.on("data", (chunk: Buffer) => {
      up += chunk.length;
      const leak = scanner?.scan(chunk);
      if (leak) {
        leaked = true;
        credential = leak;
        const refusal = exfiltration(leak, target);
        outcome = refusal;
        upstream.destroy();
        if (res.headersSent) return void res.destroy();
        res.writeHead(refusal.status, { "Content-Type": "text/plain; charset=utf-8", "X-Paddock-Deny-Reason": refusal.reason, Connection: "close" });
        return void res.end(refusalBody(refusal, `${req.method} ${target.host}:${target.port}${target.path}`, agent.id));
      }
      if (!upstream.write(chunk)) req.pause();
    });
    upstream.on("drain", () => req.resume());
    req.on("end", () => upstream.end());
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
      this.armHeadTimer(req.socket, agent);
      const decision = { status: outcome.status, reason: outcome.reason, message: "" };
      this.audit(agent.id, req.method ?? "GET", target, decision, performance.now() - started, { rule, address, up, down, allowed: !leaked, credential });
      audited();
    });
  }

  private async onConnect(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = performance.now();
    const identity = this.identify(req);
    const agentId = "agent" in identity ? identity.agent.id : identity.claimed;
    const refuse = (refusal: Refusal, target: Target, extra: AuditExtra = {}) => {
      this.audit(agentId, "CONNECT", target, refusal, performance.now() - started, extra);
      writeRaw(socket, refusal, refusalBody(refusal, `CONNECT ${req.url}`, agentId));
    };
    const unknownTarget: Target = { host: "-", port: 0, scheme: "tunnel" };
    if ("refusal" in identity) return refuse(identity.refusal, unknownTarget);
    let target: Target;
    try {
      target = connectTarget(req.url ?? "");
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      return refuse({ status: 400, reason: err.reason, message: err.message }, unknownTarget);
    }
    const verdict = await this.judge(identity.agent, target);
    if ("refusal" in verdict) return refuse(verdict.refusal, target, verdict);
    const secrets = identity.agent.secrets;
    const leak = secrets?.credentials.leakIn(target.host, target.port, [req.url ?? "", ...req.rawHeaders]);
    if (leak) return refuse(exfiltration(leak, target), target, { ...verdict, credential: leak });
    if (secrets?.credentials.covers(target.host, target.port)) {
      const tunnel = { agent: identity.agent, host: target.host, port: target.port, address: verdict.addresses[0]!, rule: verdict.rule };
      return this.interceptor.take(socket as net.Socket, head, secrets.ca, tunnel);
    }
    let dialled: { origin: net.Socket; relay: OriginRelay } | undefined;
    let address = verdict.addresses[0]!;
    let failure: NodeJS.ErrnoException | undefined;
    for (const candidate of verdict.addresses) {
      address = candidate;
      try {
        dialled = await this.dial(candidate, target.port);
        break;
      } catch (err) {
        failure = err as NodeJS.ErrnoException;
      }
    }
    if (!dialled || socket.destroyed) {
      dialled?.origin.destroy();
      const timedOut = failure?.code === "ETIMEDOUT";
      const refusal = { status: timedOut ? 504 : 502, reason: timedOut ? "upstream_timeout" : "upstream_error", message: `${target.host}:${target.port} (${address}): ${failure?.code ?? "client went away"}` };
      return refuse(refusal, target, { rule: verdict.rule, address });
    }
    this.tunnel(identity.agent, socket, dialled, head, target, address, verdict.rule, started);
  }

  private dial(address: string, port: number): Promise<{ origin: net.Socket; relay: OriginRelay }> {
    return new Promise((resolve, reject) => {
      const relay = new OriginRelay();
      const origin = net.connect({ host: address, port, onread: relay.onread });
      relay.watch(origin);
      const timer = setTimeout(() => origin.destroy(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })), this.limits.connectTimeoutMs);
      origin.once("connect", () => (clearTimeout(timer), resolve({ origin, relay })));
      origin.once("error", (err) => (clearTimeout(timer), reject(err)));
    });
  }

  private tunnel(agent: AgentEntry, client: Duplex, { origin, relay }: { origin: net.Socket; relay: OriginRelay }, head: Buffer, target: Target, address: string, rule: string, started: number): void {
    // Bytes are counted by the sockets themselves, not by a 'data' listener on every chunk.
    const socket = client as net.Socket;
    const readBefore = socket.bytesRead - head.length;
    this.options.metrics?.activeTunnels.inc({ agent: agent.id });
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0) origin.write(head);
    client.pipe(origin);
    relay.attach(client);
    origin.setTimeout(this.limits.idleTimeoutMs, () => origin.destroy());
    const audited = this.track();
    let open = 2;
    const closed = () => {
      if (--open > 0) return;
      this.options.metrics?.activeTunnels.dec({ agent: agent.id });
      const up = socket.bytesRead - readBefore;
      this.audit(agent.id, "CONNECT", target, { status: 200, reason: "allowed", message: "" }, performance.now() - started, { rule, address, up, down: origin.bytesRead, allowed: true });
      audited();
    };
    // An origin that ends cleanly has the client ended after its last byte (by the relay), and let go a moment after that
    // byte is written, should it keep its own side open; one that fails cuts the client off.
    origin.once("close", () => {
      if (!relay.ended) client.destroy();
      else if (client.writableFinished) setTimeout(() => client.destroy(), TUNNEL_DRAIN_MS).unref();
      else client.once("finish", () => setTimeout(() => client.destroy(), TUNNEL_DRAIN_MS).unref());
      closed();
    });
    // A client that hangs up has what it sent still go out (the pipe ends the origin after it), for a moment; one cut off
    // (an error, its agent revoked) takes the origin with it.
    client.once("close", () => {
      if (client.readableEnded) setTimeout(() => origin.destroy(), TUNNEL_DRAIN_MS).unref();
      else origin.destroy();
      closed();
    });
    origin.on("error", () => client.destroy());
    client.on("error", () => origin.destroy());
  }

  private fault(err: Error, destroy: Duplex | null | undefined, answer: () => void): void {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "error", msg: "egress request failed", error: err.stack ?? err.message })}\n`);
    if (destroy) destroy.destroy();
    else answer();
  }

  /** Requests Node's parser refuses before they reach us: oversized heads, CL+TE smuggling, malformed lines. */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    clearTimeout(this.headTimers.get(socket));
    const caller = this.callers.get(socket);
    const agentId = caller && caller !== "authenticate" ? caller.id : "unknown";
    const code = err.code ?? "";
    const refusal: Refusal =
      code === "HPE_HEADER_OVERFLOW"
        ? { status: 431, reason: "headers_too_large", message: `the request head is larger than ${this.limits.maxHeaderBytes} bytes` }
        : code === "HPE_UNEXPECTED_CONTENT_LENGTH" || code === "HPE_INVALID_TRANSFER_ENCODING"
          ? { status: 400, reason: "ambiguous_length", message: "a request with both Content-Length and Transfer-Encoding (or a malformed one) is refused: it could smuggle a second request" }
          : { status: 400, reason: "bad_request", message: `malformed request (${code || err.message})` };
    this.audit(agentId, "-", { host: "-", port: 0, scheme: "http" }, refusal, 0);
    writeRaw(socket, refusal, refusalBody(refusal, "a malformed request", agentId));
  }

  private audit(agentId: string, method: string, target: Target, outcome: Refusal | { status: number; reason: string; message: string }, durationMs: number, extra: AuditExtra = {}): void {
    const decision = extra.allowed ? "allowed" : "denied";
    const kind = method === "CONNECT" ? "connect" : "http";
    this.options.metrics?.decisions.inc({ agent: agentId, kind, decision, reason: outcome.reason });
    this.options.metrics?.latency.observe({ kind }, durationMs / 1000);
    if (extra.up) this.options.metrics?.bytes.inc({ agent: agentId, direction: "up" }, extra.up);
    if (extra.down) this.options.metrics?.bytes.inc({ agent: agentId, direction: "down" }, extra.down);
    this.options.audit.record({
      time: new Date().toISOString(),
      agent_id: agentId,
      method,
      host: target.host,
      port: target.port,
      address: extra.address ?? null,
      decision,
      rule: extra.rule ?? null,
      reason: outcome.reason,
      status: outcome.status || null,
      bytes_up: extra.up ?? 0,
      bytes_down: extra.down ?? 0,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      credential: extra.credential ?? null,
    });
  }
}

/** A request that carries a placeholder (or the secret) of a credential to a host the credential is not for. */
function exfiltration(credential: string, target: Target): Refusal {
  return {
    status: 403,
    reason: "credential_exfiltration",
    message: `the request carries the placeholder or secret of credential '${credential}', which is only ever sent to its own host, not ${target.host}:${target.port}`,
    hint: "credentials are added by the proxy on the way to their host; send requests there without them",
  };
}

/**
 * The agent's headers with each injected one set by the proxy (whatever the agent sent under that name is dropped), and
 * without Accept-Encoding: the answer must come uncompressed for the secrets in it to be masked.
 */
function withInjections(headers: string[], injected: Injection[]): string[] {
  if (injected.length === 0) return headers;
  const names = new Set([...injected.map((i) => i.header.toLowerCase()), "accept-encoding"]);
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!names.has(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  return [...kept, ...injected.flatMap((i) => [i.header, i.value])];
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}
