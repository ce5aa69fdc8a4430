/**
 * What sizing a vLLM server needs to know of a model: its weights on the GPU, the KV cache one token of context
 * takes (layers × KV heads × head size × K and V × 2 bytes), the longest context it was trained for, and how vLLM
 * parses its tool calls. Figures from the models' published configs; weights as the quantized checkpoints ship.
 */
export interface ModelFacts {
  /** Hugging Face repository, for the model PVC's download. */
  repo: string;
  weightsGiB: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  maxContext: number;
  quantization: "awq" | "gptq" | "fp8" | null;
  toolParser: string;
}

export const MODELS: Record<string, ModelFacts> = {
  "qwen2.5-coder-1.5b": { repo: "Qwen/Qwen2.5-Coder-1.5B-Instruct", weightsGiB: 2.9, layers: 28, kvHeads: 2, headDim: 128, maxContext: 32768, quantization: null, toolParser: "hermes" },
  "qwen2.5-coder-7b-awq": { repo: "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", weightsGiB: 5.2, layers: 28, kvHeads: 4, headDim: 128, maxContext: 32768, quantization: "awq", toolParser: "hermes" },
  "qwen2.5-coder-7b": { repo: "Qwen/Qwen2.5-Coder-7B-Instruct", weightsGiB: 14.2, layers: 28, kvHeads: 4, headDim: 128, maxContext: 32768, quantization: null, toolParser: "hermes" },
  "qwen2.5-coder-14b-awq": { repo: "Qwen/Qwen2.5-Coder-14B-Instruct-AWQ", weightsGiB: 9.3, layers: 48, kvHeads: 8, headDim: 128, maxContext: 32768, quantization: "awq", toolParser: "hermes" },
  "qwen2.5-coder-32b-awq": { repo: "Qwen/Qwen2.5-Coder-32B-Instruct-AWQ", weightsGiB: 18.0, layers: 64, kvHeads: 8, headDim: 128, maxContext: 32768, quantization: "awq", toolParser: "hermes" },
  "qwen3-coder-30b-a3b-fp8": { repo: "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8", weightsGiB: 29.0, layers: 48, kvHeads: 4, headDim: 128, maxContext: 262144, quantization: "fp8", toolParser: "qwen3_coder" },
  "llama-3.1-8b-awq": { repo: "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", weightsGiB: 5.4, layers: 32, kvHeads: 8, headDim: 128, maxContext: 131072, quantization: "awq", toolParser: "llama3_json" },
};

/** Bytes of KV cache per token of context (fp16 K and V in every layer). */
export function kvBytesPerToken(model: ModelFacts): number {
  return model.layers * model.kvHeads * model.headDim * 2 * 2;
}
