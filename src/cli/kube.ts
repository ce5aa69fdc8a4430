import type { Command } from "commander";
import { PaddockError } from "../errors/index.js";
import { report } from "./fail.js";
import { number } from "./parse.js";
import { PADDOCK_VERSION } from "./version.js";

const DEFAULT_MODEL = "qwen2.5-coder-7b-awq";

export function registerKube(program: Command): void {
  const kube = program.command("kube").description("paddock on Kubernetes: size vLLM for your GPUs, and write the cluster's manifests");
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
        const sizing = sizeVllm(opts.model, requiredVram(opts.gpuVram));
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

  kube
    .command("render")
    .description("write the kustomize tree for a cluster: vLLM sized for the GPU, paddock's gateway, egress proxy and controller with PostgreSQL, and the agents' namespace locked down (Pod Security restricted, default-deny network, no API token)")
    .option("--gpu-vram <gib>", "the GPU's free memory in GiB (as for kube size)", number(1, false))
    .option("--model <name>", `the model (default: ${DEFAULT_MODEL})`, DEFAULT_MODEL)
    .option("--image <ref>", "paddock's image (built from the Containerfile)", `paddock:${PADDOCK_VERSION}`)
    .option("--gateway-replicas <n>", "gateway replicas (budgets and rate limits stay exact across them: they share the store)", number(1, true), 2)
    .option("--database-url <dsn>", "an external PostgreSQL (postgres://...) instead of the StatefulSet")
    .option("--out <dir>", "where to write it", "paddock-kube")
    .option("--force", "write into a folder that is not empty (paddock's files are replaced, others left)")
    .option("--json", "print what was written as JSON")
    .addHelpText("after", "\nThen: kubectl apply --server-side -k DIR/overlays/single-node (K3s on one box: the nvidia runtime class, the gateway on NodePort 30400),\nDIR/overlays/multi-node, or DIR/overlays/gvisor (every agent under gVisor). The passwords and keys are in DIR/base/secrets.env (mode 0600,\nkept across renders, ignored by git).\nExit status: 0 written, 125 a model that does not fit, an unknown model, or a folder that is not empty.")
    .action(async (opts: { gpuVram?: number; model: string; out: string; force?: boolean; json?: boolean; image: string; gatewayReplicas: number; databaseUrl?: string }) => {
      const { renderTree, systemSecrets } = await import("../kube/index.js");
      const { yamlDocuments } = await import("../configfile/index.js");
      const { existsSync, mkdirSync, readdirSync, writeFileSync } = await import("node:fs");
      const { dirname, join, resolve } = await import("node:path");
      try {
        const out = resolve(opts.out);
        if (existsSync(out) && readdirSync(out).length > 0 && !opts.force) throw new PaddockError("out_not_empty", `${out} is not empty`, "--out", "give another folder, or --force to replace paddock's files in it");
        if (opts.databaseUrl && !/^postgres(ql)?:\/\//.test(opts.databaseUrl)) throw new PaddockError("database_url_invalid", `'${opts.databaseUrl}' is not a PostgreSQL URL`, "--database-url", "give postgres://USER:PASSWORD@HOST:5432/DB");
        const system = { image: opts.image, gatewayReplicas: opts.gatewayReplicas, databaseUrl: opts.databaseUrl };
        const tree = renderTree({ model: opts.model, gpuVramGiB: requiredVram(opts.gpuVram), ...system });
        const written: string[] = [];
        for (const [file, documents] of tree) {
          const path = join(out, file);
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, `# Written by paddock kube render --gpu-vram ${opts.gpuVram} --model ${opts.model}\n${await yamlDocuments(documents)}`);
          written.push(path);
        }
        // Written once: a second render must not change the passwords of a PostgreSQL that already holds data.
        const secrets = join(out, "base", "secrets.env");
        if (!existsSync(secrets)) writeFileSync(secrets, systemSecrets({ ...system, model: opts.model }), { mode: 0o600 });
        writeFileSync(join(out, "base", ".gitignore"), "secrets.env\n");
        written.push(secrets);
        if (opts.json) return void process.stdout.write(`${JSON.stringify({ out, files: written }, null, 2)}\n`);
        for (const path of written) process.stdout.write(`wrote ${path}\n`);
        process.stdout.write(`apply: kubectl apply --server-side -k ${join(out, "overlays", "single-node")}   (or overlays/multi-node, overlays/gvisor)\n`);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}

/** --gpu-vram, which sizing cannot guess. */
function requiredVram(gib: number | undefined): number {
  if (gib === undefined) throw new PaddockError("vram_missing", "give the GPU's free memory: --gpu-vram GIB", "--gpu-vram", "nvidia-smi --query-gpu=memory.free --format=csv shows it");
  return gib;
}
