import type { Command } from "commander";
import { PaddockError } from "../errors/index.js";
import { report } from "./fail.js";
import { number } from "./parse.js";

const DEFAULT_MODEL = "qwen2.5-coder-7b-awq";

export function registerKube(program: Command): void {
  const kube = program.command("kube").description("paddock on Kubernetes: size vLLM for your GPUs");
  kube
    .command("size")
    .description("vLLM's arguments for a model on a GPU (context length, memory share, sequences at once, quantization, tool-call parser, /dev/shm), each with why")
    .option("--gpu-vram <gib>", "the GPU's free memory in GiB (a desktop's GUI takes 2-4 GiB of it)", number(1, false))
    .option("--model <name>", `the model (default: ${DEFAULT_MODEL}); --models lists them`, DEFAULT_MODEL)
    .option("--models", "list the models paddock has sizing facts for")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExit status: 0 sized, 125 an unknown model or one that does not fit (the message says what would).\n\nExample:\n  paddock kube size --gpu-vram 16 --model qwen2.5-coder-7b-awq")
    .action(async (opts: { gpuVram?: number; model: string; models?: boolean; json?: boolean }) => {
      const { MODELS, sizeVllm } = await import("../kube/index.js");
      try {
        if (opts.models) {
          if (opts.json) return void process.stdout.write(`${JSON.stringify(MODELS, null, 2)}\n`);
          for (const [name, m] of Object.entries(MODELS)) process.stdout.write(`${name.padEnd(26)} ${m.repo} (${m.weightsGiB} GiB of weights, ${m.maxContext} tokens at most)\n`);
          return;
        }
        if (opts.gpuVram === undefined) throw new PaddockError("vram_missing", "give the GPU's free memory: --gpu-vram GIB", "--gpu-vram", "nvidia-smi --query-gpu=memory.free --format=csv shows it");
        const sizing = sizeVllm(opts.model, opts.gpuVram);
        if (opts.json) return void process.stdout.write(`${JSON.stringify(sizing, null, 2)}\n`);
        const lines = [
          `vLLM for ${sizing.model} on a GPU with ${sizing.gpu_vram_gib} GiB free:`,
          "",
          "args:",
          ...sizing.args.map((a) => `  - ${JSON.stringify(a)}`),
          `/dev/shm: emptyDir { medium: Memory, sizeLimit: ${sizing.shm_gib}Gi }`,
          "",
          "why:",
          ...sizing.reasons.map((r) => `  ${r.setting}: ${r.why}`),
          ...sizing.warnings.map((w) => `warning: ${w}`),
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}
