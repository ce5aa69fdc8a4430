import { spawn, type ChildProcess } from "node:child_process";
import { eventually } from "./egress-helpers.js";
import { CLI } from "./helpers.js";

/** `paddock up` with these arguments, once it says it is up. */
export function startDaemon(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [CLI, "up", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return eventually(async () => (out.includes("paddock is up") ? { child, output: () => out } : undefined), 10_000);
}

/** SIGTERM, then the daemon's exit status. */
export function stopDaemon(child: ChildProcess): Promise<unknown> {
  child.kill("SIGTERM");
  return new Promise((resolve) => child.once("exit", resolve));
}
