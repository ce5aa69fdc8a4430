import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCard } from "../src/card/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { BWRAP, createSandbox, hostProgram, prepareSandbox, RUNSC, type BackendName } from "../src/sandbox/index.js";
import type { SeccompProfile } from "../src/seccomp/index.js";
import { CLI, ROOT } from "../test/helpers.js";
import { percentile, printTable, sample, type Row } from "./stats.js";

/** The CLI as tsc leaves it, one file per module: what the bundle (CLI) is measured against. */
const UNBUNDLED_CLI = join(ROOT, "dist", "src", "cli", "main.js");

/**
 * How long until the first instruction of a command runs inside a sandbox, and
 * how much of that is paddock's own setup, against a bare spawn and a minimal
 * bwrap (or `runsc do`) of the same command, all measured in this run.
 *
 * "first instruction" is taken as the wall-clock time `date +%s%N` prints as its
 * first act inside; "round trip" is spawn to exit of `true`.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-"));
  const env = { ...process.env, PADDOCK_HOME: join(dir, "home") };
  const workspace = join(dir, "ws");
  mkdirSync(workspace);
  const cardFile = join(dir, "card.json");
  const cardFor = async (backend: BackendName, seccomp: SeccompProfile = "default") => {
    writeFileSync(cardFile, JSON.stringify({ agent_id: "bench", workspace, kind: "command", command: ["true"], backend, seccomp, tools: ["sh", "coreutils"] }));
    return (await loadCard(cardFile)).card;
  };
  const bwrap = hostProgram(BWRAP);
  const minimalBwrap = [bwrap, "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--"];
  const paths = paddockPaths(env);
  const n = Number(process.env.BENCH_N ?? 50);

  // A network exit: the bridge needs nothing to listen on the socket until a connection is made.
  const egressSocket = join(dir, "egress.sock");
  const library = (backend: BackendName, command: string[], seccomp: SeccompProfile = "default", withExit = false) => async () => {
    const started = performance.now();
    const sandbox = createSandbox(prepareSandbox(await cardFor(backend, seccomp), { command, paths, stdio: "pipe", allowUnconfinedSeccomp: true, ...(withExit ? { egress: { socket: egressSocket } } : {}) }), backend);
    await sandbox.start();
    let out = "";
    sandbox.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    await sandbox.wait();
    return command[0] === "date" ? firstInstruction(out, started) : performance.now() - started;
  };
  const cli = (backend: BackendName, command: string[]) => async () => {
    await cardFor(backend);
    return timed([process.execPath, CLI, "exec", "--card", cardFile, "--", ...command], env);
  };

  // Warm the tool-closure cache: the first start of a tool set computes it once per host.
  await library("bwrap", ["true"])();

  const date = ["date", "+%s%N"];
  const rows: Row[] = [
    { name: "bare spawn: true", samples: await sample(n, () => timed(["/bin/true"], env), "bare") },
    { name: "minimal bwrap: true", samples: await sample(n, () => timed([...minimalBwrap, "/bin/true"], env), "bwrap") },
    { name: "paddock library (bwrap): true", samples: await sample(n, library("bwrap", ["true"]), "library") },
    { name: "paddock exec CLI (bwrap): true", samples: await sample(n, cli("bwrap", ["true"]), "cli") },
  ];
  printTable("round trip, spawn to exit of `true` (bwrap)", rows, "minimal bwrap: true");

  const first: Row[] = [
    { name: "bare spawn: first instruction", samples: await sample(n, () => timedFirst(["date", "+%s%N"], env), "bare") },
    { name: "minimal bwrap: first instruction", samples: await sample(n, () => timedFirst([...minimalBwrap, ...date], env), "bwrap") },
    { name: "paddock library (bwrap): first instruction", samples: await sample(n, library("bwrap", date), "library") },
    { name: "node -e 0 (any Node CLI's floor)", samples: await sample(n, () => timed([process.execPath, "-e", "0"], env), "node") },
    { name: "paddock --version", samples: await sample(n, () => timed([process.execPath, CLI, "--version"], env), "cli") },
    { name: "paddock exec CLI (bwrap): first instruction", samples: await sample(n, async () => (await cardFor("bwrap"), timedFirst([process.execPath, CLI, "exec", "--card", cardFile, "--", ...date], env)), "cli") },
    { name: "the same, from the unbundled modules", samples: await sample(n, async () => (await cardFor("bwrap"), timedFirst([process.execPath, UNBUNDLED_CLI, "exec", "--card", cardFile, "--", ...date], env)), "cli") },
  ];
  printTable("time to the first instruction inside (bwrap)", first, "minimal bwrap: first instruction");

  // The seccomp filter alone: the same library start with it off, interleaved in one loop so drift hits both alike.
  const withFilter: number[] = [];
  const withoutFilter: number[] = [];
  for (let i = 0; i < n; i++) {
    withFilter.push(await library("bwrap", date)());
    withoutFilter.push(await library("bwrap", date, "unconfined")());
  }
  const filterRows: Row[] = [
    { name: "paddock library, seccomp unconfined", samples: withoutFilter },
    { name: "paddock library, seccomp default", samples: withFilter },
  ];
  printTable("time to the first instruction inside, with and without the seccomp filter (bwrap)", filterRows, "paddock library, seccomp unconfined");
  const filterCost = percentile(withFilter, 50) - percentile(withoutFilter, 50);
  console.log(`
the seccomp filter adds, p50: ${filterCost.toFixed(2)} ms to sandbox start (target under 1 ms): ${filterCost < 1 ? "met" : "NOT met"}`);

  const nodeFloor = percentile(first[3]!.samples, 50);
  const cliFirst = percentile(first[5]!.samples, 50);
  const unbundled = percentile(first[6]!.samples, 50);
  console.log(`\npaddock exec to the first instruction, p50: ${cliFirst.toFixed(1)} ms (target under 100 ms: ${cliFirst < 100 ? "met" : "NOT met"}); of it, Node's own start ${nodeFloor.toFixed(1)} ms, paddock above Node ${(cliFirst - nodeFloor).toFixed(1)} ms`);
  console.log(`the bundled CLI against the unbundled modules: ${cliFirst.toFixed(1)} / ${unbundled.toFixed(1)} ms = ${(cliFirst / unbundled).toFixed(2)}`);

  const overhead = percentile(rows[2]!.samples, 50) - percentile(rows[1]!.samples, 50);
  console.log(`\npaddock's setup overhead over a minimal bwrap, p50: ${overhead.toFixed(2)} ms (target <= 15 ms): ${overhead <= 15 ? "met" : "NOT met"}`);

  const runsc = tryProgram(RUNSC);
  if (runsc) {
    const g = Math.max(5, Math.round(n / 5));
    const gv: Row[] = [
      { name: "runsc --network=none do true", samples: await sample(g, () => timed([runsc, "--network=none", "do", "true"], env), "runsc") },
      { name: "paddock library (gvisor): true", samples: await sample(g, library("gvisor", ["true"]), "library") },
      { name: "paddock exec CLI (gvisor): true", samples: await sample(g, cli("gvisor", ["true"]), "cli") },
      { name: "paddock library (bwrap), one network exit: true", samples: await sample(g, library("bwrap", ["true"], "default", true), "library") },
      { name: "paddock library (gvisor), one network exit: true", samples: await sample(g, library("gvisor", ["true"], "default", true), "library") },
    ];
    printTable("round trip, spawn to exit of `true` (gvisor)", gv, "runsc --network=none do true");
  } else {
    console.log("\ngvisor: runsc not installed, skipped");
  }
}

function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${argv.join(" ")} exited ${code}`))));
  });
}

function timedFirst(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", () => resolve(firstInstruction(out, started)));
  });
}

/** ms between `started` (performance clock) and the wall-clock nanoseconds a command printed. */
function firstInstruction(out: string, started: number): number {
  const printedMs = Number(BigInt(out.trim()) / 1000n) / 1000;
  return printedMs - (performance.timeOrigin + started);
}

function tryProgram(program: typeof RUNSC): string | undefined {
  try {
    return hostProgram(program);
  } catch {
    return undefined;
  }
}
