import type { KubeClients } from "./client.js";
import { AGENT_SANDBOX, apiMessage, hasAgentSandbox, hasWarmPools } from "./client.js";
import { NAMESPACES } from "./names.js";

export interface KubeCheck {
  ok: boolean;
  detail: string;
  fix?: string;
}

/** CNIs that enforce NetworkPolicy (flannel alone does not; K3s adds its own enforcement to it). */
const ENFORCING = /calico|cilium|antrea|kube-router|weave|canal|k3s|rke2/i;

/**
 * `paddock doctor --kube`: the cluster, checked the way the seeds' troubleshooting sections do by hand, each check
 * with its fix. Read-only: nothing is made in the cluster.
 */
export function kubeProbes(clients: KubeClients, namespace: string = NAMESPACES.agents): Array<[string, () => Promise<KubeCheck>]> {
  const { core, config } = clients;
  return [
    ["context", async () => {
      const k8s = await import("@kubernetes/client-node");
      const version = await config.makeApiClient(k8s.VersionApi).getCode().catch((err: unknown) => {
        throw Object.assign(new Error(`${clients.server}: ${apiMessage(err)}`), { hint: "kubectl config current-context names the cluster; check KUBECONFIG, the server's address and your credentials" });
      });
      return { ok: true, detail: `${config.getCurrentContext() || "in-cluster"} at ${clients.server} (Kubernetes ${version.gitVersion})` };
    }],
    ["nodes", async () => {
      const nodes = (await core.listNode()).items;
      const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
      const gpus = nodes.reduce((sum, n) => sum + Number(n.status?.allocatable?.["nvidia.com/gpu"] ?? 0), 0);
      if (ready.length === 0) return { ok: false, detail: `${nodes.length} nodes, none Ready`, fix: "kubectl describe nodes shows why (kubelet, CNI, disk pressure)" };
      if (gpus === 0) return { ok: false, detail: `${ready.length}/${nodes.length} nodes Ready, no nvidia.com/gpu allocatable`, fix: "install the NVIDIA container toolkit on GPU nodes and the device plugin (K3s: the nvidia runtime class; see the seeds' GPU setup)" };
      return { ok: true, detail: `${ready.length}/${nodes.length} nodes Ready; ${gpus} GPU${gpus === 1 ? "" : "s"} allocatable` };
    }],
    ["device plugin", async () => {
      const k8s = await import("@kubernetes/client-node");
      const sets = (await config.makeApiClient(k8s.AppsV1Api).listDaemonSetForAllNamespaces()).items.filter((d) => /nvidia-device-plugin|gpu-operator/.test(d.metadata?.name ?? ""));
      if (sets.length === 0) return { ok: false, detail: "no NVIDIA device plugin DaemonSet", fix: "kubectl apply the NVIDIA k8s-device-plugin (or the GPU Operator); without it no pod gets a GPU" };
      const ready = sets.every((d) => (d.status?.numberReady ?? 0) >= (d.status?.desiredNumberScheduled ?? 0));
      return { ok: ready, detail: sets.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}: ${d.status?.numberReady ?? 0}/${d.status?.desiredNumberScheduled ?? 0} ready`).join(", "), fix: ready ? undefined : "kubectl logs the device plugin's pods: a driver that does not match the toolkit is the usual cause" };
    }],
    ["runtime classes", async () => {
      const k8s = await import("@kubernetes/client-node");
      const names = (await config.makeApiClient(k8s.NodeV1Api).listRuntimeClass()).items.map((r) => `${r.metadata?.name} (${r.handler})`);
      const gvisor = names.some((n) => n.startsWith("gvisor "));
      return { ok: true, detail: names.length ? names.join(", ") : "none", fix: gvisor ? undefined : "for backend: gvisor cards, install runsc on the nodes and apply the gvisor overlay (its RuntimeClass)" };
    }],
    ["network policy", async () => {
      const k8s = await import("@kubernetes/client-node");
      const policies = (await config.makeApiClient(k8s.NetworkingV1Api).listNamespacedNetworkPolicy({ namespace })).items.map((p) => p.metadata?.name);
      const cni = (await config.makeApiClient(k8s.AppsV1Api).listNamespacedDaemonSet({ namespace: "kube-system" })).items.map((d) => d.metadata?.name ?? "");
      const nodes = (await core.listNode()).items.map((n) => n.status?.nodeInfo?.kubeletVersion ?? "");
      const enforcer = cni.find((n) => ENFORCING.test(n)) ?? nodes.find((v) => ENFORCING.test(v));
      if (!policies.includes("default-deny")) return { ok: false, detail: `no default-deny NetworkPolicy in ${namespace}`, fix: "apply paddock kube render's tree: agents would reach anything in the cluster" };
      if (!enforcer) return { ok: false, detail: `${policies.join(", ")} in ${namespace}, and no CNI known to enforce them`, fix: "use a CNI that enforces NetworkPolicy (Calico, Cilium, Antrea; K3s enforces with its default flannel): without one the policies are ignored" };
      return { ok: true, detail: `${policies.join(", ")} in ${namespace}; enforced by ${enforcer}` };
    }],
    ["pod security", async () => {
      const labels = (await core.readNamespace({ name: namespace })).metadata?.labels ?? {};
      const level = labels["pod-security.kubernetes.io/enforce"];
      return level === "restricted" ? { ok: true, detail: `${namespace} enforces restricted` } : { ok: false, detail: `${namespace} enforces ${level ?? "nothing"}`, fix: `kubectl label namespace ${namespace} pod-security.kubernetes.io/enforce=restricted (the rendered tree does)` };
    }],
    ["storage class", async () => {
      const k8s = await import("@kubernetes/client-node");
      const classes = (await config.makeApiClient(k8s.StorageV1Api).listStorageClass()).items;
      const fallback = classes.find((c) => c.metadata?.annotations?.["storageclass.kubernetes.io/is-default-class"] === "true");
      if (!fallback) return { ok: false, detail: classes.length ? `no default among ${classes.map((c) => c.metadata?.name).join(", ")}` : "no StorageClass", fix: "the model volume and PostgreSQL claim storage: mark one class default (K3s ships local-path), or bind PersistentVolumes by hand" };
      return { ok: true, detail: `${fallback.metadata?.name} (default, ${fallback.provisioner})` };
    }],
    ["agent-sandbox", async () => {
      const installed = await hasAgentSandbox(clients, namespace);
      if (!installed) return { ok: true, detail: "not installed: agents are plain pods", fix: "for Sandboxes and warm pools, install kubernetes-sigs/agent-sandbox (its CRDs and controller)" };
      return (await hasWarmPools(clients, namespace))
        ? { ok: true, detail: `${AGENT_SANDBOX.group}/${AGENT_SANDBOX.version} served: agents are Sandboxes, and cards with warm: N get warm pools` }
        : { ok: true, detail: `${AGENT_SANDBOX.group}/${AGENT_SANDBOX.version} served: agents are Sandboxes; its extensions are not, so cards with warm: N start cold`, fix: "install agent-sandbox's extensions (their CRDs; its controller with --extensions)" };
    }],
    ["vLLM", async () => {
      const k8s = await import("@kubernetes/client-node");
      const deployment = await config.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: "vllm", namespace: NAMESPACES.models }).catch(() => undefined);
      if (!deployment) return { ok: false, detail: `no Deployment vllm in ${NAMESPACES.models}`, fix: "apply paddock kube render's tree" };
      const ready = deployment.status?.readyReplicas ?? 0;
      return ready > 0 ? { ok: true, detail: `${ready}/${deployment.spec?.replicas ?? 1} ready` } : { ok: false, detail: "not ready", fix: `kubectl -n ${NAMESPACES.models} describe pod -l app.kubernetes.io/name=vllm: a pending pod lacks a GPU node or its volume; a crashing one logs CUDA out-of-memory (lower --gpu-vram in kube render) or a failed download` };
    }],
  ];
}
