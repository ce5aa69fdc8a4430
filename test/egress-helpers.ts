import { createServer, type Server } from "node:http";
import { connect, createServer as createTcpServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { AuditSink, EgressMetrics, EgressProxy, systemResolver, type EgressLimits, type EgressProxyOptions } from "../src/egress/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { openStoreAt, type Store } from "../src/store/index.js";
import { scratch, testStore } from "./helpers.js";

/** An origin server on 127.0.0.1 that answers with what it was asked. */
export async function startOrigin(): Promise<{ server: Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url} host=${req.headers.host}`);
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => res.end(`origin saw ${req.method} ${req.url}${body ? ` body=${body}` : ""}\n`));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

/** A TCP echo server on 127.0.0.1, for tunnels. */
export async function startEcho(): Promise<{ close: () => void; port: number }> {
  const server = createTcpServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { close: () => server.close(), port: (server.address() as AddressInfo).port };
}

export interface ProxyFixture {
  proxy: EgressProxy;
  store: Store;
  audit: AuditSink;
  metrics: EgressMetrics;
  dir: string;
  socketFor: (agent: string) => string;
  close: () => Promise<void>;
}

export async function startProxy(
  overrides: Record<string, string[]> = {},
  limits: Partial<EgressLimits> = {},
  authenticate?: (id: string, token: string) => boolean,
  extra: Pick<EgressProxyOptions, "upstreamCa"> = {},
): Promise<ProxyFixture> {
  const { dir, env } = scratch("paddock-egress-");
  const paths = paddockPaths(env);
  const location = testStore(paths);
  const store = openStoreAt(location);
  const audit = new AuditSink({ database: location, jsonl: join(paths.data, "logs", "egress.jsonl") }, 10);
  const metrics = new EgressMetrics();
  const proxy = new EgressProxy({ audit, metrics, resolver: systemResolver(overrides), limits, authenticate, ...extra });
  return {
    proxy,
    store,
    audit,
    metrics,
    dir,
    socketFor: (agent) => join(dir, `${agent}.sock`),
    close: async () => {
      await proxy.close();
      await audit.close();
      await store.close();
    },
  };
}

/** Sends bytes as they are on a unix socket or TCP port and returns everything the proxy answers until it closes (or `waitMs`). */
export function raw(target: string | number, text: string | Buffer, waitMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = typeof target === "number" ? connect(target, "127.0.0.1") : connect(target);
    let out = "";
    const timer = setTimeout(() => (socket.destroy(), resolve(out)), waitMs);
    socket.on("data", (d: Buffer) => (out += d.toString("latin1")));
    socket.on("error", (err) => (clearTimeout(timer), reject(err)));
    socket.on("close", () => (clearTimeout(timer), resolve(out)));
    socket.write(text);
  });
}

export function get(url: string, host = new URL(url).host, extra = ""): string {
  return `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${extra}\r\n`;
}

/** Polls `check` until it returns a value (or fails after `ms`): for records written when something closes. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
