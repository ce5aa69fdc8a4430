import http from "node:http";
import type net from "node:net";
import tls from "node:tls";
import type { AgentCa } from "./ca.js";
import type { EgressLimits } from "./types.js";

/** Who a terminated tunnel belongs to and where it was allowed to go; handed back with each request read from it. */
export interface TunnelContext<Agent> {
  agent: Agent;
  host: string;
  port: number;
  address: string;
  rule: string;
}

export type InterceptedRequest<Agent> = (req: http.IncomingMessage, res: http.ServerResponse, tunnel: TunnelContext<Agent>) => Promise<void>;

/**
 * TLS termination for CONNECT tunnels to hosts with credentials: the client's
 * TLS ends here with a leaf of the agent's own CA, and every HTTP/1.1 request
 * read from it goes to the handler (which injects and forwards it). Tunnels to
 * any other host never come here: they stay opaque.
 */
export class Interceptor<Agent> {
  private readonly server: http.Server;
  private readonly tunnels = new WeakMap<net.Socket, TunnelContext<Agent>>();

  constructor(
    limits: EgressLimits,
    onRequest: InterceptedRequest<Agent>,
    private readonly onHandshakeFailure: (tunnel: TunnelContext<Agent>, error: Error) => void,
    onFault: (err: Error, res: http.ServerResponse) => void,
  ) {
    this.server = http.createServer({ maxHeaderSize: limits.maxHeaderBytes, requestTimeout: 0, keepAliveTimeout: 5_000 });
    this.server.maxHeadersCount = limits.maxHeaders + 1;
    this.server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const tunnel = this.tunnels.get(req.socket);
      if (!tunnel) return void res.destroy();
      onRequest(req, res, tunnel).catch((err: Error) => onFault(err, res));
    });
    // A malformed request inside the tunnel ends that tunnel; the proxy's other connections are untouched.
    this.server.on("clientError", (_err: Error, socket: net.Socket) => socket.destroy());
  }

  /** Answers the CONNECT, then speaks TLS on the client's socket as `host` (first bytes already read: `head`). */
  async take(socket: net.Socket, head: Buffer, ca: AgentCa, tunnel: TunnelContext<Agent>): Promise<void> {
    const secureContext = await ca.context(tunnel.host);
    if (socket.destroyed) return;
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0) socket.unshift(head);
    // HTTP/1.1 only: each request must be seen as one, and h2 would multiplex past that.
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ["http/1.1"] });
    let established = false;
    let failure: Error | undefined;
    secure.once("secure", () => (established = true));
    secure.on("error", (err) => {
      failure ??= err;
      secure.destroy();
    });
    // A client that distrusts the certificate often just hangs up, with no alert: the close says it.
    secure.once("close", () => {
      if (!established) this.onHandshakeFailure(tunnel, failure ?? new Error("the client closed the connection during the TLS handshake (does it trust the agent's CA?)"));
    });
    this.tunnels.set(secure, tunnel);
    this.server.emit("connection", secure);
  }

  close(): void {
    this.server.closeAllConnections();
  }
}
