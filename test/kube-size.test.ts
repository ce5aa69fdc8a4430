import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sizeVllm } from "../src/kube/index.js";
import { paddock } from "./helpers.js";

describe("paddock kube size: the seeds' vLLM tuning table as code", () => {
  it("gives the seed's settings for its 7B AWQ model at every row of the table", () => {
    const rows = [[24, 32768, 0.9], [16, 24576, 0.85], [12, 20480, 0.8], [10, 16384, 0.75]] as const;
    for (const [vram, len, utilization] of rows) {
      const s = sizeVllm("qwen2.5-coder-7b-awq", vram);
      assert.deepEqual([s.max_model_len, s.gpu_memory_utilization], [len, utilization], `${vram} GiB`);
      assert.equal(s.enforce_eager, vram < 16);
      assert.deepEqual(s.warnings, []);
    }
    const desktop = sizeVllm("qwen2.5-coder-7b-awq", 12);
    // The seed's Deployment, argument for argument.
    assert.deepEqual(desktop.args, ["--model", "/models/qwen2.5-coder-7b-awq", "--served-model-name", "qwen2.5-coder-7b-awq", "--host", "0.0.0.0", "--port", "8000", "--max-model-len", "20480", "--quantization", "awq", "--gpu-memory-utilization", "0.8", "--enforce-eager", "--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--enable-chunked-prefill", "--max-num-seqs", "16"]);
    assert.equal(desktop.shm_gib, 8);
  });

  it("shortens the window of a model whose KV cache is the limit, and says so", () => {
    const s = sizeVllm("qwen2.5-coder-14b-awq", 16);
    assert.ok(s.max_model_len < 24576 && s.max_model_len % 1024 === 0, String(s.max_model_len));
    assert.ok(s.max_model_len <= s.kv_cache_tokens);
    assert.match(s.reasons[0]!.why, /limited by what the KV cache holds/);
    assert.ok(s.max_num_seqs < 16);
    const tight = sizeVllm("qwen2.5-coder-32b-awq", 24);
    assert.match(tight.warnings[0] ?? "", /short for coding agents/);
  });

  it("refuses a model that does not fit, with the numbers and what would", async () => {
    assert.throws(() => sizeVllm("qwen2.5-coder-32b-awq", 16), /does not fit 16 GiB: 0\.85 of it is 13\.6 GiB, its weights take 18 GiB/);
    const r = await paddock(["kube", "size", "--gpu-vram", "16", "--model", "qwen2.5-coder-32b-awq"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /hint: a GPU with \d+ GiB free, or a smaller or more quantized model \(.*qwen2\.5-coder-7b-awq/);
    const unknown = await paddock(["kube", "size", "--gpu-vram", "16", "--model", "gpt-5"]);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /no sizing facts for 'gpt-5'[\s\S]*known models: .*qwen2\.5-coder-14b-awq/);
    const missing = await paddock(["kube", "size"]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /--gpu-vram/);
  });

  it("prints the arguments as the Deployment's YAML list with each reason, or JSON", async () => {
    const r = await paddock(["kube", "size", "--gpu-vram", "16", "--model", "qwen2.5-coder-7b-awq"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}- "--max-model-len"\n {2}- "24576"$/m);
    assert.match(r.stdout, /--gpu-memory-utilization 0\.85: 13\.6 of 16 GiB/);
    const json = JSON.parse((await paddock(["kube", "size", "--gpu-vram", "24", "--json"])).stdout) as { model: string; max_model_len: number };
    assert.deepEqual([json.model, json.max_model_len], ["qwen2.5-coder-7b-awq", 32768]);
  });
});
