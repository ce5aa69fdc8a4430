import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import { apiMessage, type KubeClients } from "./client.js";
import { LABELS } from "./pod.js";

export interface ObjectWatch<T> {
  get(name: string): T | undefined;
  list(): readonly T[];
  stop(): Promise<void>;
}

export type PodWatch = ObjectWatch<V1Pod>;

/**
 * One informer over the objects paddock made in a namespace (those labelled managed-by paddock) at an API path: each
 * state of each (undefined: deleted) goes to `onObject`. A broken watch is started again; the informer relists, so
 * nothing is missed. Resolves once listed.
 */
export async function watchPaddockObjects<T extends KubernetesObject>(
  clients: KubeClients,
  namespace: string,
  what: { path: string; list: (labelSelector: string) => Promise<unknown> },
  onObject: (name: string, object: T | undefined) => void,
  log?: (fields: Record<string, unknown>) => void,
): Promise<ObjectWatch<T>> {
  const k8s = await import("@kubernetes/client-node");
  const labelSelector = `${LABELS.managedBy}=paddock`;
  const informer = k8s.makeInformer<T>(clients.config, what.path, () => what.list(labelSelector) as never, labelSelector);
  informer.on("add", (object) => onObject(object.metadata!.name!, object));
  informer.on("update", (object) => onObject(object.metadata!.name!, object));
  informer.on("delete", (object) => onObject(object.metadata!.name!, undefined));
  let stopped = false;
  informer.on("error", (err) => {
    if (stopped) return;
    log?.({ level: "warn", msg: "a watch broke; watching again", path: what.path, error: apiMessage(err) });
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

/** paddock's pods in a namespace, one informer for all. */
export function watchPaddockPods(clients: KubeClients, namespace: string, onPod: (name: string, pod: V1Pod | undefined) => void, log?: (fields: Record<string, unknown>) => void): Promise<PodWatch> {
  return watchPaddockObjects<V1Pod>(clients, namespace, { path: `/api/v1/namespaces/${namespace}/pods`, list: (labelSelector) => clients.core.listNamespacedPod({ namespace, labelSelector }) }, onPod, log);
}
