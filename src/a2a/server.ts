import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AGENT_CARD_PATH } from "@a2a-js/sdk";
import { DefaultRequestHandler, InMemoryTaskStore } from "@a2a-js/sdk/server";
import { agentCardHandler, jsonRpcHandler, UserBuilder } from "@a2a-js/sdk/server/express";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Card } from "../card/index.js";
import type { Executor, TaskPlace } from "../executor/index.js";
import { workerAgentCard } from "./card.js";
import { WorkerExecutor } from "./worker.js";

export interface WorkerServer {
  /** The JSON-RPC endpoint (also the base of the agent card's well-known path). */
  url: string;
  /** The bearer token every request must carry. */
  token: string;
  close(): Promise<void>;
}

/**
 * Serves one paddock agent as an A2A server (JSON-RPC binding, streaming; A2A 1.0 and 0.3),
 * outside its sandbox: the agent never holds the socket. The agent card is
 * public, as discovery needs; everything else needs the worker's token.
 */
export async function startWorkerServer(options: { card: Card; executor: Executor; place?: () => Promise<TaskPlace>; host?: string; port?: number; token?: string }): Promise<WorkerServer> {
  const token = options.token ?? randomBytes(32).toString("base64url");
  const host = options.host ?? "127.0.0.1";
  const app = express();
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(options.port ?? 0, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
  // Routes go in once the address is known: the agent card names it.
  const requestHandler = new DefaultRequestHandler(workerAgentCard(options.card, url), new InMemoryTaskStore(), new WorkerExecutor(options.card, options.executor, options.place));
  // Both protocol versions: A2A 1.0, and 0.3 (what most other languages' SDKs still speak) through the SDK's own
  // translation, chosen per request by the A2A-Version header (absent: 0.3, as the 1.0 specification says).
  app.use(`/${AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: requestHandler, legacyCompat: { enabled: true } }));
  app.use(bearer(token));
  app.use(jsonRpcHandler({ requestHandler, userBuilder: UserBuilder.noAuthentication, legacyCompat: { enabled: true } }));
  return {
    url,
    token,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Refuses a request without the worker's token, with RFC 6750's challenge. */
function bearer(token: string) {
  const expected = Buffer.from(token);
  return (req: Request, res: Response, next: NextFunction) => {
    const given = Buffer.from(/^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "");
    if (given.length === expected.length && timingSafeEqual(given, expected)) return next();
    const error = req.headers.authorization ? 'error="invalid_token", ' : "";
    res.status(401).set("WWW-Authenticate", `Bearer realm="paddock", ${error}scope="a2a"`).json({ error: { code: req.headers.authorization ? "invalid_token" : "unauthorized", message: req.headers.authorization ? "the token is not this worker's" : "this worker needs its bearer token (Authorization: Bearer <token>)" } });
  };
}
