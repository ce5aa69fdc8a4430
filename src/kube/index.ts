/** paddock on Kubernetes: sizing vLLM for a GPU (the seeds' tuning table as code), and the kustomize tree for a cluster. */
export { MODELS, type ModelFacts } from "./models.js";
export { sizeVllm, type VllmSizing } from "./size.js";
export { NAMESPACES, PORTS } from "./names.js";
export { GATEWAY_NODE_PORT, OVERLAYS, renderTree, VLLM_IMAGE, type Overlay } from "./render.js";
export { systemSecrets } from "./system.js";
export { KubeBackend, type KubeBackendOptions } from "./backend.js";
export { kubeClients, hasAgentSandbox, KubeError, AGENT_SANDBOX, type KubeClients } from "./client.js";
export { agentPod, ANNOTATIONS, LABELS, TASK_START, WARM_LABELS, WARM_START, warmPod } from "./pod.js";
export { LAUNCH_ANNOTATION, open as openLaunch, seal as sealLaunch, warmKeyOf, warmKeys, WARM_KEY_LINE } from "./seal.js";
export { watchAgentIdentities, type AgentRegistry } from "./identity.js";
export { kubeProbes, type KubeCheck } from "./doctor.js";
export { execInPod, type PodPlace } from "./attach.js";
export { PodCommand } from "./exec.js";
