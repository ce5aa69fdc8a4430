/** paddock on Kubernetes: sizing vLLM for a GPU (the seeds' tuning table as code), and the kustomize tree for a cluster. */
export { MODELS, type ModelFacts } from "./models.js";
export { sizeVllm, type VllmSizing } from "./size.js";
export { NAMESPACES, OVERLAYS, renderTree, VLLM_IMAGE, type Overlay } from "./render.js";
