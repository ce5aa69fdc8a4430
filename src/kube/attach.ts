import type { V1Status } from "@kubernetes/client-node";
import { apiMessage, KubeError, type KubeClients } from "./client.js";
import { exitCodeOf } from "./exec.js";

/** Where a cluster runs an agent: its pod. */
export interface PodPlace {
  namespace: string;
  name: string;
}

/**
 * A command in an agent's container, on this terminal (pods/exec, as `kubectl exec -it`): raw mode and the window's
 * size on a TTY, plain pipes otherwise. Resolves to the command's exit status.
 */
export async function execInPod(clients: KubeClients, pod: PodPlace, command: string[]): Promise<number> {
  const k8s = await import("@kubernetes/client-node");
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  let status: V1Status | undefined;
  let socket: Awaited<ReturnType<InstanceType<typeof k8s.Exec>["exec"]>>;
  try {
    socket = await new k8s.Exec(clients.config).exec(pod.namespace, pod.name, "agent", command, process.stdout, tty ? null : process.stderr, process.stdin, tty, (s) => (status = s));
  } catch (err) {
    throw new KubeError("attach_refused", `the cluster refused to run ${command[0]} in pod ${pod.name}: ${apiMessage(err)}`, pod.name, "your kubeconfig's user needs pods/exec in the agents' namespace");
  }
  if (tty) process.stdin.setRawMode(true);
  try {
    await new Promise<void>((resolve) => socket.on("close", () => resolve()));
  } finally {
    if (tty) process.stdin.setRawMode(false);
    process.stdin.pause();
  }
  return exitStatusOf(status);
}

/** The exit status in the API's final word on an exec; a failure with no code is the API's own (the command could not run). */
function exitStatusOf(status: V1Status | undefined): number {
  if (!status) return 1;
  const code = exitCodeOf(status);
  if (code !== undefined) return code;
  throw new KubeError("attach_failed", status.message ?? "the command could not run in the pod", "command");
}
