import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentBinary } from "../src/agents/index.js";
import { CardSchema } from "../src/card/index.js";
import { startLocal } from "../src/local/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { ScriptedModel, type ScriptedTurn } from "../src/scripted/index.js";
import { percentile } from "./stats.js";

const TURNS = 5;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

/** A five-turn task in OpenCode's tools: read, write, run, read again, then the result. */
function script(root: string): ScriptedTurn[] {
  const tools = /(^|,)write(,|$)/;
  return [
    { system: /title generator/i, content: "bench", repeat: true },
    { tools, tool_calls: [{ name: "read", arguments: { filePath: `${root}/README.md` } }] },
    { tools, tool_calls: [{ name: "write", arguments: { filePath: `${root}/out.txt`, content: "bench\n" } }] },
    { tools, tool_calls: [{ name: "bash", arguments: { command: "wc -l README.md out.txt", description: "count" } }] },
    { tools, tool_calls: [{ name: "read", arguments: { filePath: `${root}/out.txt` } }] },
    { content: '```json\n{"outcome":"COMPLETE","summary":"bench"}\n```', repeat: true },
  ];
}

/**
 * The same scripted five-turn OpenCode task, run by `paddock run`'s executor
 * (a fresh bwrap sandbox, the gateway with its token cap and keys, the egress
 * proxy attached) and by OpenCode directly on the host against the same
 * upstream. Reports the medians, the overhead as a ratio and per turn.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-agent-"));
  const upstream = await new ScriptedModel({ model: "qwen-coder", maxModelLen: 65536 }).listen();
  const config = join(dir, "paddock.yaml");
  writeFileSync(config, `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${upstream.url}" }\n`);
  const paths = paddockPaths({ PADDOCK_HOME: join(dir, "home") });
  mkdirSync(paths.runtime, { recursive: true });
  const local = await startLocal({ configFile: config, paths });
  const workspace = join(dir, "ws");
  const card = CardSchema.parse({ agent_id: "bench", workspace, kind: "opencode", allowed_hosts: ["example.com"], tools: ["sh", "bash", "coreutils", "git", "rg"], resource_limits: { memory_mb: 2048, max_processes: 256, max_open_files: 4096 } });
  const home = join(dir, "host-home");
  const fresh = () => {
    rmSync(workspace, { recursive: true, force: true });
    mkdirSync(workspace, { recursive: true });
    writeFileSync(join(workspace, "README.md"), "# bench\n");
  };
  const through: number[] = [];
  const direct: number[] = [];
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      fresh();
      upstream.setScript(script("/workspace"));
      let t = performance.now();
      const run = await local.executor.run({ card, prompt: "bench" });
      const paddockMs = performance.now() - t;
      if (run.outcome !== "COMPLETE") throw new Error(`paddock run failed: ${JSON.stringify(run.error)}\n${run.conversation}`);
      fresh();
      upstream.setScript(script(workspace));
      t = performance.now();
      const alone = await runOpenCodeDirect(home, workspace, upstream.url);
      if (alone.code !== 0 || !alone.stdout.includes("COMPLETE")) throw new Error(`direct OpenCode exited ${alone.code}: ${alone.stdout}`);
      const directMs = performance.now() - t;
      // The first round warms caches (tool tree, OpenCode's first start): not counted.
      if (round > 0) {
        through.push(paddockMs);
        direct.push(directMs);
      }
      process.stderr.write(`round ${round}: paddock ${paddockMs.toFixed(0)} ms, direct ${directMs.toFixed(0)} ms\n`);
    }
  } finally {
    await local.close();
    await upstream.close();
  }
  const p = percentile(through, 50);
  const d = percentile(direct, 50);
  console.log(`agent-run: a scripted ${TURNS}-turn OpenCode task, median of ${ROUNDS} rounds`);
  console.log(`  OpenCode directly on the host      ${d.toFixed(0).padStart(6)} ms`);
  console.log(`  through paddock (sandbox, gateway, egress proxy)  ${p.toFixed(0).padStart(6)} ms`);
  console.log(`  overhead: ${(p / d).toFixed(2)}x, +${(p - d).toFixed(0)} ms in all, ${((p - d) / TURNS).toFixed(0)} ms per turn`);
}

/** OpenCode on the host, configured as paddock configures it but pointing at the upstream itself; its exit status and output. */
export function runOpenCodeDirect(home: string, workspace: string, baseURL: string): Promise<{ code: number | null; stdout: string }> {
  mkdirSync(join(home, ".config", "opencode"), { recursive: true });
  const config = {
    provider: { direct: { npm: "@ai-sdk/openai-compatible", options: { baseURL, apiKey: "none" }, models: { "qwen-coder": { name: "qwen-coder", limit: { context: 65536, output: 8192 } } } } },
    enabled_providers: ["direct"],
    model: "direct/qwen-coder",
    autoupdate: false,
    share: "disabled",
  };
  writeFileSync(join(home, ".config", "opencode", "opencode.json"), JSON.stringify(config));
  const env = { PATH: process.env.PATH, HOME: home, OPENCODE_DISABLE_MODELS_FETCH: "1", OPENCODE_DISABLE_AUTOUPDATE: "1", OPENCODE_DISABLE_SHARE: "1", OPENCODE_DISABLE_LSP_DOWNLOAD: "1", OPENCODE_DISABLE_DEFAULT_PLUGINS: "1", OPENCODE_DISABLE_CLAUDE_CODE: "1" };
  return new Promise((resolve, reject) => {
    const child = spawn(agentBinary("opencode"), ["run", "bench"], { cwd: workspace, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.resume();
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout }));
  });
}
