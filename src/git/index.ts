import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * git on an agent's workspace, from the host. The workspace is the agent's:
 * its .git/config could name programs (fsmonitor, hooks, diff drivers) that
 * paddock must never run on the host, so they are all turned off here.
 */
const SAFE = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false", "-c", "diff.external=", "-c", "safe.directory=*"];

/** Runs git in `dir` with those settings; resolves with its stdout, rejects when it fails. */
export async function workspaceGit(dir: string, args: string[]): Promise<string> {
  const { stdout } = await run("git", [...SAFE, "-C", dir, ...args], { maxBuffer: 64 << 20 });
  return stdout;
}
