import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { evaluate, loadCandidates, type Candidate } from "../src/eval/index.js";
import { startLocal } from "../src/local/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { ScriptedModel, smokeTestScript } from "../src/scripted/index.js";
import { ROOT } from "../test/helpers.js";
import { percentile, printTable } from "./stats.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/**
 * `paddock eval`'s wall time with two candidates beside one candidate alone, each run in its own clone and
 * verified, on the scripted upstream: the parallel evaluation's cost over a single run, as a ratio. With real
 * OpenCode, and with a command agent (paddock's own share: clones, sandboxes, snapshots, verification). The
 * machine's CPU time is measured too: what two runs need on these cores bounds how well they can overlap.
 * One warm-up of each case, then the cases take turns.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-eval-"));
  const upstream = await new ScriptedModel({ model: "qwen-coder", maxModelLen: 65536, script: smokeTestScript() }).listen();
  const config = join(dir, "paddock.yaml");
  writeFileSync(config, `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${upstream.url}" }\n`);
  const repo = join(dir, "repo");
  cpSync(join(ROOT, "examples", "workspace"), repo, { recursive: true, filter: (source) => !source.endsWith("SMOKE-TEST.md") });
  for (const args of [["init", "-q"], ["add", "."], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "base"]]) execFileSync("git", ["-C", repo, ...args]);
  const candidateFile = (name: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `name: ${name}\ncard: ${join(ROOT, "examples", "cards", "opencode.yaml")}\nmodel: qwen-coder\n`);
    return file;
  };
  const candidates = await loadCandidates([candidateFile("first"), candidateFile("second")]);
  const local = await startLocal({ configFile: config, paths: paddockPaths({ PADDOCK_HOME: join(dir, "home") }) });
  const commands = await loadCandidates([commandCard(dir, "first-command"), commandCard(dir, "second-command")]);
  const busy: Record<string, number[]> = {};
  const once = async (of: Candidate[], label: string) => {
    const started = performance.now();
    const cpuBefore = busyCpuSeconds();
    const report = await evaluate({ executor: local.executor, prompt: "Summarise README.md", workspace: repo, candidates: of, repeat: 1, parallel: of.length, verify: { command: "grep -q 'paddock smoke test' SMOKE-TEST.md", retries: 0 } });
    if (report.candidates.some((c) => c.passed !== 1)) throw new Error(`a candidate failed: ${JSON.stringify(report.candidates)}`);
    (busy[label] ??= []).push(busyCpuSeconds() - cpuBefore);
    return performance.now() - started;
  };
  try {
    const cases: Array<[string, Candidate[]]> = [
      ["OpenCode: one candidate", candidates.slice(0, 1)],
      ["OpenCode: two candidates in parallel", candidates],
      ["command agent: one candidate", commands.slice(0, 1)],
      ["command agent: two candidates in parallel", commands],
    ];
    for (const [label, of] of cases) await once(of, `warm-up ${label}`);
    const samples = new Map<string, number[]>(cases.map(([label]) => [label, []]));
    for (let i = 0; i < ROUNDS; i++) {
      for (const [label, of] of cases) samples.get(label)!.push(await once(of, label));
      process.stderr.write(`\rround ${i + 1}/${ROUNDS}   `);
    }
    process.stderr.write("\n");
    const cores = availableParallelism();
    for (const kind of ["OpenCode", "command agent"]) {
      const rows = cases.filter(([label]) => label.startsWith(kind)).map(([label]) => ({ name: label, samples: samples.get(label)! }));
      printTable(`paddock eval, ${kind} on the scripted upstream, each run verified, ${ROUNDS} rounds (${cores} cores)`, rows, rows[0]!.name);
      const [one, two] = rows.map((r) => percentile(busy[r.name]!, 50));
      const oneWall = percentile(rows[0]!.samples, 50) / 1000;
      console.log(`  CPU busy (all processes, /proc/stat) p50: ${one!.toFixed(1)} s for one, ${two!.toFixed(1)} s for two; two cannot take less than max(one's wall, their CPU / ${cores} cores) = ${(Math.max(oneWall, two! / cores) / oneWall).toFixed(2)}x one`);
    }
  } finally {
    await local.close();
    await upstream.close();
  }
}


/** A command agent that does the smoke task's writing itself (no model): paddock's own share of an evaluation. */
function commandCard(dir: string, name: string): string {
  const file = join(dir, `${name}.yaml`);
  const script = `printf '# paddock smoke test\\n' > SMOKE-TEST.md; echo '{"outcome":"COMPLETE","summary":"written"}'`;
  writeFileSync(file, `agent_id: ${name}\nworkspace: .\nkind: command\ncommand: [sh, -c, ${JSON.stringify(script)}]\n`);
  return file;
}

/** CPU seconds spent by the whole machine so far (user, nice, system, irq, softirq, steal). */
function busyCpuSeconds(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
}
