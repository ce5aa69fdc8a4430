import { readdirSync, readlinkSync } from "node:fs";

/** Host pids of the processes in the pid namespace that `initPid` is init of (itself excluded). */
export function processesInNamespace(initPid: number): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  return processesWith("pid", ns).filter((pid) => pid !== initPid);
}

/** Host pids of the processes whose namespace of `kind` is `nsLink` (as /proc/PID/ns/KIND reads). */
export function processesWith(kind: "pid" | "net", nsLink: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/${kind}`) === nsLink) pids.push(pid);
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Sends `sig` to each pid; returns how many received it. */
export function signal(pids: number[], sig: NodeJS.Signals): number {
  let reached = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
      reached++;
    } catch {
      // already gone
    }
  }
  return reached;
}
