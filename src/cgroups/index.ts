import { accessSync, constants, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { killListed, readPids, removeDir } from "./files.js";
import { readHierarchies, type Hierarchy } from "./mounts.js";
import { LimitError, type AgentCgroup, type CgroupLimits, type LimitName } from "./types.js";
import { createV1, v1Parents } from "./v1.js";
import { createV2, prepareV2Parent, v2Supports } from "./v2.js";

export { LimitError, cardField, type AgentCgroup, type CgroupLimits, type CgroupUsage, type LimitName } from "./types.js";

export interface CgroupOptions {
  /** Start even if some limits cannot be enforced (the caller warns); the cgroup enforces what it can. */
  allowUnenforced?: boolean;
  /** cgroup v2 folder to create agents under (default PADDOCK_CGROUP_PARENT, else `<mount>/paddock`). */
  v2Parent?: string;
}

/**
 * PADDOCK_CGROUP_PARENT: a folder name (`paddock-ci`) replaces `paddock` on
 * cgroup v1 and v2 alike; an absolute path is a v2 cgroup delegated to paddock.
 */
function parentSetting(env: NodeJS.ProcessEnv = process.env): { name: string } | { path: string } {
  const value = env.PADDOCK_CGROUP_PARENT;
  if (!value) return { name: "paddock" };
  if (value.startsWith("/")) return { path: value };
  if (!/^[\w.-]+$/.test(value) || value === "." || value === "..") {
    throw new LimitError(ALL_LIMITS, `PADDOCK_CGROUP_PARENT=${value} is neither a folder name nor an absolute cgroup v2 path`, "give a name like paddock-ci, or the path of a delegated cgroup v2 folder");
  }
  return { name: value };
}

export interface CgroupPlan {
  version: 1 | 2 | "none";
  enforceable: LimitName[];
  missing: Array<{ limit: LimitName; reason: string }>;
  /** The folders agents' cgroups are made in (one per v1 hierarchy). */
  parents: string[];
  /** The agent cgroups there now, by name (in any of the parents). */
  names(): string[];
  /** The folders of that name that exist, whatever limits they had (a crash may leave some hierarchies only): to end and remove a stray. */
  leftover(name: string): Leftover | undefined;
  create(name: string, limits: CgroupLimits): AgentCgroup | undefined;
  /** The existing cgroup of that name (an agent started by a previous daemon), if there is one. */
  open(name: string): AgentCgroup | undefined;
}

const ALL_LIMITS: LimitName[] = ["memoryBytes", "cpuShares", "maxProcesses"];
const ROOT_HINT = "run paddock as root, or on a cgroup v2 host point PADDOCK_CGROUP_PARENT at a cgroup delegated to you (systemd: Delegate=yes); pass --allow-unenforced-limits to run without them";

/** Works out how this host can enforce limits, once; `create` then costs a few writes. */
export function planCgroups(options: CgroupOptions = {}, hierarchies: Hierarchy[] = readHierarchies()): CgroupPlan {
  // On hybrid hosts the v2 tree may exist with none of our controllers (they sit in v1).
  const v2 = hierarchies.find((h) => h.version === 2 && ["memory", "pids", "cpu"].some((c) => h.controllers.includes(c)));
  const plan = v2 ? planV2(v2, options) : planV1(hierarchies);
  if (plan.missing.length > 0 && !options.allowUnenforced) {
    throw new LimitError(
      plan.missing.map((m) => m.limit),
      [...new Set(plan.missing.map((m) => m.reason))].join("; "),
      ROOT_HINT,
    );
  }
  return plan;
}

function planV1(hierarchies: Hierarchy[]): CgroupPlan {
  const setting = parentSetting();
  if ("path" in setting) throw new LimitError(ALL_LIMITS, `PADDOCK_CGROUP_PARENT=${setting.path} is a cgroup v2 path, and this host has cgroup v1`, "give a folder name instead (like paddock-ci): it is made under paddock's own cgroup in each hierarchy");
  const parents = v1Parents(hierarchies, setting.name);
  const controllerOf: Record<LimitName, string> = { memoryBytes: "memory", cpuShares: "cpu", maxProcesses: "pids" };
  const missing: CgroupPlan["missing"] = [];
  for (const limit of ALL_LIMITS) {
    const parent = parents.get(controllerOf[limit]);
    if (!parent) {
      missing.push({ limit, reason: `this host mounts no '${controllerOf[limit]}' cgroup controller` });
      continue;
    }
    const problem = writable(parent);
    if (problem) missing.push({ limit, reason: problem });
  }
  const enforceable = ALL_LIMITS.filter((l) => !missing.some((m) => m.limit === l));
  return {
    version: parents.size > 0 ? 1 : "none",
    enforceable,
    missing,
    ...withNames([...new Set(["memory", "cpu", "cpuacct", "pids"].map((c) => parents.get(c)).filter((d): d is string => d !== undefined && existsSync(d)))]),
    create: (name, limits) => (enforceable.length > 0 ? createV1(name, limits, enforceable, parents) : undefined),
    open: (name) => existing(enforceable.length > 0 ? createV1(name, undefined, enforceable, parents) : undefined),
  };
}

function planV2(hierarchy: Hierarchy, options: CgroupOptions): CgroupPlan {
  const setting = parentSetting();
  const parent = options.v2Parent ?? ("path" in setting ? setting.path : join(hierarchy.mountPoint, setting.name));
  const problem = writable(parent);
  const delegated = problem ? [] : prepareV2Parent(parent, ALL_LIMITS);
  const missing = ALL_LIMITS.filter((l) => !v2Supports(delegated, l)).map((limit) => ({
    limit,
    reason: problem ?? `the cgroup ${parent} does not delegate the controller this limit needs`,
  }));
  const enforceable = ALL_LIMITS.filter((l) => v2Supports(delegated, l));
  return {
    version: 2,
    enforceable,
    missing,
    ...withNames([parent]),
    create: (name, limits) => (enforceable.length > 0 ? createV2(name, limits, enforceable, parent) : undefined),
    open: (name) => existing(enforceable.length > 0 ? createV2(name, undefined, enforceable, parent) : undefined),
  };
}

export interface Leftover {
  pids(): number[];
  killAll(): void;
  remove(patienceMs?: number): Promise<void>;
}

function withNames(parents: string[]): Pick<CgroupPlan, "parents" | "names" | "leftover"> {
  const names = () => {
    const found = parents.flatMap((parent) => {
      try {
        return readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        return [];
      }
    });
    return [...new Set(found)].sort();
  };
  const leftover = (name: string): Leftover | undefined => {
    const dirs = parents.map((parent) => join(parent, name)).filter((dir) => existsSync(dir));
    if (dirs.length === 0) return undefined;
    const procs = dirs.map((dir) => join(dir, "cgroup.procs"));
    return {
      pids: () => [...new Set(procs.flatMap(readPids))],
      killAll: () => procs.forEach(killListed),
      remove: async (patienceMs) => {
        for (const dir of dirs) await removeDir(dir, patienceMs);
      },
    };
  };
  return { parents, names, leftover };
}

function writable(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `cannot create cgroups under ${dir} (${code ?? (err as Error).message}) as uid ${process.getuid?.()}`;
  }
}

/** A cgroup handle, if its folders are there. */
function existing(cgroup: AgentCgroup | undefined): AgentCgroup | undefined {
  return cgroup?.dirs.every((d) => existsSync(d)) ? cgroup : undefined;
}
