/**
 * What runs an A2A worker's task in its pod, started there through pods/exec (the agent images hold it at
 * /opt/paddock/lib/kube/task-start.js). Its first line of input is the task's launch {argv, env, files}: the whole
 * environment (the task's own gateway key, the worker's egress token; nothing of the container's but PATH), and the
 * HOME files to write first; and `timeout_ms`, after which it is ended here whatever else happens. The agent runs in a process group of its own with no input (agents read a piped stdin
 * as more prompt), its output is this process's, and its exit status too. Any further input, or its end (the exec's
 * stream closed: the task was cancelled or timed out, or the controller went away), ends the whole group: SIGTERM,
 * then SIGKILL; and when the agent exits, whatever it left running in its group goes with it.
 */
import { spawn } from "node:child_process";
import { exitStatus, parseLaunch, writeHomeFiles, type Launch } from "./launch.js";

/** A launch line longer than this is refused: it holds a prompt, not a workspace. */
const MAX_LAUNCH_BYTES = 8 << 20;
/** How long the agent has between SIGTERM and SIGKILL. */
const GRACE_MS = 2_000;

function fail(message: string): never {
  process.stderr.write(`paddock-task: ${message}\n`);
  process.exit(125);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

function run(launch: Launch, timeoutMs: number | undefined, stopAsked: boolean): void {
  try {
    writeHomeFiles(launch.env.HOME ?? process.env.HOME ?? "/home/agent", launch.files);
  } catch (err) {
    fail((err as Error).message);
  }
  const agent = spawn(launch.argv[0]!, launch.argv.slice(1), { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...launch.env }, stdio: ["ignore", "inherit", "inherit"], detached: true });
  agent.on("error", (err) => fail(`${launch.argv[0]}: ${err.message}`));
  let ending = false;
  const end = () => {
    if (ending || agent.pid === undefined) return;
    ending = true;
    killGroup(agent.pid, "SIGTERM");
    setTimeout(() => killGroup(agent.pid!, "SIGKILL"), GRACE_MS).unref();
  };
  process.stdin.on("data", end);
  process.stdin.on("end", end);
  process.stdin.on("error", end);
  if (stopAsked) end();
  if (timeoutMs !== undefined) setTimeout(end, timeoutMs).unref();
  agent.on("exit", (code, signal) => {
    if (agent.pid !== undefined) killGroup(agent.pid, "SIGKILL");
    process.exit(exitStatus(code, signal));
  });
}

let line = Buffer.alloc(0);
const readLaunch = (chunk: Buffer) => {
  line = Buffer.concat([line, chunk]);
  const eol = line.indexOf(10);
  if (eol < 0) {
    if (line.length > MAX_LAUNCH_BYTES) fail(`the launch is over ${MAX_LAUNCH_BYTES} bytes`);
    return;
  }
  process.stdin.off("data", readLaunch);
  process.stdin.off("end", noLaunch);
  let launch: Launch;
  let timeoutMs: unknown;
  try {
    const value = JSON.parse(line.subarray(0, eol).toString("utf8")) as { timeout_ms?: unknown };
    launch = parseLaunch(value);
    timeoutMs = value.timeout_ms;
  } catch (err) {
    fail(`the launch cannot be read: ${(err as Error).message}`);
  }
  if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs > 0))) fail("the launch's timeout_ms is not a positive number");
  // Input after the launch line, in the same chunk, already asks for the end.
  run(launch, timeoutMs, line.length > eol + 1);
};
const noLaunch = () => fail("no launch on stdin");
process.stdin.on("data", readLaunch);
process.stdin.on("end", noLaunch);
