import type { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { PaddockError } from "../errors/index.js";

export class KubeError extends PaddockError {}

/** agent-sandbox's API (kubernetes-sigs/agent-sandbox v1.0: the Sandbox kind is served as v1beta1). */
export const AGENT_SANDBOX = { group: "agents.x-k8s.io", version: "v1beta1", plural: "sandboxes" } as const;
/** agent-sandbox's extensions (templates, warm pools, claims), served as v1beta1 too. */
export const AGENT_SANDBOX_EXTENSIONS = { group: "extensions.agents.x-k8s.io", version: "v1beta1" } as const;

export interface KubeClients {
  config: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  /** The API server, for messages. */
  server: string;
}

/**
 * The clients for a kubeconfig context (the current one by default; $KUBECONFIG, ~/.kube/config, or the pod's own
 * ServiceAccount in a cluster). The library is loaded here, only when paddock talks to a cluster.
 */
export async function kubeClients(context?: string): Promise<KubeClients> {
  const k8s = await import("@kubernetes/client-node");
  const config = new k8s.KubeConfig();
  try {
    config.loadFromDefault();
  } catch (err) {
    throw new KubeError("kube_config_unreadable", `the kubeconfig cannot be read: ${(err as Error).message}`, process.env.KUBECONFIG ? "KUBECONFIG" : "~/.kube/config", "kubectl config view shows what kubectl reads; KUBECONFIG names another file");
  }
  if (context) {
    if (!config.getContexts().some((c) => c.name === context)) {
      throw new KubeError("kube_context_unknown", `no context '${context}' in the kubeconfig`, "--context", `kubectl config get-contexts lists them (${config.getContexts().map((c) => c.name).join(", ") || "none"})`);
    }
    config.setCurrentContext(context);
  }
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new KubeError("kube_config_missing", "no cluster to talk to: no kubeconfig, and not in a pod", "--context", "set KUBECONFIG, or run inside the cluster with a ServiceAccount");
  return { config, core: config.makeApiClient(k8s.CoreV1Api), custom: config.makeApiClient(k8s.CustomObjectsApi), server };
}

/** The HTTP status of a failed API call (client-node's ApiException), or undefined for another error. */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/** What the API server said, as a message a user can act on. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed = typeof body === "string" ? (JSON.parse(body) as { message?: string }) : (body as { message?: string } | undefined);
    if (parsed?.message) return parsed.message;
  } catch {
    // not JSON
  }
  return (err as Error).message;
}

/**
 * Whether agent-sandbox's Sandbox kind is served by this cluster (its CRDs are installed). Asked in the agents'
 * namespace: the controller's Roles reach no other, and a forbidden list says nothing of what is installed.
 */
export function hasAgentSandbox(clients: KubeClients, namespace: string): Promise<boolean> {
  return served(clients, AGENT_SANDBOX, namespace);
}

/** Whether agent-sandbox's warm pools are served too (its extensions' CRDs are installed). */
export function hasWarmPools(clients: KubeClients, namespace: string): Promise<boolean> {
  return served(clients, { ...AGENT_SANDBOX_EXTENSIONS, plural: "sandboxwarmpools" }, namespace);
}

async function served(clients: KubeClients, kind: { group: string; version: string; plural: string }, namespace: string): Promise<boolean> {
  try {
    await clients.custom.listNamespacedCustomObject({ ...kind, namespace, limit: 1 });
    return true;
  } catch (err) {
    if (apiStatus(err) === 404) return false;
    throw new KubeError("kube_unreachable", `the Kubernetes API at ${clients.server}: ${apiMessage(err)}`, "--context", "paddock doctor --kube checks the cluster");
  }
}
