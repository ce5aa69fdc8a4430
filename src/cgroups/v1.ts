import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { killListed, readKeyed, readNumber, readPids, removeDir, write } from "./files.js";
import type { Hierarchy } from "./mounts.js";
import type { AgentCgroup, CgroupLimits, LimitName } from "./types.js";

const CONTROLLER_OF: Record<LimitName, string> = { memoryBytes: "memory", cpuShares: "cpu", maxProcesses: "pids" };

/** Which limits the v1 hierarchies here can enforce, and the folder each controller's agents go under. */
export function v1Parents(hierarchies: Hierarchy[], folder: string): Map<string, string> {
  const parents = new Map<string, string>();
  for (const h of hierarchies.filter((x) => x.version === 1)) {
    // Nest under our own cgroup so the agents stay inside whatever limits the host put on paddock.
    for (const c of h.controllers) parents.set(c, join(h.ownDir, folder));
  }
  return parents;
}

/** Creates the agent's cgroup with `limits`; without them, opens the one that exists (an agent a previous daemon started). */
export function createV1(name: string, limits: CgroupLimits | undefined, enforce: LimitName[], parents: Map<string, string>): AgentCgroup {
  const dirOf = (controller: string) => join(parents.get(controller)!, name);
  const controllers = [...new Set(enforce.map((l) => CONTROLLER_OF[l]))];
  const cpuacct = parents.has("cpuacct") ? dirOf("cpuacct") : undefined;
  const dirs = [...new Set([...controllers.map(dirOf), ...(cpuacct ? [cpuacct] : [])])];
  const memory = dirOf("memory");
  const pids = dirOf("pids");
  if (limits) writeLimits(dirs, limits, enforce, memory, pids, dirOf);
  const tasks = join(dirs[0]!, "cgroup.procs");

  return {
    version: 1,
    dirs,
    procsFiles: dirs.map((d) => join(d, "cgroup.procs")),
    enforced: enforce,
    usage: () => ({
      memoryBytes: readNumber(join(memory, "memory.usage_in_bytes")) ?? 0,
      memoryPeakBytes: readNumber(join(memory, "memory.max_usage_in_bytes")),
      processes: readNumber(join(pids, "pids.current")) ?? readPids(tasks).length,
      cpuMicros: cpuacct ? Math.round((readNumber(join(cpuacct, "cpuacct.usage")) ?? 0) / 1000) : undefined,
    }),
    oomKills: () => readKeyed(join(memory, "memory.oom_control"), "oom_kill") ?? 0,
    pids: () => readPids(tasks),
    killAll: () => killListed(tasks),
    remove: async (patienceMs) => {
      for (const dir of dirs) await removeDir(dir, patienceMs);
    },
  };
}

function writeLimits(dirs: string[], limits: CgroupLimits, enforce: LimitName[], memory: string, pids: string, dirOf: (controller: string) => string): void {
  for (const dir of dirs) mkdirSync(dir, { recursive: true });
  if (enforce.includes("memoryBytes")) {
    write(join(memory, "memory.limit_in_bytes"), limits.memoryBytes);
    // Without a memsw limit the agent could push past memory_mb into swap.
    const memsw = join(memory, "memory.memsw.limit_in_bytes");
    if (existsSync(memsw)) write(memsw, limits.memoryBytes);
  }
  if (enforce.includes("maxProcesses")) write(join(pids, "pids.max"), limits.maxProcesses);
  if (enforce.includes("cpuShares")) write(join(dirOf("cpu"), "cpu.shares"), limits.cpuShares);
}
