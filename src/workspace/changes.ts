import type { PaddockPaths } from "../paths/index.js";
import { inspect, sections, type WorkspaceRef } from "./inspect.js";
import { SNAPSHOT } from "./scripts.js";
import { InspectionSession } from "./session.js";

export interface ChangedFile {
  path: string;
  /** added, modified, deleted, renamed (git's view, or the files' own when the workspace is no repository). */
  status: "added" | "modified" | "deleted" | "renamed";
}

/** What a workspace looks like before a task, to tell afterwards what the task changed. */
export interface WorkspaceState {
  git: boolean;
  /** git: path → porcelain status and the file's type, size and time; plain folder: path → type, size and time. */
  entries: Map<string, string>;
  /** What could not be read, for the run's record (a corrupt repository, a listing cut short). */
  notes: string[];
}

/** A snapshot's output is cut here; the entries read up to it count, with a note. */
const SNAPSHOT_MAX_BYTES = 64 << 20;
const SNAPSHOT_TIMEOUT_MS = 60_000;

/** An inspection sandbox kept for a task's two snapshots (see `InspectionSession`). */
export function openSnapshotSession(dir: string, paths?: PaddockPaths): Promise<InspectionSession> {
  return InspectionSession.open(dir, SNAPSHOT, paths);
}

/** The workspace's state, read inside an inspection sandbox: the session's, while it lasts, else a fresh one. */
export async function workspaceState(dir: WorkspaceRef, paths?: PaddockPaths, session?: InspectionSession): Promise<WorkspaceState> {
  const limits = { maxBytes: SNAPSHOT_MAX_BYTES, timeoutMs: SNAPSHOT_TIMEOUT_MS };
  const result = (await session?.snapshot(limits)) ?? (await inspect({ dir, argv: ["sh", "-c", SNAPSHOT, "paddock-snapshot"], ...limits, paths }));
  const found = sections(result.stdout);
  const notes: string[] = [];
  if (result.timedOut) notes.push(`the workspace could not be read within ${SNAPSHOT_TIMEOUT_MS / 1000} s: changes are those read until then`);
  else if (result.truncated) notes.push(`the workspace's listing is over ${SNAPSHOT_MAX_BYTES >> 20} MiB: changes are those within it`);
  else if (result.code !== 0) notes.push(`the workspace could not be read (exit ${result.code}): ${result.stderr.slice(0, 500) || "no message"}`);
  const status = found.get("status");
  if (status) return { git: true, entries: gitEntries(status, found.get("stat") ?? Buffer.alloc(0)), notes };
  const err = found.get("err")?.toString("utf8").trim();
  if (err && /fatal|error/i.test(err)) notes.push(`git could not read the workspace's repository, so changes are from file sizes and times: ${err.split("\n")[0]}`);
  return { git: false, entries: fileEntries(found.get("files") ?? Buffer.alloc(0)), notes };
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
 * path → "XY type size mtime": a file already dirty before the task still
 * counts when the task changes it again. Ignored files count too (an ignored
 * folder as one entry): a task's output is often ignored.
 */
function gitEntries(status: Buffer, stat: Buffer): Map<string, string> {
  const fingerprints = new Map<string, string>();
  for (const record of records(stat)) {
    const [type, size, mtime, ...name] = record.split("\t");
    if (name.length) fingerprints.set(name.join("\t"), `${type}:${size}:${mtime}`);
  }
  const entries = new Map<string, string>();
  const fields = records(status);
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (field.length < 4) continue;
    const code = field.slice(0, 2);
    const path = field.slice(3);
    if (code.includes("R") || code.includes("C")) i++; // the source path follows
    entries.set(path, `${code} ${fingerprints.get(path.replace(/\/$/, "")) ?? "gone"}`);
  }
  return entries;
}

/** path → "type:size:mtime" of every file and link (folders are not changes of their own). */
function fileEntries(files: Buffer): Map<string, string> {
  const entries = new Map<string, string>();
  for (const record of records(files)) {
    const [type, size, mtime, ...name] = record.split("\t");
    if (name.length && type !== "d") entries.set(name.join("\t"), `${type}:${size}:${mtime}`);
  }
  return entries;
}

/** NUL-terminated records; an unterminated last one (output cut short) is dropped. */
function records(bytes: Buffer): string[] {
  return bytes.toString("utf8").split("\0").slice(0, -1);
}
