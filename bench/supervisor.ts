import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { paddockPaths } from "../src/paths/index.js";
import { callDaemon } from "../src/supervisor/index.js";
import { CLI } from "../test/helpers.js";
import { percentile } from "./stats.js";

/**
 * 50 sleeping agents through the daemon: time until all run, spawn latency,
 * the daemon's memory per agent, `list` latency with 50 agents; against a bare
 * `paddock exec` of the same card (what the supervisor adds, as a ratio).
 */
export async function main(): Promise<void> {
  const count = Number(process.env.BENCH_AGENTS ?? 50);
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-sup-"));
  const env = { ...process.env, PADDOCK_HOME: join(dir, "home") };
  const paths = paddockPaths(env);
  mkdirSync(join(dir, "ws"));
  const card = join(dir, "sleeper.yaml");
  writeFileSync(card, `agent_id: sleeper\nworkspace: ${join(dir, "ws")}\nkind: command\ncommand: [sleep, "600"]\ntools: [sh, coreutils]\nresource_limits: { memory_mb: 64, max_processes: 8 }\n`);

  const execTimes: number[] = [];
  for (let i = 0; i < 20; i++) execTimes.push(await timed([process.execPath, CLI, "exec", "--card", card, "--", "true"], env));

  const daemon = spawn(process.execPath, [CLI, "up", "--max-agents", String(count + 5)], { env, stdio: ["ignore", "pipe", "ignore"] });
  try {
    await new Promise<void>((resolve) => daemon.stdout!.on("data", (d: Buffer) => d.toString().includes("paddock is up") && resolve()));
    const rssBefore = rss(daemon.pid!);
    const spawnTimes: number[] = [];
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      const { status, value } = await callDaemon(paths, "POST", "/v1/agents", { card_path: card, name: `sleeper-${i}` });
      if (status !== 201) throw new Error(`spawn ${i}: ${JSON.stringify(value)}`);
      spawnTimes.push(performance.now() - t);
    }
    const allRunning = performance.now() - started;
    const listTimes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const { value } = await callDaemon(paths, "GET", "/v1/agents");
      listTimes.push(performance.now() - t);
      if ((value as Array<{ state: string }>).filter((a) => a.state === "running").length !== count) throw new Error("not every agent runs");
    }
    const perAgentKiB = (rss(daemon.pid!) - rssBefore) / count;
    console.log(`\n${count} agents (sleep 600) spawned one after another through the daemon's API`);
    console.log(`time until all run: ${(allRunning / 1000).toFixed(2)} s`);
    console.log(`spawn latency: p50 ${percentile(spawnTimes, 50).toFixed(1)} ms, p99 ${percentile(spawnTimes, 99).toFixed(1)} ms`);
    console.log(`bare paddock exec of the same card (to the exit of true): p50 ${percentile(execTimes, 50).toFixed(1)} ms`);
    console.log(`spawn through the daemon / bare exec, p50: ${(percentile(spawnTimes, 50) / percentile(execTimes, 50)).toFixed(2)}`);
    console.log(`daemon memory per agent: ${perAgentKiB.toFixed(0)} KiB`);
    console.log(`list with ${count} agents: p50 ${percentile(listTimes, 50).toFixed(1)} ms, p99 ${percentile(listTimes, 99).toFixed(1)} ms`);
  } finally {
    daemon.kill("SIGTERM");
    await new Promise((resolve) => daemon.once("exit", resolve));
  }
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
}

function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: "ignore" });
    child.on("exit", (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${argv.join(" ")} exited ${code}`))));
  });
}
