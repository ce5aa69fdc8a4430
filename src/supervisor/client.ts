import { request } from "node:http";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { PaddockError } from "../errors/index.js";
import type { PaddockPaths } from "../paths/index.js";

export function daemonSocket(paths: PaddockPaths): string {
  return join(paths.runtime, "paddock.sock");
}

/**
 * Calls the daemon's API: on its unix socket, or on TCP when PADDOCK_DAEMON_URL
 * names one (with PADDOCK_DAEMON_TOKEN). A missing daemon is an error that says
 * how to start one.
 */
export function callDaemon(paths: PaddockPaths, method: "GET" | "POST", path: string, body?: unknown, sink?: Writable, env: NodeJS.ProcessEnv = process.env): Promise<{ status: number; value: unknown }> {
  const socketPath = daemonSocket(paths);
  const url = env.PADDOCK_DAEMON_URL ? new URL(env.PADDOCK_DAEMON_URL) : undefined;
  const target = url ? { host: url.hostname, port: Number(url.port) } : { socketPath };
  const headers = { "Content-Type": "application/json", ...(url && env.PADDOCK_DAEMON_TOKEN ? { Authorization: `Bearer ${env.PADDOCK_DAEMON_TOKEN}` } : {}) };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers }, (res) => {
      if (sink && res.statusCode === 200) {
        res.pipe(sink, { end: false });
        return void res.on("end", () => resolve({ status: 200, value: undefined }));
      }
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 500, value: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") reject(new PaddockError("daemon_not_running", `the daemon is not running (no one listens on ${url ? url.host : socketPath})`, undefined, "start it with `paddock up`"));
      else reject(err);
    });
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A daemon call that returns the value, or throws the daemon's error as a PaddockError (with the card's problems, if any). */
export type DaemonApi = (method: "GET" | "POST", path: string, body?: unknown) => Promise<unknown>;

export function daemonApi(paths: PaddockPaths, env: NodeJS.ProcessEnv = process.env): DaemonApi {
  return async (method, path, body) => {
    const { status, value } = await callDaemon(paths, method, path, body, undefined, env);
    if (status === 401) throw new PaddockError("unauthorized", "the daemon refused the token", "PADDOCK_DAEMON_TOKEN", "set PADDOCK_DAEMON_TOKEN to the token `paddock up --listen` printed the path of");
    if (status >= 400) {
      const error = (value as { error: { code: string; message: string; where?: string; hint?: string; problems?: Array<{ file: string; line?: number; field: string; message: string }> } }).error;
      const detail = error.problems?.map((p) => `${p.file}${p.line ? `:${p.line}` : ""}: ${p.field ? `${p.field}: ` : ""}${p.message}`).join("\n") ?? error.message;
      throw new PaddockError(error.code, detail, error.problems ? undefined : error.where, error.hint);
    }
    return value;
  };
}
