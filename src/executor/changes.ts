import { readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { workspaceGit } from "../git/index.js";

export interface ChangedFile {
  path: string;
  /** added, modified, deleted, renamed (git's view, or the files' own when the workspace is no repository). */
  status: "added" | "modified" | "deleted" | "renamed";
}

/** What a workspace looks like before a task, to tell afterwards what the task changed. */
export interface WorkspaceState {
  git: boolean;
  /** git: path → porcelain status line; plain folder: path → size and mtime. */
  entries: Map<string, string>;
}


export async function workspaceState(dir: string): Promise<WorkspaceState> {
  const git = await gitStatus(dir);
  return git ? { git: true, entries: git } : { git: false, entries: await fileList(dir) };
}

/** The files whose state differs between two snapshots of the same workspace. */
export function changedFiles(before: WorkspaceState, after: WorkspaceState): ChangedFile[] {
  const paths = new Set([...before.entries.keys(), ...after.entries.keys()]);
  const changed: ChangedFile[] = [];
  for (const path of [...paths].sort()) {
    const was = before.entries.get(path);
    const now = after.entries.get(path);
    if (was === now) continue;
    if (after.git) {
      changed.push({ path, status: now === undefined ? (/^(\?\?|!!)/.test(was ?? "") ? "deleted" : "modified") : gitChange(now.slice(0, 2), was) });
    } else {
      changed.push({ path, status: was === undefined ? "added" : now === undefined ? "deleted" : "modified" });
    }
  }
  return changed;
}

function gitChange(code: string, was: string | undefined): ChangedFile["status"] {
  if (code.includes("D")) return "deleted";
  if (code.includes("R")) return "renamed";
  if (code === "??" || code.includes("A") || (code === "!!" && was === undefined)) return "added";
  return "modified";
}

/**
 * path → "XY size:mtime" from `git status`, so a file already dirty before the
 * task still counts when the task changes it again. Ignored files count too
 * (an ignored folder as one entry): a task's output is often ignored.
 */
async function gitStatus(dir: string): Promise<Map<string, string> | undefined> {
  try {
    const prefix = await workspaceGit(dir, ["rev-parse", "--show-prefix"]);
    const stdout = await workspaceGit(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=traditional", "--", "."]);
    const entries = new Map<string, string>();
    const fields = stdout.split("\0");
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      if (field.length < 4) continue;
      const code = field.slice(0, 2);
      const path = field.slice(3).slice(prefix.trim().length);
      if (code.includes("R") || code.includes("C")) i++; // the source path follows
      entries.set(path, `${code} ${await fingerprint(join(dir, path))}`);
    }
    return entries;
  } catch {
    return undefined;
  }
}

async function fileList(dir: string): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    entries.set(relative(dir, path), await fingerprint(path));
  }
  return entries;
}

async function fingerprint(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return "gone";
  }
}
