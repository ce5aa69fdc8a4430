/** paddock on Kubernetes: sizing vLLM for a GPU (the seeds' tuning table as code). */
export { MODELS, type ModelFacts } from "./models.js";
export { sizeVllm, type VllmSizing } from "./size.js";
