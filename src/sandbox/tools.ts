import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, constants, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { PaddockError } from "../errors/index.js";
import { BUNDLES } from "./catalog.js";
import { toolPathInside } from "./layout.js";

/** What the sandbox must show of the host for a set of tools: exact files and folders, and the symlinks leading to them. */
interface ToolClosure {
  /** Canonical host paths (files or folders). */
  binds: string[];
  /** Symlinks to recreate: `path` points to `target` (the host's own link text). */
  symlinks: Array<{ path: string; target: string }>;
  /** Every executable the tools put on PATH, by the path a shell finds it at. */
  executables: string[];
  /** Tools named by absolute path: their file (host path) goes to its place under TOOL_BIN_DIR inside. */
  placed: Array<{ source: string; target: string }>;
}

/**
 * A tool set made ready to mount: the closure laid out once in a folder of the
 * cache (hard links where the filesystem allows, copies otherwise), so that a
 * sandbox binds a few top-level folders instead of one mount per file.
 */
export interface ToolTree {
  /** The folder holding usr/, and bin/, lib/ ... as the host has them. */
  root: string;
  /** Its top-level entries: folders to bind read-only at /NAME, symlinks to recreate. */
  entries: Array<{ name: string; linkTo?: string }>;
  executables: string[];
}

export class ToolError extends PaddockError {}

const HOST_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
/** Public data every tool set carries: the CA certificates that /etc/ssl/certs links into. */
const SHARED_DATA = ["/usr/share/ca-certificates"];
const TOP_LEVEL_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
const memo = new Map<string, ToolTree>();

/**
 * Resolves tool names to a mountable tree. Computing a closure runs `ldd` and
 * building the tree links every file, so both are kept in the cache folder,
 * checked against the host files' modification times so a package upgrade is noticed.
 */
export function resolveTools(tools: readonly string[], cacheDir: string): ToolTree {
  const key = createHash("sha256").update(JSON.stringify([[...new Set(tools)].sort(), HOST_PATH, "placed"])).digest("hex").slice(0, 16);
  const remembered = memo.get(key);
  if (remembered) return remembered;
  const cacheFile = join(cacheDir, `tools-${key}.json`);
  const cached = readCache(cacheFile);
  const closure = cached?.closure ?? computeClosure(tools);
  const mtimes = cached?.mtimes ?? writeCache(cacheFile, closure);
  const tree = buildTree(closure, join(cacheDir, "trees", createHash("sha256").update(JSON.stringify([closure, mtimes])).digest("hex").slice(0, 16)));
  memo.set(key, tree);
  return tree;
}

function computeClosure(tools: readonly string[]): ToolClosure {
  const walker = new PathWalker();
  const executables: string[] = [];
  const placed: ToolClosure["placed"] = [];
  const elfFiles = new Set<string>();
  const interpreters = new Set<string>();
  for (const tool of new Set(tools)) {
    const bundle = BUNDLES[tool];
    const mainPath = locateTool(tool);
    if (!mainPath) throw missingTool(tool);
    if (tool.startsWith("/")) {
      const source = realpathSync(mainPath);
      placed.push({ source, target: toolPathInside(tool) });
      executables.push(toolPathInside(tool));
      classify(source, elfFiles, interpreters);
      continue;
    }
    const programs = [mainPath, ...(bundle?.programs ?? []).map(findProgram).filter((p): p is string => !!p)];
    for (const program of programs) {
      executables.push(program);
      classify(walker.add(program), elfFiles, interpreters);
    }
    for (const dir of bundle?.dirs?.(realpathSync(mainPath)) ?? []) {
      if (!existsSync(dir)) continue;
      walker.add(dir);
      // Scripts in these folders keep their interpreters only if the card names them (git ships perl helpers).
      for (const file of listFiles(dir)) classify(file, elfFiles, new Set());
    }
  }
  for (const path of SHARED_DATA) if (existsSync(path)) walker.add(path);
  // Scripts name /bin/sh and friends; on merged-/usr hosts those are links the sandbox needs too.
  for (const path of TOP_LEVEL_LINKS) walker.link(path);
  for (const interpreter of interpreters) classify(walker.add(interpreter), elfFiles, interpreters);
  for (const lib of sharedLibraries([...elfFiles])) walker.add(lib);
  return { binds: walker.binds(), symlinks: walker.symlinks(), executables, placed };
}

/** Where a card's tool is on this host: an absolute path, a bundle's main program, or a program on PATH. */
function locateTool(tool: string): string | undefined {
  return tool.startsWith("/") ? (isFile(tool) ? tool : undefined) : findProgram(BUNDLES[tool]?.main ?? tool);
}

/** The tools of a list that this host does not have, each with the reason and the fix. */
export function missingTools(tools: readonly string[]): Array<{ tool: string; error: ToolError }> {
  return [...new Set(tools)].filter((tool) => !locateTool(tool)).map((tool) => ({ tool, error: missingTool(tool) }));
}

function missingTool(tool: string): ToolError {
  const bundle = BUNDLES[tool];
  return new ToolError(
    "tool_unknown",
    bundle ? `tool '${tool}' is not installed on this host (no '${bundle.main}' on ${HOST_PATH.join(":")})` : `unknown tool '${tool}': it is neither a paddock bundle, nor a program on this host's PATH, nor an existing file`,
    `tools: ${tool}`,
    bundle ? `install it: apt-get install ${bundle.debian}` : `known bundles: ${Object.keys(BUNDLES).join(", ")}; or install the program on the host`,
  );
}

function findProgram(name: string): string | undefined {
  return HOST_PATH.map((dir) => join(dir, name)).find(isFile);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Notes ELF files (for ldd) and script interpreters (to include them too). */
function classify(file: string, elfFiles: Set<string>, interpreters: Set<string>): void {
  const head = Buffer.alloc(128);
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return;
  }
  const n = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  if (n >= 4 && head.readUInt32BE(0) === 0x7f454c46) {
    elfFiles.add(file);
  } else if (head.toString("latin1", 0, 2) === "#!") {
    const interpreter = head.toString("latin1", 2, n).split("\n")[0]!.trim().split(/\s+/)[0];
    if (interpreter?.startsWith("/") && !interpreters.has(interpreter) && existsSync(interpreter)) interpreters.add(interpreter);
  }
}

function listFiles(dir: string): string[] {
  const seen = new Set<number>();
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => {
      const ino = statSync(file).ino;
      return seen.has(ino) ? false : (seen.add(ino), true);
    });
}

/** The shared libraries (and the dynamic loader) a set of ELF files needs, by asking the host's ldd once. */
function sharedLibraries(files: string[]): string[] {
  if (files.length === 0) return [];
  let out: string;
  try {
    out = execFileSync("ldd", files, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  } catch (err) {
    // ldd exits 1 when any file is static; its stdout still lists the others.
    out = String((err as { stdout?: string }).stdout ?? "");
  }
  const libs = new Set<string>();
  let current = "";
  for (const line of out.split("\n")) {
    if (!line.startsWith("\t")) {
      current = line.replace(/:$/, "");
      continue;
    }
    if (/=> not found/.test(line)) {
      throw new ToolError("tool_library_missing", `${current} needs ${line.trim().split(" ")[0]}, which is not installed`, current, "reinstall the package that provides the program");
    }
    const path = /=> (\/\S+)/.exec(line)?.[1] ?? /^\s+(\/\S+) \(/.exec(line)?.[1];
    if (path) libs.add(path);
  }
  return [...libs];
}

/** Collects what to bind for a path, following every symlink on the way so links resolve inside the sandbox too. */
class PathWalker {
  private readonly bound = new Set<string>();
  private readonly links = new Map<string, string>();

  /** Returns the canonical path that will be bound. */
  add(path: string): string {
    let current = "/";
    const parts = resolve(path).split("/").filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const next = join(current, parts[i]!);
      if (lstatSync(next).isSymbolicLink()) {
        const target = readlinkSync(next);
        this.links.set(next, target);
        current = this.add(join(resolve(dirname(next), target), ...parts.slice(i + 1)));
        return current;
      }
      current = next;
    }
    this.bound.add(current);
    return current;
  }

  /** Records `path` if it is a symlink, without binding what it points to. */
  link(path: string): void {
    try {
      if (lstatSync(path).isSymbolicLink()) this.links.set(path, readlinkSync(path));
    } catch {
      // the host has no such path
    }
  }

  binds(): string[] {
    const sorted = [...this.bound].sort();
    return sorted.filter((p) => !sorted.some((other) => other !== p && p.startsWith(`${other}/`)));
  }

  symlinks(): Array<{ path: string; target: string }> {
    return [...this.links].map(([path, target]) => ({ path, target })).sort((a, b) => a.path.localeCompare(b.path));
  }
}

interface CacheFile {
  closure: ToolClosure;
  mtimes: Record<string, number>;
}

function readCache(file: string): CacheFile | undefined {
  try {
    const cached = JSON.parse(readFileSync(file, "utf8")) as CacheFile;
    for (const [path, mtime] of Object.entries(cached.mtimes)) {
      if (lstatSync(path).mtimeMs !== mtime) return undefined;
    }
    return cached;
  } catch {
    return undefined;
  }
}

function writeCache(file: string, closure: ToolClosure): Record<string, number> {
  const mtimes: Record<string, number> = {};
  for (const path of [...closure.binds, ...closure.symlinks.map((l) => l.path), ...closure.placed.map((p) => p.source)]) mtimes[path] = lstatSync(path).mtimeMs;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ closure, mtimes } satisfies CacheFile));
  } catch {
    // A cache that cannot be written only costs time on the next start.
  }
  return mtimes;
}

/** Lays the closure out under `root` once; concurrent builders race to a rename and the loser uses the winner's tree. */
function buildTree(closure: ToolClosure, root: string): ToolTree {
  if (!existsSync(root)) {
    const staging = `${root}.${process.pid}.${Date.now()}`;
    for (const path of closure.binds) linkOrCopy(path, join(staging, path));
    for (const { source, target } of closure.placed) linkOrCopy(source, join(staging, target));
    for (const link of closure.symlinks) {
      mkdirSync(join(staging, dirname(link.path)), { recursive: true });
      symlinkSync(link.target, join(staging, link.path));
    }
    try {
      renameSync(staging, root);
    } catch {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const entries = readdirSync(root, { withFileTypes: true }).map((e) =>
    e.isSymbolicLink() ? { name: e.name, linkTo: readlinkSync(join(root, e.name)) } : { name: e.name },
  );
  return { root, entries, executables: closure.executables };
}

/** Hard-links a file (or a folder's files) into the tree; copies where links are not allowed (another filesystem, protected_hardlinks). */
function linkOrCopy(source: string, target: string): void {
  const stat = lstatSync(source);
  if (stat.isDirectory()) {
    mkdirSync(target, { recursive: true });
    for (const entry of readdirSync(source)) linkOrCopy(join(source, entry), join(target, entry));
  } else if (stat.isSymbolicLink()) {
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(readlinkSync(source), target);
  } else if (stat.isFile()) {
    mkdirSync(dirname(target), { recursive: true });
    try {
      linkSync(source, target);
    } catch {
      copyFileSync(source, target, constants.COPYFILE_FICLONE);
      chmodSync(target, stat.mode & 0o7777);
    }
  }
}
