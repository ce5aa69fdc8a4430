import { createHash, timingSafeEqual } from "node:crypto";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeClients } from "./client.js";
import { ANNOTATIONS, LABELS } from "./pod.js";
import { watchPaddockPods } from "./watch.js";

interface PodIdentity {
  agentId: string;
  /** Only an agent with allowed_hosts has an egress token. */
  tokenSha256?: Buffer;
  addresses: string[];
  allowedHosts: string[];
}

/** What the proxy is told as agents' pods come and go. */
export interface AgentRegistry {
  add(agentId: string, allowedHosts: string[]): Promise<void>;
  setAllowlist(agentId: string, allowedHosts: string[]): void;
  remove(agentId: string): Promise<void>;
}

/**
 * Who an agent is, for paddock's proxy on a cluster: a caller is agent X only if it sends X's token (whose SHA-256
 * the controller wrote on X's pod, where the agent cannot change it: it has no API access) and calls from that pod's
 * own address, as the API server reports it. A token copied into another pod fails the address; a forged address
 * (another pod's) fails the token. The allowlist is the pod's too. The gateway asks only the address (`fromOwnPod`):
 * its keys are the tokens there.
 */
export async function watchAgentIdentities(clients: KubeClients, namespace: string, registry?: AgentRegistry, log?: (fields: Record<string, unknown>) => void) {
  const pods = new Map<string, PodIdentity>();
  const podsOf = (agentId: string) => [...pods.values()].filter((p) => p.agentId === agentId);
  const withToken = (agentId: string) => podsOf(agentId).filter((p) => p.tokenSha256);
  const onPod = (name: string, pod: V1Pod | undefined) => {
    const before = pods.get(name);
    const now = pod ? identityOf(pod) : undefined;
    if (now) pods.set(name, now);
    else pods.delete(name);
    if (!registry) return;
    void (async () => {
      if (now?.tokenSha256 && !before?.tokenSha256 && withToken(now.agentId).length === 1) {
        await registry.add(now.agentId, now.allowedHosts);
        log?.({ msg: "agent known by its pod", agent_id: now.agentId, pod: name, addresses: now.addresses });
      } else if (now?.tokenSha256) registry.setAllowlist(now.agentId, now.allowedHosts);
      if (before?.tokenSha256 && !now?.tokenSha256 && withToken(before.agentId).length === 0) {
        await registry.remove(before.agentId);
        log?.({ msg: "agent's pod gone", agent_id: before.agentId, pod: name });
      }
    })().catch((err: Error) => log?.({ level: "error", msg: "could not follow an agent's pod", pod: name, error: err.message }));
  };
  const watch = await watchPaddockPods(clients, namespace, onPod, log);
  return {
    authenticate(agentId: string, token: string, remoteAddress: string): boolean {
      const address = remoteAddress.replace(/^::ffff:/, "");
      const sha = createHash("sha256").update(token).digest();
      return withToken(agentId).some((p) => p.addresses.includes(address) && timingSafeEqual(p.tokenSha256!, sha));
    },
    /** Whether the caller is at the address of one of the agent's running pods. */
    fromOwnPod(agentId: string, remoteAddress: string): boolean {
      const address = remoteAddress.replace(/^::ffff:/, "");
      return podsOf(agentId).some((p) => p.addresses.includes(address));
    },
    stop: () => watch.stop(),
  };
}

/** A running pod of paddock's with an address (and an egress token, for an agent with allowed_hosts); anything else is no identity. */
function identityOf(pod: V1Pod): PodIdentity | undefined {
  const agentId = pod.metadata?.labels?.[LABELS.agent];
  const sha = pod.metadata?.annotations?.[ANNOTATIONS.egressToken];
  const addresses = (pod.status?.podIPs ?? []).map((ip) => ip.ip).filter((ip): ip is string => !!ip);
  if (pod.status?.podIP && !addresses.includes(pod.status.podIP)) addresses.push(pod.status.podIP);
  if (!agentId || addresses.length === 0 || pod.metadata?.deletionTimestamp || ["Succeeded", "Failed"].includes(pod.status?.phase ?? "")) return undefined;
  let allowedHosts: string[] = [];
  try {
    const parsed = JSON.parse(pod.metadata?.annotations?.[ANNOTATIONS.allowedHosts] ?? "[]") as unknown;
    if (Array.isArray(parsed)) allowedHosts = parsed.filter((h): h is string => typeof h === "string");
  } catch {
    // a pod without a readable allowlist reaches nothing
  }
  return { agentId, tokenSha256: sha && /^[0-9a-f]{64}$/.test(sha) ? Buffer.from(sha, "hex") : undefined, addresses, allowedHosts };
}
