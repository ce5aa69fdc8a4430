import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { PaddockError } from "../errors/index.js";
import { workspaceGit } from "../git/index.js";

/** A git worktree made for one agent: its own checkout and branch, so that agents working at once do not edit the same files. */
export interface AgentWorktree {
  /** The agent's workspace in it (the card's workspace's place in the repository). */
  workspace: string;
  branch: string;
  /** The worktree's root. */
  path: string;
}

/**
 * A worktree of the repository that holds `workspace`, on a new branch
 * `paddock/ID` from HEAD, under `root`. Undefined when the workspace is in no
 * repository (the agent then works in the workspace itself). Worktrees are
 * kept after the agent ends: they hold its work (`git worktree remove` when done).
 */
export async function agentWorktree(workspace: string, id: string, root: string): Promise<AgentWorktree | undefined> {
  let prefix: string;
  try {
    prefix = (await workspaceGit(resolve(workspace), ["rev-parse", "--show-prefix"])).trim();
  } catch {
    return undefined;
  }
  const path = join(root, id);
  const branch = `paddock/${id}`;
  if (existsSync(path)) throw new PaddockError("worktree_exists", `${path} already exists (a worktree of an earlier agent ${id})`, "worktree", `remove it (git worktree remove ${path}) or spawn under another --name`);
  mkdirSync(root, { recursive: true });
  try {
    await workspaceGit(resolve(workspace), ["worktree", "add", "-q", "-b", branch, path, "HEAD"]);
  } catch (err) {
    throw new PaddockError("worktree_failed", `git could not make a worktree for ${id}: ${String((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`, "worktree", `a branch ${branch} may exist already: delete it (git branch -D ${branch}) or spawn under another --name`);
  }
  return { workspace: join(path, prefix), branch, path };
}

/** Undoes agentWorktree for an agent that never started: the worktree and its branch go. */
export async function dropWorktree(workspace: string, tree: AgentWorktree): Promise<void> {
  await workspaceGit(resolve(workspace), ["worktree", "remove", "--force", tree.path]).catch(() => undefined);
  await workspaceGit(resolve(workspace), ["branch", "-D", tree.branch]).catch(() => undefined);
}
