import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { paddock, scratch } from "./helpers.js";
import { startLlamaServer, type LlamaServer } from "./llama-helpers.js";

interface RunOutput {
  outcome: "COMPLETE" | "NEEDS_INFO" | "ERROR";
  summary: string;
  attempts: Array<{ exit: { cause: string; code: number | null }; result: string }>;
  error?: { category: string; message: string; hint: string };
  changed_files: Array<{ path: string }>;
  input_tokens: number;
  output_tokens: number;
  requests: number;
}

/**
 * The whole chain on a real model: `paddock run` starts the real OpenCode in a
 * bwrap sandbox, through the gateway, against llama.cpp serving SmolLM2-135M.
 * The model is far too small to code; what is asserted is that every part did
 * its job and that the result paddock reports is the truth.
 */
describe("paddock run: real OpenCode on a real model (llama.cpp, SmolLM2-135M)", () => {
  let llama: LlamaServer;
  before(async () => {
    llama = await startLlamaServer({ context: 8192 });
  });
  after(async () => llama?.close());

  it("runs the task through the sandbox and the gateway, and reports what happened as it happened", async () => {
    const { dir, env } = scratch("paddock-run-llama-");
    const workspace = join(dir, "ws");
    mkdirSync(workspace);
    writeFileSync(join(workspace, "README.md"), "# demo\n");
    execFileSync("sh", ["-c", "git init -q && git add . && git -c user.email=a@b -c user.name=a commit -qm init"], { cwd: workspace });
    const config = join(dir, "paddock.yaml");
    // Replies capped at 64 tokens keep the 135M model's rambling short on 2 cores; one attempt, no retries.
    writeFileSync(
      config,
      [
        "model_list:",
        "  - model_name: smol",
        `    litellm_params: { model: openai/smollm2, api_base: "${llama.url}", api_key: none, max_parallel_requests: 1 }`,
        "    model_info: { max_output_tokens: 64 }",
        "executor: { max_retries: 0, timeout_seconds: 300 }",
      ].join("\n"),
    );
    const card = join(dir, "card.yaml");
    writeFileSync(card, `agent_id: smol-opencode\nworkspace: ws\nkind: opencode\ntools: [sh, coreutils, findutils, grep, sed, git]\nresource_limits: { memory_mb: 2048, max_processes: 256, max_open_files: 4096 }\n`);
    const r = await paddock(["run", "--card", card, "--config", config, "--json", "Write the word hello into a file named hello.txt"], { env });
    const run = JSON.parse(r.stdout) as RunOutput;
    assert.equal(r.code, { COMPLETE: 0, NEEDS_INFO: 4, ERROR: 1 }[run.outcome], `exit ${r.code} for ${run.outcome}: ${r.stderr}`);
    // OpenCode ran in its sandbox and ended by itself: no setup failure, no timeout.
    assert.equal(run.attempts.length, 1);
    assert.equal(run.attempts[0]!.exit.cause, "exited", JSON.stringify(run.attempts));
    // The real server answered every request: tokens counted by it, replies within the cap.
    assert.ok(run.requests >= 1 && run.input_tokens > 0 && run.output_tokens > 0, JSON.stringify({ requests: run.requests, input: run.input_tokens, output: run.output_tokens }));
    assert.ok(run.output_tokens <= 64 * run.requests, `${run.output_tokens} output tokens for ${run.requests} requests: a reply above max_output_tokens`);
    assert.match(llama.output(), /prompt eval time/, "llama.cpp did the work");
    // What paddock says changed is what changed.
    const changed = execFileSync("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: workspace, encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map((line) => line.slice(3))
      .sort();
    assert.deepEqual(run.changed_files.map((f) => f.path).sort(), changed);
    if (run.outcome === "ERROR") {
      assert.ok(run.error && run.error.message.length > 0 && run.error.hint.length > 0, JSON.stringify(run.error));
    } else {
      assert.ok(run.summary.length > 0);
    }
  });
});
