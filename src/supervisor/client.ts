import { request } from "node:http";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { PaddockError } from "../errors/index.js";
import type { PaddockPaths } from "../paths/index.js";

export function daemonSocket(paths: PaddockPaths): string {
  return join(paths.runtime, "paddock.sock");
}

/** Calls the daemon's API; a missing daemon is an error that says how to start one. */
export function callDaemon(paths: PaddockPaths, method: "GET" | "POST", path: string, body?: unknown, sink?: Writable): Promise<{ status: number; value: unknown }> {
  const socketPath = daemonSocket(paths);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { "Content-Type": "application/json" } }, (res) => {
      if (sink && res.statusCode === 200) {
        res.pipe(sink, { end: false });
        return void res.on("end", () => resolve({ status: 200, value: undefined }));
      }
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 500, value: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") reject(new PaddockError("daemon_not_running", `the daemon is not running (no one listens on ${socketPath})`, undefined, "start it with `paddock up`"));
      else reject(err);
    });
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
