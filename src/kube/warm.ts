import { createHash } from "node:crypto";
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import type { Card } from "../card/index.js";
import { AGENT_SANDBOX_EXTENSIONS, apiMessage, apiStatus, KubeError, type KubeClients } from "./client.js";
import { LABELS, WARM_LABELS, warmPod } from "./pod.js";
import { LAUNCH_ANNOTATION, seal, warmKeyOf } from "./seal.js";
import { watchPaddockObjects, type ObjectWatch } from "./watch.js";

const EXTENSIONS_VERSION = `${AGENT_SANDBOX_EXTENSIONS.group}/${AGENT_SANDBOX_EXTENSIONS.version}`;
const CLAIMS = { ...AGENT_SANDBOX_EXTENSIONS, plural: "sandboxclaims" } as const;
const POOLS = { ...AGENT_SANDBOX_EXTENSIONS, plural: "sandboxwarmpools" } as const;
const TEMPLATES = { ...AGENT_SANDBOX_EXTENSIONS, plural: "sandboxtemplates" } as const;
/** Set on a claim by agent-sandbox when it adopts a Sandbox; the Sandbox's pod has its name. */
const ASSIGNED_SANDBOX = "agents.x-k8s.io/sandbox-name";
/** A pod's log is asked again after 100 ms, then twice as long each time up to 2 s: a pod that never prints costs little. */
const KEY_POLL_MS = { first: 100, most: 2_000 };
const KEY_AHEAD_MS = 60_000;

interface Claim extends KubernetesObject {
  status?: { sandbox?: { name?: string } };
}

/** The Sandbox (and so the pod) agent-sandbox gave a claim: its status says so, or before that the annotation it sets on adoption. */
function sandboxOf(claim: Claim): string | undefined {
  return claim.status?.sandbox?.name || claim.metadata?.annotations?.[ASSIGNED_SANDBOX] || undefined;
}

/**
 * Warm pools of agent pods (`warm: N` in a card): a SandboxTemplate and a SandboxWarmPool per distinct pod (image,
 * limits, RuntimeClass, allowed hosts), kept full by agent-sandbox; an agent's launch claims one (SandboxClaim).
 *
 * A warm pod exists before its agent, so the agent's Secret cannot be mounted into it, and a claim that sets env is
 * cold-started by agent-sandbox. Instead the pod's waiter prints a public key, the controller reads it through the
 * API (pods/log: only the pod writes there), and puts the agent's launch sealed to that key in an annotation, which
 * the kubelet projects into the pod. Its gateway key and egress token never appear in the clear outside the pod, and
 * the exits still check the token's hash and the pod's address as for a cold pod.
 */
export class WarmPools {
  private readonly applied = new Map<string, Promise<void>>();
  private readonly retired = new Set<string>();
  private readonly waiting = new Map<string, (sandbox: string) => void>();
  /** Waiting pods' keys, read as soon as they run, so that a claim need not wait for the pod's log. */
  private readonly keys = new Map<string, Promise<string>>();
  private claims: ObjectWatch<Claim> | undefined;

  private constructor(
    private readonly clients: KubeClients,
    private readonly namespace: string,
    private readonly log?: (fields: Record<string, unknown>) => void,
  ) {}

  /** Watches paddock's claims in the namespace (one informer for all). */
  static async open(clients: KubeClients, namespace: string, log?: (fields: Record<string, unknown>) => void): Promise<WarmPools> {
    const pools = new WarmPools(clients, namespace, log);
    pools.claims = await watchPaddockObjects<Claim>(
      clients,
      namespace,
      { path: `/apis/${CLAIMS.group}/${CLAIMS.version}/namespaces/${namespace}/${CLAIMS.plural}`, list: (labelSelector) => clients.custom.listNamespacedCustomObject({ ...CLAIMS, namespace, labelSelector }) },
      (name, claim) => {
        const sandbox = claim && sandboxOf(claim);
        if (sandbox) pools.waiting.get(name)?.(sandbox);
      },
      log,
    );
    return pools;
  }

  /** The pool for this card's pod (`cardId`: the card's own agent_id), made or resized to `card.warm` once per daemon; resolves to its name. */
  async ensure(card: Card, cardId: string, image: string, runtimeClass: string | undefined): Promise<string> {
    const template = warmPod(card, { pool: "", image, runtimeClass });
    // Named after the card and its pod: a card's pool is its own (two cards with the same pod keep a pool each, of their own size).
    const name = `paddock-warm-${createHash("sha256").update(JSON.stringify({ card: cardId, pod: template })).digest("hex").slice(0, 12)}`;
    const pod = warmPod(card, { pool: name, image, runtimeClass });
    const key = `${name}/${card.warm}`;
    this.retired.delete(cardId);
    if (!this.applied.has(key)) {
      const metadata = { name, namespace: this.namespace, labels: { [LABELS.managedBy]: "paddock", [WARM_LABELS.card]: cardId } };
      const apply = async () => {
        // The template before the pool that names it; agent-sandbox's own NetworkPolicy is off: the namespace's applies.
        await this.apply({ apiVersion: EXTENSIONS_VERSION, kind: "SandboxTemplate", metadata, spec: { podTemplate: pod, networkPolicyManagement: "Unmanaged" } });
        await this.apply({ apiVersion: EXTENSIONS_VERSION, kind: "SandboxWarmPool", metadata, spec: { replicas: card.warm, sandboxTemplateRef: { name } } });
        const replaced = await this.removeOlderPools(cardId, name);
        this.log?.({ msg: "warm pool ready to fill", pool: name, replicas: card.warm, card: cardId, ...(replaced.length ? { replaced } : {}) });
      };
      this.applied.set(key, apply().catch((err: unknown) => {
        this.applied.delete(key);
        throw err instanceof KubeError ? err : new KubeError("kube_create_refused", `the cluster refused the warm pool ${name}: ${apiMessage(err)}`, "warm", "paddock doctor --kube checks that agent-sandbox's extensions are installed");
      }));
    }
    await this.applied.get(key);
    return name;
  }

  /** A card that asks for no warm pods any more: its pools go (once per daemon), with their waiting pods. */
  retire(cardId: string): void {
    if (this.retired.has(cardId)) return;
    this.retired.add(cardId);
    this.removeOlderPools(cardId, "").then(
      (removed) => removed.length && this.log?.({ msg: "warm pools removed: the card asks for none", card: cardId, removed }),
      (err: unknown) => {
        this.retired.delete(cardId);
        this.log?.({ level: "warn", msg: "a warm pool the card no longer asks for could not be removed", card: cardId, error: apiMessage(err) });
      },
    );
  }

  /**
   * The pools an earlier version of the card made (another image, limits, allowlist): deleted with their templates, so
   * that their waiting pods go; pods already claimed belong to their claims and stay.
   */
  private async removeOlderPools(cardId: string, current: string): Promise<string[]> {
    const labelSelector = `${LABELS.managedBy}=paddock,${WARM_LABELS.card}=${cardId}`;
    const older = ((await this.clients.custom.listNamespacedCustomObject({ ...POOLS, namespace: this.namespace, labelSelector })) as { items: KubernetesObject[] }).items.map((p) => p.metadata!.name!).filter((n) => n !== current);
    // Another card with the same pod would make such a pool again at its next spawn.
    for (const key of [...this.applied.keys()]) if (older.some((name) => key.startsWith(`${name}/`))) this.applied.delete(key);
    await Promise.all(
      older.flatMap((name) => [POOLS, TEMPLATES].map((kind) => this.clients.custom.deleteNamespacedCustomObject({ ...kind, namespace: this.namespace, name, propagationPolicy: "Background" }).catch((err: unknown) => (apiStatus(err) === 404 ? undefined : Promise.reject(err))))),
    );
    return older;
  }

  private async apply(object: KubernetesObject & Record<string, unknown>): Promise<void> {
    const k8s = await import("@kubernetes/client-node");
    await k8s.KubernetesObjectApi.makeApiClient(this.clients.config).patch(object, undefined, undefined, "paddock", true, k8s.PatchStrategy.ServerSideApply);
  }

  /** Claims a pod of `pool` for agent `id`: agent-sandbox hands the claim a waiting pod, or makes one. */
  async claim(name: string, pool: string, id: string, ttlSeconds: number): Promise<void> {
    const shutdownTime = ttlSeconds > 0 ? new Date(Date.now() + ttlSeconds * 1000).toISOString().replace(/\.\d+Z$/, "Z") : undefined;
    const body = {
      apiVersion: EXTENSIONS_VERSION,
      kind: "SandboxClaim",
      metadata: { name, namespace: this.namespace, labels: { [LABELS.agent]: id, [LABELS.managedBy]: "paddock" } },
      spec: { warmPoolRef: { name: pool }, ...(shutdownTime ? { lifecycle: { shutdownTime, shutdownPolicy: "Delete" } } : {}) },
    };
    try {
      await this.clients.custom.createNamespacedCustomObject({ ...CLAIMS, namespace: this.namespace, body });
    } catch (err) {
      throw new KubeError("kube_create_refused", `the cluster refused the SandboxClaim for ${name}: ${apiMessage(err)}`, name);
    }
  }

  /** The pod agent-sandbox gave a claim (a warm one, or a new one when the pool was empty). */
  adoptedPod(claim: string, timeoutMs: number): Promise<string> {
    const known = this.claims?.get(claim);
    const now = known && sandboxOf(known);
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(claim);
        reject(new KubeError("claim_not_bound", `claim ${claim} got no Sandbox within ${timeoutMs / 1000} s`, claim, "kubectl describe sandboxclaim shows why; agent-sandbox's controller must run with --extensions"));
      }, timeoutMs);
      this.waiting.set(claim, (sandbox) => {
        clearTimeout(timer);
        this.waiting.delete(claim);
        resolve(sandbox);
      });
    });
  }

  /** Each state of paddock's pods: a pool's pod that runs and waits has its key read ahead of its claim. */
  seen(name: string, pod: V1Pod | undefined): void {
    const labels = pod?.metadata?.labels ?? {};
    if (!pod || labels[LABELS.agent]) {
      this.keys.delete(name);
      return;
    }
    if (labels[WARM_LABELS.pool] && pod.status?.phase === "Running" && !this.keys.has(name)) {
      const key = this.readKey(name, Date.now() + KEY_AHEAD_MS);
      key.catch((err: unknown) => {
        this.keys.delete(name);
        this.log?.({ level: "warn", msg: "a warm pod's key could not be read ahead; its claim will read it", pod: name, error: (err as Error).message });
      });
      this.keys.set(name, key);
    }
  }

  /** The public key a pod's waiter printed: read ahead, or now. */
  keyOf(pod: string, deadline: number): Promise<string> {
    return (this.keys.get(pod) ?? this.readKey(pod, deadline)).catch(() => this.readKey(pod, deadline));
  }

  /** The key a pod's waiter printed, read through the API once its container has started. */
  private async readKey(pod: string, deadline: number): Promise<string> {
    for (let wait = KEY_POLL_MS.first; ; wait = Math.min(wait * 2, KEY_POLL_MS.most)) {
      try {
        const output = await this.clients.core.readNamespacedPodLog({ name: pod, namespace: this.namespace, container: "agent", limitBytes: 1024 });
        const key = warmKeyOf(String(output));
        if (key) return key;
      } catch (err) {
        // 400 while the container is being made; anything else is worth saying once the deadline passes.
        if (Date.now() > deadline) throw new KubeError("warm_key_unreadable", `pod ${pod}'s key could not be read: ${apiMessage(err)}`, pod);
      }
      if (Date.now() > deadline) throw new KubeError("warm_key_missing", `pod ${pod} printed no key: is it running paddock's agent image (its waiter, /opt/paddock/lib/kube/warm-start.js)?`, pod, "build the agent images from images/agent.Containerfile");
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Hands agent `id` its pod: its labels and token hash for the exits, and its launch sealed to the pod's key. */
  async deliver(pod: string, key: string, id: string, annotations: Record<string, string>, launch: unknown): Promise<void> {
    const k8s = await import("@kubernetes/client-node");
    const body = { metadata: { labels: { [LABELS.agent]: id }, annotations: { ...annotations, [LAUNCH_ANNOTATION]: seal(key, launch) } } };
    try {
      await this.clients.core.patchNamespacedPod({ name: pod, namespace: this.namespace, body }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    } catch (err) {
      throw new KubeError("kube_create_refused", `the cluster refused the launch for pod ${pod}: ${apiMessage(err)}`, pod);
    }
  }

  /** Whether a claimed pod was handed its launch (a daemon killed before that leaves one that waits for ever). */
  static launched(pod: { metadata?: { annotations?: Record<string, string> } } | undefined): boolean {
    return Boolean(pod?.metadata?.annotations?.[LAUNCH_ANNOTATION]);
  }

  /** The claim of an agent (by its object's name), and the pod it holds, if they are still there. */
  async claimed(name: string): Promise<string | undefined> {
    try {
      return sandboxOf((await this.clients.custom.getNamespacedCustomObject({ ...CLAIMS, namespace: this.namespace, name })) as Claim);
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  }

  /** paddock's claims in the namespace. */
  names(): string[] {
    return (this.claims?.list() ?? []).map((c) => c.metadata!.name!);
  }

  deleteClaim(name: string): Promise<unknown> {
    return this.clients.custom.deleteNamespacedCustomObject({ ...CLAIMS, namespace: this.namespace, name, propagationPolicy: "Background" });
  }

  async close(): Promise<void> {
    await this.claims?.stop();
  }
}
