import { PaddockError } from "../errors/index.js";
import { kvBytesPerToken, MODELS } from "./models.js";

/** The seeds' tuning table, by the GPU's free memory: a context length and the share of memory vLLM may take. */
const TIERS = [
  { minGiB: 24, maxModelLen: 32768, utilization: 0.9 },
  { minGiB: 16, maxModelLen: 24576, utilization: 0.85 },
  { minGiB: 12, maxModelLen: 20480, utilization: 0.8 },
  { minGiB: 10, maxModelLen: 16384, utilization: 0.75 },
  { minGiB: 0, maxModelLen: 8192, utilization: 0.7 },
];
/** What vLLM's budget holds besides weights and KV cache: the CUDA context and the activations of a forward pass. */
const OVERHEAD_GIB = 1.0;
/** Below this window no coding agent works at all; below the next, OpenCode's and Claude Code's first prompts (10-20K tokens) do not fit. */
const MIN_MODEL_LEN = 8192;
const AGENT_MODEL_LEN = 16384;
/** Sequences at once: as many as the KV cache holds at this many tokens each, within these bounds. */
const TOKENS_PER_SEQUENCE = 2048;
const MAX_NUM_SEQS = 16;

export interface VllmSizing {
  model: string;
  gpu_vram_gib: number;
  max_model_len: number;
  gpu_memory_utilization: number;
  max_num_seqs: number;
  /** Tokens the KV cache holds, all sequences together. */
  kv_cache_tokens: number;
  enforce_eager: boolean;
  shm_gib: number;
  /** vLLM's command-line arguments, in the seeds' order. */
  args: string[];
  /** Why each setting is what it is. */
  reasons: Array<{ setting: string; why: string }>;
  warnings: string[];
}

/** vLLM's arguments for a model on a GPU with `vramGiB` of free memory, each with its reason (`paddock kube size`). */
export function sizeVllm(model: string, vramGiB: number): VllmSizing {
  const facts = MODELS[model];
  if (!facts) throw new PaddockError("model_unknown", `paddock has no sizing facts for '${model}'`, "--model", `known models: ${Object.keys(MODELS).join(", ")}`);
  if (!Number.isFinite(vramGiB) || vramGiB <= 0) throw new PaddockError("vram_invalid", `--gpu-vram must be the GPU's free memory in GiB, not '${vramGiB}'`, "--gpu-vram");
  const tier = TIERS.find((t) => vramGiB >= t.minGiB)!;
  const budget = vramGiB * tier.utilization;
  const kvGiB = budget - facts.weightsGiB - OVERHEAD_GIB;
  const perToken = kvBytesPerToken(facts);
  const kvTokens = Math.max(0, Math.floor((kvGiB * 2 ** 30) / perToken));
  const fits = Math.floor(kvTokens / 1024) * 1024;
  const maxModelLen = Math.min(tier.maxModelLen, facts.maxContext, fits);
  if (maxModelLen < MIN_MODEL_LEN) {
    const needed = (facts.weightsGiB + OVERHEAD_GIB + (MIN_MODEL_LEN * perToken) / 2 ** 30) / tier.utilization;
    throw new PaddockError(
      "model_too_large",
      `${model} does not fit ${vramGiB} GiB: ${tier.utilization} of it is ${budget.toFixed(1)} GiB, its weights take ${facts.weightsGiB} GiB and vLLM ${OVERHEAD_GIB} GiB more, which leaves a KV cache of ${kvTokens} tokens (an agent needs ${MIN_MODEL_LEN} at least)`,
      "--gpu-vram",
      `a GPU with ${Math.ceil(needed)} GiB free, or a smaller or more quantized model (${Object.entries(MODELS).filter(([, m]) => m.weightsGiB < facts.weightsGiB).map(([name]) => name).join(", ") || "none known"})`,
    );
  }
  const maxNumSeqs = Math.max(1, Math.min(MAX_NUM_SEQS, Math.floor(kvTokens / TOKENS_PER_SEQUENCE)));
  const enforceEager = vramGiB < 16;
  const shmGiB = Math.min(16, Math.max(4, Math.round((vramGiB * 2) / 3)));
  const limitedBy = maxModelLen === fits ? `what the KV cache holds (${kvTokens} tokens at ${(perToken / 1024).toFixed(0)} KiB each)` : maxModelLen === facts.maxContext ? "the model's own trained context" : `the tuning table for ${tier.minGiB ? `${tier.minGiB} GiB or more` : "less than 10 GiB"}`;
  const reasons = [
    { setting: `--max-model-len ${maxModelLen}`, why: `limited by ${limitedBy}; lower it first on out-of-memory errors` },
    { setting: `--gpu-memory-utilization ${tier.utilization}`, why: `${budget.toFixed(1)} of ${vramGiB} GiB: weights ${facts.weightsGiB} GiB, ${OVERHEAD_GIB} GiB for CUDA and activations, the rest (${kvGiB.toFixed(1)} GiB) KV cache; lower it second` },
    { setting: `--max-num-seqs ${maxNumSeqs}`, why: `the KV cache holds ${kvTokens} tokens: at ${TOKENS_PER_SEQUENCE} each on average, ${maxNumSeqs} sequences at once (at most ${MAX_NUM_SEQS}); set the gateway's max_parallel_requests to it` },
    ...(facts.quantization ? [{ setting: `--quantization ${facts.quantization}`, why: `the checkpoint (${facts.repo}) is ${facts.quantization.toUpperCase()}-quantized` }] : []),
    { setting: `--tool-call-parser ${facts.toolParser} --enable-auto-tool-choice`, why: "agents call tools: vLLM must parse this model family's tool calls into OpenAI tool_calls" },
    ...(enforceEager ? [{ setting: "--enforce-eager", why: "under 16 GiB, CUDA graphs' memory is better spent on KV cache" }] : []),
    { setting: "--enable-chunked-prefill", why: "long agent prompts are prefilled in chunks, beside other sequences' decoding" },
    { setting: `/dev/shm ${shmGiB}Gi`, why: "vLLM's processes share tensors through /dev/shm; the container default (64 MiB) is far too small" },
  ];
  const warnings = maxModelLen < AGENT_MODEL_LEN ? [`a ${maxModelLen}-token window is short for coding agents: OpenCode's and Claude Code's first prompt alone is 10-20K tokens`] : [];
  const args = [
    "--model", `/models/${model}`,
    "--served-model-name", model,
    "--host", "0.0.0.0",
    "--port", "8000",
    "--max-model-len", String(maxModelLen),
    ...(facts.quantization ? ["--quantization", facts.quantization] : []),
    "--gpu-memory-utilization", String(tier.utilization),
    ...(enforceEager ? ["--enforce-eager"] : []),
    "--enable-auto-tool-choice",
    "--tool-call-parser", facts.toolParser,
    "--enable-chunked-prefill",
    "--max-num-seqs", String(maxNumSeqs),
  ];
  return { model, gpu_vram_gib: vramGiB, max_model_len: maxModelLen, gpu_memory_utilization: tier.utilization, max_num_seqs: maxNumSeqs, kv_cache_tokens: kvTokens, enforce_eager: enforceEager, shm_gib: shmGiB, args, reasons, warnings };
}
