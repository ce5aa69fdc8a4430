import { CardSchema } from "../card/index.js";
import { PaddockError } from "../errors/index.js";
import type { PaddockPaths } from "../paths/index.js";
import { createSandbox, prepareSandbox, type Sandbox } from "../sandbox/index.js";

/** The programs an inspection may use: a shell, coreutils, find/xargs, sed and git; nothing else of the host. */
const INSPECTOR_TOOLS = ["sh", "coreutils", "findutils", "sed", "git"];
const STDERR_MAX_BYTES = 16 * 1024;

/**
 * A workspace that is not a folder of this host: an agent's pod, where paddock's scripts run through the API. The
 * place runs them with nothing of the agent's environment, ended within the time given.
 */
export interface RemoteWorkspace {
  /** Where it is, for messages (`pod NAME`). */
  readonly where: string;
  /** Starts `argv` over the workspace with `input` as its whole stdin, its stdout and stderr piped; ended there after `timeoutMs`. */
  inspect(argv: string[], timeoutMs: number, input: Buffer): Promise<Sandbox>;
}

/** A workspace as paddock reads it: a host folder (read inside an inspection sandbox), or a remote one. */
export type WorkspaceRef = string | RemoteWorkspace;

export interface Inspection {
  /** The folder mounted at /workspace (read-only unless `writable`), or a remote workspace (read only). */
  dir: WorkspaceRef;
  /** argv inside, e.g. `["sh", "-c", SCRIPT, "name", ...args]`. */
  argv: string[];
  stdin?: Buffer;
  /** Writable at /output (a folder paddock made, never one an agent can reach). */
  outputDir?: string;
  /** /workspace writable: only for paddock's own folders and the user's repository, never an agent's workspace. */
  writable?: boolean;
  /** stdout beyond this is not kept and the inspection is ended: `truncated`. */
  maxBytes: number;
  timeoutMs: number;
  paths?: PaddockPaths;
}

export interface InspectionResult {
  code: number | null;
  stdout: Buffer;
  /** The first bytes of stderr, as text. */
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
}

export class WorkspaceError extends PaddockError {}

/**
 * Runs a short-lived sandbox over a folder an agent could have written:
 * bubblewrap with no network, no exits, an empty throwaway HOME, nothing in
 * its environment but the basics, only the inspector's tools, and limits on
 * memory, processes and time. The host takes nothing from it but the bytes it
 * prints, at most `maxBytes` of them. Whatever the folder holds (git config
 * naming programs, links to host files, FIFOs) acts on this sandbox only.
 */
export async function inspect(job: Inspection): Promise<InspectionResult> {
  const { dir } = job;
  if (typeof dir !== "string" && (job.writable || job.outputDir)) throw new WorkspaceError("inspection_invalid", `${dir.where}: a remote workspace is only read`);
  const input = job.stdin ?? Buffer.alloc(0);
  const sandbox = typeof dir === "string" ? await startInspector({ ...job, dir }) : await dir.inspect(job.argv, job.timeoutMs, input);
  const out: Buffer[] = [];
  let outBytes = 0;
  let truncated = false;
  let timedOut = false;
  let stderr = "";
  sandbox.stdout!.on("data", (chunk: Buffer) => {
    if (truncated) return;
    if (outBytes + chunk.length > job.maxBytes) {
      out.push(chunk.subarray(0, job.maxBytes - outBytes));
      outBytes = job.maxBytes;
      truncated = true;
      void sandbox.stop(0);
      return;
    }
    out.push(chunk);
    outBytes += chunk.length;
  });
  sandbox.stderr!.on("data", (chunk: Buffer) => {
    if (stderr.length < STDERR_MAX_BYTES) stderr += chunk.toString("utf8").slice(0, STDERR_MAX_BYTES - stderr.length);
  });
  // A remote workspace's place has sent the input already.
  sandbox.stdin?.on("error", () => undefined);
  if (typeof dir === "string") sandbox.stdin!.end(input);
  const timer = setTimeout(() => {
    timedOut = true;
    void sandbox.stop(0);
  }, job.timeoutMs);
  const exit = await sandbox.wait();
  clearTimeout(timer);
  // The pipes may still hold the last chunk when the process has exited.
  await Promise.all([ended(sandbox.stdout!), ended(sandbox.stderr!)]);
  return { code: exit.cause === "exited" ? exit.code : null, stdout: Buffer.concat(out), stderr: stderr.trim(), truncated, timedOut };
}

/** An inspection sandbox, started, running `job.argv`. */
export async function startInspector(job: Pick<Inspection, "argv" | "outputDir" | "writable" | "paths"> & { dir: string }): Promise<Sandbox> {
  if (job.writable && job.outputDir) throw new WorkspaceError("inspection_invalid", "an inspection has a writable workspace or an /output folder, not both");
  const card = CardSchema.parse({
    agent_id: "paddock-inspect",
    workspace: job.dir,
    tools: INSPECTOR_TOOLS,
    resource_limits: { memory_mb: 1024, max_processes: 64, max_open_files: 1024 },
    environment: { LC_ALL: "C", GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" },
  });
  const spec = prepareSandbox(card, {
    command: job.argv,
    readOnlyWorkspace: !job.writable && !job.outputDir,
    outputDir: job.outputDir,
    ephemeralHome: true,
    stdio: "pipe",
    dieWithParent: true,
    paths: job.paths,
  });
  const sandbox = createSandbox(spec, "bwrap");
  await sandbox.start();
  return sandbox;
}

function ended(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    if ((stream as { readableEnded?: boolean }).readableEnded) return resolve();
    stream.once("end", resolve);
    stream.once("close", resolve);
  });
}

/** Sections printed by `emit NAME FILE` in the scripts: "NAME BYTES\n" then the bytes. Parsing stops at anything malformed. */
export function sections(bytes: Buffer): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  let at = 0;
  while (at < bytes.length) {
    const eol = bytes.indexOf(10, at);
    if (eol < 0 || eol - at > 64) break;
    const header = /^([a-z]+) (\d+)$/.exec(bytes.subarray(at, eol).toString("latin1"));
    if (!header) break;
    const size = Number(header[2]);
    // A section cut short (the output reached its cap) is kept as far as it goes.
    found.set(header[1]!, bytes.subarray(eol + 1, Math.min(bytes.length, eol + 1 + size)));
    at = eol + 1 + size;
  }
  return found;
}
