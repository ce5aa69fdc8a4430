import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { paddockPaths } from "../src/paths/index.js";
import { openSnapshotSession, workspaceState } from "../src/workspace/index.js";
import { percentile, printTable, sample, type Row } from "./stats.js";

/**
 * Changed-file detection inside an inspection sandbox (the one a task keeps
 * for its snapshots, and a fresh one) against a host-side
 * `git status` of the same repository (the same flags: every untracked and
 * ignored file), on a 10,000-file repository with a few changes, in this run.
 * Target: under 1.5x and under 300 ms added.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-ws-"));
  const paths = paddockPaths({ PADDOCK_HOME: join(dir, "home") });
  const repo = join(dir, "repo");
  process.stderr.write("making a 10,000-file repository...\n");
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(repo, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(repo, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`);
  }
  const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=b", "-c", "user.email=b@b", ...args]);
  git("init", "-q");
  git("add", ".");
  git("commit", "-qm", "base");
  writeFileSync(join(repo, "d3", "f3.txt"), "changed\n");
  writeFileSync(join(repo, "new.txt"), "new\n");
  const n = Number(process.env.BENCH_N ?? 30);

  await workspaceState(repo, paths); // the inspector's tool tree is built once per host
  const hostStatus = () => timed(["git", "-C", repo, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=traditional"]);
  const inside = async () => {
    const started = performance.now();
    const state = await workspaceState(repo, paths);
    if (state.entries.size !== 2) throw new Error(`expected 2 changes, saw ${state.entries.size}`);
    return performance.now() - started;
  };
  // What a task's second snapshot costs: its inspection sandbox was started with the task (the executor keeps it for both).
  const session = await openSnapshotSession(repo, paths);
  const warm = async () => {
    const started = performance.now();
    const state = await workspaceState(repo, paths, session);
    if (state.entries.size !== 2) throw new Error(`expected 2 changes, saw ${state.entries.size}`);
    return performance.now() - started;
  };
  const rows: Row[] = [
    { name: "host: git status", samples: await sample(n, hostStatus, "host") },
    { name: "paddock: snapshot, the task's sandbox", samples: await sample(n, warm, "warm") },
    { name: "paddock: snapshot, a fresh sandbox", samples: await sample(n, inside, "fresh") },
  ];
  await session.close();
  printTable("changed-file detection, 10,000-file repository", rows, "host: git status");
  const host = percentile(rows[0]!.samples, 50);
  for (const row of rows.slice(1)) {
    const ours = percentile(row.samples, 50);
    const ok = ours / host < 1.5 && ours - host < 300;
    console.log(`${row.name}: added p50 ${(ours - host).toFixed(1)} ms, ratio ${(ours / host).toFixed(2)}x (target under 1.5x and under 300 ms): ${ok ? "met" : "NOT met"}`);
  }
}

function timed(argv: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${argv.join(" ")} exited ${code}`))));
  });
}
