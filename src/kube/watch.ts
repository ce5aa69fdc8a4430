import type { V1Pod } from "@kubernetes/client-node";
import { apiMessage, type KubeClients } from "./client.js";
import { LABELS } from "./pod.js";

export interface PodWatch {
  get(name: string): V1Pod | undefined;
  list(): readonly V1Pod[];
  stop(): Promise<void>;
}

/**
 * One informer over the pods paddock made in a namespace: each state of each pod (undefined: deleted) goes to
 * `onPod`. A broken watch is started again; the informer relists, so nothing is missed. Resolves once listed.
 */
export async function watchPaddockPods(clients: KubeClients, namespace: string, onPod: (name: string, pod: V1Pod | undefined) => void, log?: (fields: Record<string, unknown>) => void): Promise<PodWatch> {
  const k8s = await import("@kubernetes/client-node");
  const labelSelector = `${LABELS.managedBy}=paddock`;
  const informer = k8s.makeInformer<V1Pod>(clients.config, `/api/v1/namespaces/${namespace}/pods`, () => clients.core.listNamespacedPod({ namespace, labelSelector }), labelSelector);
  informer.on("add", (pod) => onPod(pod.metadata!.name!, pod));
  informer.on("update", (pod) => onPod(pod.metadata!.name!, pod));
  informer.on("delete", (pod) => onPod(pod.metadata!.name!, undefined));
  let stopped = false;
  informer.on("error", (err) => {
    if (stopped) return;
    log?.({ level: "warn", msg: "the pod watch broke; watching again", namespace, error: apiMessage(err) });
    setTimeout(() => void (stopped ? undefined : informer.start().catch(() => undefined)), 1_000).unref();
  });
  await informer.start();
  return {
    get: (name) => informer.get(name, namespace),
    list: () => informer.list(namespace),
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
