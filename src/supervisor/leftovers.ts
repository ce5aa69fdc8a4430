import { createHash } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { planCgroups } from "../cgroups/index.js";
import type { PaddockPaths } from "../paths/index.js";
import { FINAL_STATES, type AgentRecord, type Store } from "../store/index.js";
import { importWorktreeBranch, workspaceState, type AgentWorktree } from "../workspace/index.js";
import type { StoredCard } from "./stored.js";

/**
 * The daemon's sandboxes (and cgroups) are named `d.<its state folder's hash>.<agent>-<hex>`: agent ids have no
 * dots, so no `paddock exec` or `run`, and no daemon of another state folder, has a name like them.
 */
export function daemonNamePrefix(paths: PaddockPaths): string {
  return `d.${createHash("sha256").update(paths.data).digest("hex").slice(0, 8)}.`;
}

/** What paddock runs left behind (a crash, a SIGKILL, a daemon that stopped for good) and no agent uses. */
export interface Leftovers {
  /** Agent cgroups with no process in them (of any paddock process on this host). */
  empty_cgroups: string[];
  /** Sandboxes of this state folder's daemon still running, whose agent is no longer alive in the store. */
  stray_sandboxes: Array<{ name: string; pids: number[] }>;
  /** gVisor bundles of sandboxes that no longer run. */
  sandbox_dirs: string[];
  /** Clones of agents that are no longer alive; `removable` once their branch is in the repository and nothing is uncommitted. */
  worktrees: Array<{ agent_id: string; path: string; branch: string | null; removable: boolean; reason: string }>;
  /** Cgroups with processes that are not this daemon's (a running `paddock run` or `exec`): never touched. */
  in_use: Array<{ name: string; pids: number[] }>;
}

const alive = (agent: AgentRecord | undefined) => !!agent && !FINAL_STATES.includes(agent.state);

/**
 * Finds leftovers. With `inspect`, each ended agent's clone is looked at (inside a sandbox) for uncommitted work;
 * without, clones are listed as found (cheap enough for `paddock up`).
 */
export async function findLeftovers(paths: PaddockPaths, store: Store, options: { inspect: boolean; daemonRunning: boolean }): Promise<Leftovers> {
  const agents = new Map((await store.listAgents()).map((a) => [a.agent_id, a]));
  const liveSandboxes = new Set([...agents.values()].filter(alive).map((a) => a.sandbox));
  const prefix = daemonNamePrefix(paths);
  const found: Leftovers = { empty_cgroups: [], stray_sandboxes: [], sandbox_dirs: [], worktrees: [], in_use: [] };
  const plan = planCgroups({ allowUnenforced: true });
  const busy = new Set<string>();
  for (const name of plan.names()) {
    const pids = plan.leftover(name)?.pids() ?? [];
    if (pids.length === 0) found.empty_cgroups.push(name);
    // A running daemon owns its sandboxes, also one it is starting this moment (not yet in its record).
    else if (name.startsWith(prefix) && !liveSandboxes.has(name) && !options.daemonRunning) found.stray_sandboxes.push({ name, pids });
    else (busy.add(name), found.in_use.push({ name, pids }));
  }
  found.sandbox_dirs = entries(join(paths.runtime, "sandboxes")).filter((name) => !name.startsWith(".") && !busy.has(name) && !liveSandboxes.has(name)).map((name) => join(paths.runtime, "sandboxes", name));
  for (const id of entries(join(paths.data, "worktrees"))) {
    const agent = agents.get(id);
    if (alive(agent)) continue;
    const tree = (agent?.card as StoredCard | undefined)?.paddock_worktree;
    const path = join(paths.data, "worktrees", id);
    if (!tree || tree.path !== path) {
      found.worktrees.push({ agent_id: id, path, branch: null, removable: false, reason: "no agent record says which repository it came from: look at it and remove it yourself" });
      continue;
    }
    found.worktrees.push({ agent_id: id, path, branch: tree.branch, ...(options.inspect ? await cloneVerdict(tree, paths) : { removable: false, reason: "not inspected" }) });
  }
  return found;
}

/** One line for people: how many leftovers of each kind, or undefined when there are none. */
export function describeLeftovers(found: Leftovers): string | undefined {
  const parts = [
    [found.stray_sandboxes.length, "running sandbox(es) of agents that ended"],
    [found.empty_cgroups.length, "empty cgroup(s)"],
    [found.sandbox_dirs.length, "sandbox folder(s)"],
    [found.worktrees.length, "clone(s) of agents that ended"],
  ] as const;
  const said = parts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
  return said.length ? said.join(", ") : undefined;
}

/** A clone may go when its state can be read and nothing in it is uncommitted (ignored files aside). */
async function cloneVerdict(tree: AgentWorktree, paths: PaddockPaths): Promise<{ removable: boolean; reason: string }> {
  const state = await workspaceState(tree.path, paths);
  if (!state.git || state.notes.length) return { removable: false, reason: `its state could not be read${state.notes.length ? `: ${state.notes.join("; ")}` : ""}` };
  const uncommitted = [...state.entries.values()].filter((entry) => !entry.startsWith("!!")).length;
  return uncommitted ? { removable: false, reason: `${uncommitted} uncommitted file(s): commit or copy them, then remove it yourself` } : { removable: true, reason: "its commits are on its branch; nothing uncommitted" };
}

/** Removes what `findLeftovers` (with `inspect`) found removable: a clone's branch is brought into its repository first. */
export async function removeLeftovers(found: Leftovers, paths: PaddockPaths, store: Store): Promise<{ removed: string[]; kept: string[] }> {
  const plan = planCgroups({ allowUnenforced: true });
  const removed: string[] = [];
  const kept: string[] = [];
  for (const { name } of found.stray_sandboxes) {
    const cgroup = plan.leftover(name);
    cgroup?.killAll();
    await cgroup?.remove(10_000);
    removed.push(`sandbox ${name}`);
  }
  for (const name of found.empty_cgroups) {
    await plan.leftover(name)?.remove(2000);
    removed.push(`cgroup ${name}`);
  }
  for (const dir of found.sandbox_dirs) {
    rmSync(dir, { recursive: true, force: true });
    removed.push(`sandbox folder ${dir}`);
  }
  for (const clone of found.worktrees) {
    const tree = ((await store.getAgent(clone.agent_id))?.card as StoredCard | undefined)?.paddock_worktree;
    if (!clone.removable || !tree) {
      kept.push(`clone ${clone.path}: ${clone.reason}`);
      continue;
    }
    try {
      await importWorktreeBranch(tree, paths);
    } catch (err) {
      kept.push(`clone ${clone.path}: ${(err as Error).message}`);
      continue;
    }
    rmSync(clone.path, { recursive: true, force: true });
    removed.push(`clone ${clone.path} (its commits are on ${tree.branch} in ${tree.repository})`);
  }
  return { removed, kept };
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
