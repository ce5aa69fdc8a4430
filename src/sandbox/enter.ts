import { existsSync, readFileSync } from "node:fs";
import { planCgroups } from "../cgroups/index.js";
import { hostProgram, NSENTER } from "./host.js";
import { SANDBOX_UID } from "./layout.js";
import { SandboxError } from "./types.js";

/**
 * How to start another process inside a running bwrap sandbox (for a user's
 * terminal on the agent): in all of its namespaces, as its unprivileged user,
 * in /workspace, with its environment, counted in (and ended with) its
 * cgroup, and unable to gain privileges. `runtimePid` is bwrap's pid.
 */
export function enterSandbox(options: { runtimePid: number; sandbox: string; command: string[]; term?: string }): { file: string; args: string[]; env: Record<string, string> } {
  const inner = sandboxRoot(options.runtimePid);
  if (!inner) throw new SandboxError("sandbox_not_running", `the sandbox ${options.sandbox} has no running process`, options.sandbox);
  const env = Object.fromEntries(
    readFileSync(`/proc/${options.runtimePid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  if (options.term) env.TERM = options.term;
  const cgroup = planCgroups({ allowUnenforced: true }).open(options.sandbox);
  const join = (cgroup?.procsFiles ?? []).map((f) => `echo $$ > '${f}'`).join(" && ");
  const nsenter = [
    hostProgram(NSENTER),
    `--target=${inner}`,
    "--user", "--mount", "--pid", "--net", "--ipc", "--uts",
    `--setuid=${SANDBOX_UID}`, `--setgid=${SANDBOX_UID}`,
    // Root and working folder are the target's (its new root after pivot_root, and /workspace): a path given here would be opened on the host.
    "--root",
    "--wd",
    "--",
    ...options.command,
  ];
  // The shell joins the cgroup, then becomes setpriv (no new privileges, ever), which becomes nsenter.
  return { file: "/bin/sh", args: ["-c", `${join ? `{ ${join}; } || exit 125; ` : ""}exec setpriv --no-new-privs "$@"`, "paddock-attach", ...nsenter], env };
}

/**
 * The sandbox's first process inside its new root: bwrap's own processes on
 * the way down (the outer one, the one in the new namespaces) still have the
 * host's root; the first one whose root shows /workspace is past pivot_root.
 */
function sandboxRoot(pid: number): number | undefined {
  for (let current: number | undefined = pid, depth = 0; current && depth < 4; depth++) {
    if (depth > 0 && existsSync(`/proc/${current}/root/workspace`)) return current;
    try {
      current = Number(readFileSync(`/proc/${current}/task/${current}/children`, "utf8").trim().split(/\s+/)[0]) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
