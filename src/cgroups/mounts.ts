import { readFileSync } from "node:fs";
import { join } from "node:path";

/** A cgroup hierarchy as this process sees it: where it is mounted and where this process sits in it. */
export interface Hierarchy {
  version: 1 | 2;
  /** v1: the controllers of this hierarchy (e.g. ["cpu", "cpuacct"]); v2: those enabled at its root. */
  controllers: string[];
  mountPoint: string;
  /** This process's own cgroup folder in the mounted tree. */
  ownDir: string;
}

/** Reads /proc/self/mountinfo and /proc/self/cgroup into the hierarchies this host offers. */
export function readHierarchies(procSelf = "/proc/self"): Hierarchy[] {
  const membership = new Map<string, string>();
  for (const line of readFileSync(join(procSelf, "cgroup"), "utf8").trim().split("\n")) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path !== undefined) membership.set(controllers ?? "", path);
  }
  const hierarchies: Hierarchy[] = [];
  for (const line of readFileSync(join(procSelf, "mountinfo"), "utf8").trim().split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    const [fstype, , superOptions] = right.split(" ");
    const root = unescape(fields[3] ?? "/");
    const mountPoint = unescape(fields[4] ?? "");
    if (fstype === "cgroup2") {
      const own = membership.get("") ?? "/";
      const ownDir = join(mountPoint, relative(root, own));
      const controllers = readList(join(mountPoint, "cgroup.controllers"));
      hierarchies.push({ version: 2, controllers, mountPoint, ownDir });
    } else if (fstype === "cgroup") {
      const controllers = (superOptions ?? "").split(",").filter((o) => V1_CONTROLLERS.has(o));
      if (controllers.length === 0) continue;
      const own = [...membership].find(([names]) => names.split(",").some((n) => controllers.includes(n)))?.[1] ?? "/";
      hierarchies.push({ version: 1, controllers, mountPoint, ownDir: join(mountPoint, relative(root, own)) });
    }
  }
  return hierarchies;
}

const V1_CONTROLLERS = new Set(["memory", "pids", "cpu", "cpuacct", "cpuset", "freezer", "blkio", "devices"]);

function relative(root: string, path: string): string {
  if (root === "/" || !path.startsWith(root)) return path;
  return path.slice(root.length) || "/";
}

function unescape(s: string): string {
  return s.replace(/\\(\d{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function readList(file: string): string[] {
  try {
    return readFileSync(file, "utf8").trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}
