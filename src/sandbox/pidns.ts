import { readdirSync, readlinkSync } from "node:fs";

/** Host pids of the processes in the pid namespace that `initPid` is init of (itself excluded). */
export function processesInNamespace(initPid: number): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === initPid) continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/pid`) === ns) pids.push(pid);
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Host pids of the processes in the network namespace `nsLink` (as /proc/PID/ns/net reads). */
export function processesInNetNamespace(nsLink: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) === nsLink) pids.push(pid);
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
