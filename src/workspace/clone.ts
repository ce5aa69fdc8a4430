import { existsSync, lstatSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import type { PaddockPaths } from "../paths/index.js";
import { inspect, WorkspaceError } from "./inspect.js";
import { BUNDLE, CLONE, CREATE_BRANCH, IMPORT_BUNDLE } from "./scripts.js";

/**
 * A worker's working tree of its own: a clone of the repository that holds
 * the card's workspace, on a branch `paddock/ID` that also exists in the
 * repository. The agent commits in its clone; its branch is brought into the
 * repository when the agent ends. The repository itself is never mounted in
 * the agent's sandbox, so its config, hooks and other branches are out of reach.
 * The clone is kept after the agent ends (it holds uncommitted work too).
 */
export type AgentWorktree = WorkspaceClone;

const GIT_TIMEOUT_MS = 300_000;
/** A worker's commits are brought back as a bundle of at most this size. */
const BUNDLE_MAX_BYTES = 1 << 30;
const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The folder above `dir` (or `dir`) that holds a `.git` folder; links are not followed. */
export function repositoryOf(dir: string): string | undefined {
  for (let at = resolve(dir); ; at = dirname(at)) {
    try {
      if (lstatSync(join(at, ".git")).isDirectory()) return at;
    } catch {
      // no .git here
    }
    if (at === dirname(at)) return undefined;
  }
}

/** A clone of the repository that holds a workspace, made by paddock for one agent, on a branch of its own. */
export interface WorkspaceClone {
  /** The agent's workspace: the clone's root (git needs its .git inside the sandbox). */
  workspace: string;
  /** Where the card's workspace is in the repository ("" at its root): the agent starts there. */
  workdir: string;
  branch: string;
  path: string;
  repository: string;
  /** The commit the branch starts from. */
  base: string;
}

/**
 * Clones the repository that holds `workspace` into `path` (a new folder), inside a sandbox that sees the repository
 * read-only, on a new branch at `commit` (default: the repository's HEAD). Undefined when the workspace is in no repository.
 */
export async function cloneWorkspace(
  workspace: string,
  path: string,
  branch: string,
  options: { commit?: string; paths?: PaddockPaths; field?: string; /** What `path` is when it exists already, and how to go on. */ taken?: { what: string; hint: string } } = {},
): Promise<WorkspaceClone | undefined> {
  const repository = repositoryOf(workspace);
  if (!repository) return undefined;
  const field = options.field ?? "worktree";
  if (existsSync(path)) throw new WorkspaceError("worktree_exists", `${path} already exists${options.taken ? ` (${options.taken.what})` : ""}`, field, options.taken?.hint ?? `remove it (rm -r ${path}) or use another name`);
  mkdirSync(path, { recursive: true });
  const clone = await inspect({ dir: repository, outputDir: path, argv: ["sh", "-c", CLONE, "paddock-clone", branch, repository, options.commit ?? "HEAD"], maxBytes: 4096, timeoutMs: GIT_TIMEOUT_MS, paths: options.paths });
  const base = clone.stdout.toString().trim();
  if (clone.code !== 0 || !COMMIT.test(base)) {
    rmSync(path, { recursive: true, force: true });
    throw new WorkspaceError("worktree_failed", `git could not clone ${repository}: ${clone.stderr || `exit ${clone.code}`}`, field, "the repository needs at least one commit");
  }
  return { workspace: path, workdir: relative(repository, resolve(workspace)), branch, path, repository, base };
}

/**
 * Makes the worker's clone under `root` and its branch in the repository (inside a sandbox that sees the
 * repository's git folder only). Undefined when the workspace is in no repository.
 */
export async function agentWorktree(workspace: string, id: string, root: string, paths?: PaddockPaths): Promise<AgentWorktree | undefined> {
  const branch = `paddock/${id}`;
  const path = join(root, id);
  const tree = await cloneWorkspace(workspace, path, branch, { paths, taken: { what: `the clone of an earlier agent ${id}`, hint: `remove it (rm -r ${path}) or spawn under another --name` } });
  if (!tree) return undefined;
  const created = await inspect({ dir: join(tree.repository, ".git"), writable: true, argv: ["sh", "-c", CREATE_BRANCH, "paddock-branch", branch, tree.base], maxBytes: 4096, timeoutMs: GIT_TIMEOUT_MS, paths });
  if (created.code !== 0) {
    rmSync(tree.path, { recursive: true, force: true });
    throw new WorkspaceError("worktree_failed", `git could not make branch ${branch} in ${tree.repository}: ${created.stderr || `exit ${created.code}`}`, "worktree", `delete it (git branch -D ${branch}) or spawn under another --name`);
  }
  return tree;
}

/**
 * Brings the worker's commits on its branch into the repository: a bundle is
 * made inside a sandbox that sees the clone read-only, and fetched inside
 * another that sees the repository's git folder and the bundle's bytes, never
 * the clone. Returns whether the branch moved.
 */
export async function importWorktreeBranch(tree: AgentWorktree, paths?: PaddockPaths): Promise<boolean> {
  const bundle = await inspect({ dir: tree.path, argv: ["sh", "-c", BUNDLE, "paddock-bundle", tree.branch, tree.base], maxBytes: BUNDLE_MAX_BYTES, timeoutMs: GIT_TIMEOUT_MS, paths });
  if (bundle.code === 3) return false;
  if (bundle.code !== 0 || bundle.truncated) {
    throw new WorkspaceError("worktree_import_failed", `the commits on ${tree.branch} could not be read from ${tree.path}: ${bundle.truncated ? `over ${BUNDLE_MAX_BYTES >> 20} MiB` : bundle.stderr || `exit ${bundle.code}`}`, tree.path, `the clone is kept: fetch from it yourself (git fetch ${tree.path} ${tree.branch})`);
  }
  const fetched = await inspect({ dir: join(tree.repository, ".git"), writable: true, stdin: bundle.stdout, argv: ["sh", "-c", IMPORT_BUNDLE, "paddock-import", tree.branch], maxBytes: 4096, timeoutMs: GIT_TIMEOUT_MS, paths });
  if (fetched.code !== 0) {
    throw new WorkspaceError("worktree_import_failed", `the commits on ${tree.branch} could not be brought into ${tree.repository}: ${fetched.stderr || `exit ${fetched.code}`}`, tree.repository, `the clone is kept at ${tree.path}`);
  }
  return true;
}

/** Undoes agentWorktree for an agent that never started: the clone and the branch go. */
export async function dropWorktree(tree: AgentWorktree, paths?: PaddockPaths): Promise<void> {
  rmSync(tree.path, { recursive: true, force: true });
  await inspect({ dir: join(tree.repository, ".git"), writable: true, argv: ["git", "--git-dir=/workspace", "update-ref", "-d", `refs/heads/${tree.branch}`, tree.base], maxBytes: 4096, timeoutMs: GIT_TIMEOUT_MS, paths });
}
