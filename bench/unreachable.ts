import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, ROOT } from "../test/helpers.js";
import { runOpenCodeDirect } from "./agent-run.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/**
 * A model server that takes no connections: how long until `paddock run`
 * (the README's command, Node start-up included) reports it, beside OpenCode
 * alone on the host against the same dead address, which retries before it
 * gives up (what paddock used to wait for). Medians of a few rounds.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-unreachable-"));
  const dead = "http://127.0.0.1:9/v1";
  const config = join(dir, "paddock.yaml");
  writeFileSync(config, `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${dead}" }\n`);
  const workspace = join(dir, "ws");
  cpSync(join(ROOT, "examples", "workspace"), workspace, { recursive: true });
  const card = join(ROOT, "examples", "cards", "opencode.yaml");
  const env = { PATH: process.env.PATH, PADDOCK_HOME: join(dir, "home"), HOME: dir };
  const paddock: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let started = performance.now();
    const code = await new Promise<number | null>((resolve) => spawn(process.execPath, [CLI, "run", "-q", "--card", card, "--workspace", workspace, "--config", config, "hi"], { env, stdio: "ignore" }).on("exit", resolve));
    if (code !== 1) throw new Error(`paddock run exited ${code}, not 1 (ERROR)`);
    paddock.push(performance.now() - started);
    started = performance.now();
    await runOpenCodeDirect(mkdtempSync(join(dir, "home-")), workspace, dead);
    direct.push(performance.now() - started);
    process.stderr.write(`round ${i + 1}/${ROUNDS}\r`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const p = median(paddock);
  const d = median(direct);
  console.log(`\nan unreachable model server, time to the report (median of ${ROUNDS}):`);
  console.log(`  OpenCode alone, retrying                 ${(d / 1000).toFixed(1).padStart(6)} s`);
  console.log(`  paddock run (README command)             ${(p / 1000).toFixed(1).padStart(6)} s   ${(p / d).toFixed(3)}x (target under 5 s: ${p < 5000 ? "met" : "NOT met"})`);
}
