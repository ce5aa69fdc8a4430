import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { killListed, readKeyed, readNumber, readPids, removeDir, write } from "./files.js";
import { readList } from "./mounts.js";
import type { AgentCgroup, CgroupLimits, LimitName } from "./types.js";

const CONTROLLER_OF: Record<LimitName, string> = { memoryBytes: "memory", cpuShares: "cpu", maxProcesses: "pids" };

/**
 * Prepares the parent folder agents are created under: it must hold no process
 * itself (cgroup v2's no-internal-process rule) and delegate our controllers.
 * Returns the controllers available to its children.
 */
export function prepareV2Parent(parent: string, wanted: LimitName[]): string[] {
  mkdirSync(parent, { recursive: true });
  const needed = [...new Set(wanted.map((l) => CONTROLLER_OF[l]))];
  const grandparent = join(parent, "..");
  const missing = needed.filter((c) => !readList(join(parent, "cgroup.controllers")).includes(c));
  if (missing.length > 0 && readList(join(grandparent, "cgroup.controllers")).length > 0) {
    tryWrite(join(grandparent, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
  }
  const available = readList(join(parent, "cgroup.controllers"));
  const toEnable = needed.filter((c) => available.includes(c) && !readList(join(parent, "cgroup.subtree_control")).includes(c));
  if (toEnable.length > 0) tryWrite(join(parent, "cgroup.subtree_control"), toEnable.map((c) => `+${c}`).join(" "));
  return readList(join(parent, "cgroup.subtree_control"));
}

export function v2Supports(delegated: string[], limit: LimitName): boolean {
  return delegated.includes(CONTROLLER_OF[limit]);
}

/** Creates the agent's cgroup with `limits`; without them, opens the one that exists. */
export function createV2(name: string, limits: CgroupLimits | undefined, enforce: LimitName[], parent: string): AgentCgroup {
  const dir = join(parent, name);
  const file = (f: string) => join(dir, f);
  if (limits) mkdirSync(dir);
  if (limits && enforce.includes("memoryBytes")) {
    write(file("memory.max"), limits.memoryBytes);
    if (existsSync(file("memory.swap.max"))) write(file("memory.swap.max"), 0);
  }
  if (limits && enforce.includes("maxProcesses")) write(file("pids.max"), limits.maxProcesses);
  // cpu.weight is cpu.shares rescaled from [2, 262144] to [1, 10000], as systemd and runc do.
  if (limits && enforce.includes("cpuShares")) write(file("cpu.weight"), 1 + Math.round(((limits.cpuShares - 2) * 9999) / 262142));
  return {
    version: 2,
    dirs: [dir],
    procsFiles: [file("cgroup.procs")],
    enforced: enforce,
    usage: () => ({
      memoryBytes: readNumber(file("memory.current")) ?? 0,
      memoryPeakBytes: readNumber(file("memory.peak")),
      processes: readNumber(file("pids.current")) ?? readPids(file("cgroup.procs")).length,
      cpuMicros: readKeyed(file("cpu.stat"), "usage_usec"),
    }),
    oomKills: () => readKeyed(file("memory.events"), "oom_kill") ?? 0,
    pids: () => readPids(file("cgroup.procs")),
    killAll: () => {
      if (existsSync(file("cgroup.kill"))) tryWrite(file("cgroup.kill"), 1);
      killListed(file("cgroup.procs"));
    },
    remove: (patienceMs) => removeDir(dir, patienceMs),
  };
}

function tryWrite(path: string, value: string | number): void {
  try {
    write(path, value);
  } catch {
    // The caller reads back what took effect and reports what is missing.
  }
}

