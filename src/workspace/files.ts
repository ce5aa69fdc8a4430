import type { PaddockPaths } from "../paths/index.js";
import { inspect, type WorkspaceRef } from "./inspect.js";
import { DIFF, readFilesArgv } from "./scripts.js";

/** One file of the workspace as an inspection saw it: content for regular files, the link's text for links, never a link's target. */
export type WorkspaceFile =
  | { path: string; kind: "file"; size: number; content: Buffer }
  | { path: string; kind: "link"; target: string }
  | { path: string; kind: "skipped"; reason: string };

const READ_TIMEOUT_MS = 60_000;
const DIFF_TIMEOUT_MS = 60_000;

/**
 * Reads the named files of a workspace inside an inspection sandbox: each
 * regular file up to `maxFileBytes` (larger ones are named, not read), links
 * as links, FIFOs, sockets and devices skipped, at most `maxTotalBytes` in all.
 */
export async function readWorkspaceFiles(dir: WorkspaceRef, files: string[], limits: { maxFileBytes: number; maxTotalBytes: number; paths?: PaddockPaths }): Promise<WorkspaceFile[]> {
  if (files.length === 0) return [];
  const wanted = new Set(files);
  const result = await inspect({
    dir,
    argv: readFilesArgv(limits.maxFileBytes),
    stdin: Buffer.from(files.map((f) => `${f}\0`).join("")),
    // base64 and the per-line framing make the output about 4/3 of the bytes read.
    maxBytes: Math.ceil(limits.maxTotalBytes * 1.4) + files.length * 64,
    timeoutMs: READ_TIMEOUT_MS,
    paths: limits.paths,
  });
  const read = new Map<string, WorkspaceFile>();
  for (const line of result.stdout.toString("latin1").split("\n")) {
    const [kind, encodedPath, ...rest] = line.split(" ");
    if (!kind || !encodedPath) continue;
    const path = Buffer.from(encodedPath, "base64").toString("utf8");
    if (!wanted.has(path) || read.has(path)) continue;
    const entry = parseLine(path, kind, rest, limits.maxFileBytes);
    if (entry) read.set(path, entry);
  }
  const why = result.timedOut ? "the inspection ran out of time" : result.truncated ? "the files' total is over the limit" : "it could not be read";
  return files.map((path) => read.get(path) ?? { path, kind: "skipped", reason: why });
}

function parseLine(path: string, kind: string, rest: string[], cap: number): WorkspaceFile | undefined {
  switch (kind) {
    case "file": {
      const content = Buffer.from(rest[1] ?? "", "base64");
      const size = Number(rest[0]);
      // A file that grew between the check and the read is cut at the cap: say so rather than pass a part as the whole.
      return content.length >= cap && size !== content.length ? { path, kind: "skipped", reason: `it grew past ${cap} bytes while being read` } : { path, kind: "file", size: content.length, content };
    }
    case "link":
      return { path, kind: "link", target: Buffer.from(rest[0] ?? "", "base64").toString("utf8") };
    case "large":
      return { path, kind: "skipped", reason: `it is ${rest[0]} bytes (the limit is ${cap})` };
    case "special":
      return { path, kind: "skipped", reason: `it is a ${Buffer.from(rest[0] ?? "", "base64").toString("utf8")}, not a regular file` };
    case "outside":
      return { path, kind: "skipped", reason: "it resolves outside the workspace (through a link)" };
    case "missing":
      return { path, kind: "skipped", reason: "it no longer exists" };
    default:
      return undefined;
  }
}

/** The workspace's `git diff` against HEAD, read inside an inspection sandbox; undefined when it is no repository or nothing changed. */
export async function workspaceDiff(dir: WorkspaceRef, options: { maxBytes: number; paths?: PaddockPaths }): Promise<{ diff: string; truncated: boolean } | undefined> {
  const result = await inspect({ dir, argv: ["sh", "-c", DIFF, "paddock-diff"], maxBytes: options.maxBytes, timeoutMs: DIFF_TIMEOUT_MS, paths: options.paths });
  if ((result.code !== 0 && !result.truncated && !result.timedOut) || result.stdout.length === 0) return undefined;
  return { diff: result.stdout.toString("utf8"), truncated: result.truncated || result.timedOut };
}
