import { MODELS } from "./models.js";
import { NAMESPACES, PORTS } from "./names.js";
import { sizeVllm } from "./size.js";
import { systemManifests, type SystemOptions } from "./system.js";

/**
 * Where a cluster runs: one K3s box (the NVIDIA runtime class on it, the gateway on a NodePort for editors), several
 * nodes (the GPU ones labelled by NVIDIA's feature discovery), or either with every agent under gVisor.
 */
export const OVERLAYS = ["single-node", "multi-node", "gvisor"] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** vLLM's image, pinned: a tag that has every tool-call parser the model table names. */
export const VLLM_IMAGE = "vllm/vllm-openai:v0.11.0";
/** Where editors on developers' machines reach the gateway on a single node. */
export const GATEWAY_NODE_PORT = 30400;

type Manifest = Record<string, unknown>;

/**
 * The kustomize tree `paddock kube render` writes, file by file (objects, YAML-serialised by the caller): the models
 * namespace (vLLM sized for the GPU, its model volume filled from Hugging Face by an init container, its Service),
 * paddock-system (gateway, egress proxy, controller, PostgreSQL) and the agents namespace's lockdown (Pod Security
 * `restricted`, default-deny NetworkPolicy with the only exits paddock's proxy, gateway and DNS, a ServiceAccount
 * without a token); an overlay per kind of cluster. The secrets are not among them: see `systemSecrets`.
 */
export function renderTree(options: { model: string; gpuVramGiB: number } & Omit<SystemOptions, "model">): Map<string, Manifest[]> {
  const sizing = sizeVllm(options.model, options.gpuVramGiB);
  const facts = MODELS[options.model]!;
  const files = new Map<string, Manifest[]>();
  files.set("base/namespaces.yaml", [
    namespace(NAMESPACES.models, "baseline"),
    namespace(NAMESPACES.system, "baseline"),
    namespace(NAMESPACES.agents, "restricted"),
  ]);
  files.set("base/agents.yaml", agentsLockdown());
  files.set("base/vllm.yaml", vllm(options.model, facts.repo, facts.weightsGiB, sizing));
  const system = systemManifests({ ...options, model: options.model });
  for (const [file, manifests] of system) files.set(`base/${file}`, manifests);
  files.set("base/kustomization.yaml", [
    {
      ...kustomization(["namespaces.yaml", "agents.yaml", "vllm.yaml", ...system.keys()]),
      // The passwords and keys: generated once into secrets.env beside this file, never written into a manifest.
      secretGenerator: [{ name: "paddock-secrets", namespace: NAMESPACES.system, envs: ["secrets.env"] }],
    },
  ]);
  const deployment = { target: { kind: "Deployment", name: "vllm", namespace: NAMESPACES.models } };
  files.set("overlays/single-node/kustomization.yaml", [
    // K3s with the NVIDIA container toolkit registers the `nvidia` runtime class: the GPU is reached through it.
    kustomization(["../../base"], [
      { ...deployment, patch: json([{ op: "add", path: "/spec/template/spec/runtimeClassName", value: "nvidia" }]) },
      {
        target: { kind: "Service", name: "paddock-gateway", namespace: NAMESPACES.system },
        patch: json([{ op: "add", path: "/spec/type", value: "NodePort" }, { op: "add", path: "/spec/ports/0/nodePort", value: GATEWAY_NODE_PORT }]),
      },
    ]),
  ]);
  files.set("overlays/multi-node/kustomization.yaml", [
    // NVIDIA's GPU feature discovery labels GPU nodes; GPU nodes are commonly tainted for GPU work only.
    kustomization(["../../base"], [
      {
        ...deployment,
        patch: json([
          { op: "add", path: "/spec/template/spec/nodeSelector", value: { "nvidia.com/gpu.present": "true" } },
          { op: "add", path: "/spec/template/spec/tolerations", value: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }] },
        ]),
      },
    ]),
  ]);
  files.set("overlays/gvisor/runtimeclass.yaml", [{ apiVersion: "node.k8s.io/v1", kind: "RuntimeClass", metadata: { name: "gvisor" }, handler: "runsc" }]);
  files.set("overlays/gvisor/kustomization.yaml", [
    // Every agent pod under gVisor, whatever its card says: the controller is told so.
    kustomization(["../single-node", "runtimeclass.yaml"], [
      { target: { kind: "Deployment", name: "paddock-controller", namespace: NAMESPACES.system }, patch: json([{ op: "add", path: "/spec/template/spec/containers/0/args/-", value: "--runtime-class=gvisor" }]) },
    ]),
  ]);
  return files;
}

function json(ops: unknown[]): string {
  return JSON.stringify(ops);
}

function kustomization(resources: string[], patches: unknown[] = []): Manifest {
  return { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", resources, ...(patches.length ? { patches } : {}), labels: [{ pairs: { "app.kubernetes.io/part-of": "paddock" } }] };
}

/** A namespace with Pod Security Admission enforcing (and auditing, and warning about) a level. */
function namespace(name: string, level: "baseline" | "restricted"): Manifest {
  const labels = Object.fromEntries(["enforce", "audit", "warn"].flatMap((mode) => [[`pod-security.kubernetes.io/${mode}`, level], [`pod-security.kubernetes.io/${mode}-version`, "latest"]]));
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

/** Agents reach nothing but paddock's egress proxy and gateway (in paddock-system) and the cluster's DNS; nothing reaches them. */
function agentsLockdown(): Manifest[] {
  const inSystem = (app: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": NAMESPACES.system } }, podSelector: { matchLabels: { "app.kubernetes.io/name": app } } });
  return [
    { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "default-deny", namespace: NAMESPACES.agents }, spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "agent-exits", namespace: NAMESPACES.agents },
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          { to: [inSystem("paddock-egress")], ports: [{ protocol: "TCP", port: PORTS.egress }] },
          { to: [inSystem("paddock-gateway")], ports: [{ protocol: "TCP", port: PORTS.gateway }] },
          {
            to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
            ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
          },
        ],
      },
    },
    // Agents never talk to the Kubernetes API: their ServiceAccount has no token.
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "paddock-agent", namespace: NAMESPACES.agents }, automountServiceAccountToken: false },
  ];
}

function vllm(model: string, repo: string, weightsGiB: number, sizing: ReturnType<typeof sizeVllm>): Manifest[] {
  const labels = { "app.kubernetes.io/name": "vllm", "paddock.dev/model": model };
  const probe = (periodSeconds: number, failureThreshold: number) => ({ httpGet: { path: "/health", port: "http" }, periodSeconds, failureThreshold });
  // Room for the weights and Hugging Face's download cache beside them.
  const storageGiB = Math.ceil(weightsGiB * 2 + 5);
  return [
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "models", namespace: NAMESPACES.models },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: `${storageGiB}Gi` } } },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "vllm", namespace: NAMESPACES.models, labels },
      spec: {
        replicas: 1,
        // One GPU, one pod: a new pod starts only once the old one has let the GPU go.
        strategy: { type: "Recreate" },
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            initContainers: [
              {
                name: "fetch-model",
                image: VLLM_IMAGE,
                // Once: later starts find the weights on the volume.
                command: ["python3", "-c", `import os, sys; from huggingface_hub import snapshot_download; d = sys.argv[2]; os.path.exists(os.path.join(d, "config.json")) or snapshot_download(repo_id=sys.argv[1], local_dir=d)`, repo, `/models/${model}`],
                volumeMounts: [{ name: "models", mountPath: "/models" }],
                securityContext: { allowPrivilegeEscalation: false },
              },
            ],
            containers: [
              {
                name: "vllm",
                image: VLLM_IMAGE,
                args: sizing.args,
                env: [{ name: "PYTORCH_CUDA_ALLOC_CONF", value: "max_split_size_mb:512,expandable_segments:True" }],
                ports: [{ name: "http", containerPort: 8000 }],
                resources: { limits: { "nvidia.com/gpu": "1" } },
                volumeMounts: [
                  { name: "models", mountPath: "/models", readOnly: true },
                  { name: "shm", mountPath: "/dev/shm" },
                ],
                // Loading a model takes minutes: the startup probe allows 15 of them before liveness applies.
                startupProbe: probe(10, 90),
                readinessProbe: probe(10, 3),
                livenessProbe: probe(30, 3),
                securityContext: { allowPrivilegeEscalation: false },
              },
            ],
            volumes: [
              { name: "models", persistentVolumeClaim: { claimName: "models" } },
              { name: "shm", emptyDir: { medium: "Memory", sizeLimit: `${sizing.shm_gib}Gi` } },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "vllm", namespace: NAMESPACES.models, labels },
      spec: { selector: labels, ports: [{ name: "http", port: 8000, targetPort: "http" }] },
    },
  ];
}
