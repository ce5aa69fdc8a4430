import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import type { V1Pod } from "@kubernetes/client-node";
import type { Card } from "../card/index.js";
import { AGENT_SANDBOX, apiMessage, apiStatus, hasAgentSandbox, hasWarmPools, KubeError, type KubeClients } from "./client.js";
import { agentPod, ANNOTATIONS, defaultAgentImages, LABELS, podLaunch } from "./pod.js";
import type { TaskPlace } from "../executor/index.js";
import type { PodPlace } from "./attach.js";
import { KubeSandbox, type PodObject } from "./sandbox.js";
import { podTaskPlace } from "./task.js";
import { WarmPools } from "./warm.js";
import { watchPaddockPods, type PodWatch } from "./watch.js";

/** The longest agent id on a cluster: a label value has 63 characters at most, and a pod's name adds 7 to the id. */
const MAX_AGENT_ID = 56;

export interface KubeBackendOptions {
  namespace: string;
  /** paddock's version: the agent images' default tag. */
  version: string;
  /** Per kind of agent, its image instead of the default. */
  images?: Partial<Record<Card["kind"], string>>;
  /** Every agent under this RuntimeClass. */
  runtimeClass?: string;
  /** `pod`: plain Pods; `sandbox`: agent-sandbox's Sandbox; `auto`: Sandbox where its CRDs are installed. */
  objects?: "auto" | "pod" | "sandbox";
  startTimeoutMs?: number;
  log?: (fields: Record<string, unknown>) => void;
}

/** What an agent's launch brings to its pod, and where its output goes. */
export interface KubeLaunch {
  command: string[];
  env: Record<string, string>;
  homeFiles: Record<string, string>;
  gatewayKey?: string;
  logFile: string;
  /** The card's own agent_id, which its warm pool is labelled with (an agent spawned under another name has its own). */
  cardId: string;
}

/**
 * Agents as pods in one namespace of a cluster: each launch makes a Pod (or an agent-sandbox Sandbox) and a Secret
 * that only that pod mounts (its gateway key and egress token), owned by it so they go together. One informer watches
 * every pod paddock made there, so a thousand agents cost one watch.
 */
export class KubeBackend {
  private readonly listeners = new Map<string, (pod: V1Pod | undefined) => void>();
  private pods: PodWatch | undefined;
  private useSandbox = false;
  private warmPools: WarmPools | undefined;
  private readonly coldWarned = new Set<string>();
  private readonly images: Record<Card["kind"], string>;

  private constructor(
    private readonly clients: KubeClients,
    private readonly options: KubeBackendOptions,
  ) {
    this.images = { ...defaultAgentImages(options.version), ...options.images };
  }

  static async open(clients: KubeClients, options: KubeBackendOptions): Promise<KubeBackend> {
    const backend = new KubeBackend(clients, options);
    try {
      await clients.core.readNamespace({ name: options.namespace });
    } catch (err) {
      if (apiStatus(err) === 404) throw new KubeError("kube_namespace_missing", `no namespace ${options.namespace} on ${clients.server}`, "--namespace", "apply paddock kube render's tree first (it makes paddock-agents), or name another with --namespace");
      if (apiStatus(err) !== 403) throw new KubeError("kube_unreachable", `the Kubernetes API at ${clients.server}: ${apiMessage(err)}`, "--context", "paddock doctor --kube checks the cluster");
    }
    const objects = options.objects ?? "auto";
    backend.useSandbox = objects === "sandbox" || (objects === "auto" && (await hasAgentSandbox(clients, options.namespace)));
    if (objects === "sandbox" && !(await hasAgentSandbox(clients, options.namespace))) throw new KubeError("agent_sandbox_missing", `agent-sandbox's CRDs are not installed on ${clients.server}`, "--kube-objects", "install agent-sandbox (kubernetes-sigs/agent-sandbox), or use plain pods");
    // Warm pools need agent-sandbox's extensions besides its Sandbox; without them, warm cards start cold.
    if (backend.useSandbox && (await hasWarmPools(clients, options.namespace))) backend.warmPools = await WarmPools.open(clients, options.namespace, options.log);
    backend.pods = await watchPaddockPods(
      clients,
      options.namespace,
      (name, pod) => {
        backend.listeners.get(name)?.(pod);
        backend.warmPools?.seen(name, pod);
      },
      options.log,
    );
    return backend;
  }

  /** Which kind of object agents are: `Sandbox` (agent-sandbox) or `Pod`. */
  get objectKind(): "Sandbox" | "Pod" {
    return this.useSandbox ? "Sandbox" : "Pod";
  }

  /** A new sandbox for an agent: a pod named after it, not yet created. */
  sandbox(id: string, card: Card, launch: KubeLaunch): KubeSandbox {
    // The id is a label value (63 characters at most) and, with a launch's suffix, the pod's name.
    if (id.length > MAX_AGENT_ID) throw new KubeError("agent_id_too_long", `'${id}' has ${id.length} characters; on a cluster an agent id has at most ${MAX_AGENT_ID}`, "agent_id", "spawn it with a shorter --name");
    const name = `${id}-${randomBytes(3).toString("hex")}`;
    const egressToken = card.allowed_hosts.length > 0 ? randomBytes(24).toString("base64url") : undefined;
    const egressTokenSha256 = egressToken ? createHash("sha256").update(egressToken).digest("hex") : undefined;
    // An A2A worker's tasks run through exec, with the environment its pod's spec holds: it starts cold.
    const worker = (card as { paddock_worker?: boolean }).paddock_worker === true;
    if (!worker && this.warmFor(card)) return this.warmSandbox(id, name, card, launch, { egressToken, egressTokenSha256 });
    // A spawn reads the card as it is now: one that asks for no warm pods any more lets its pools go.
    if (card.warm === 0) this.warmPools?.retire(launch.cardId);
    const { pod, secret } = agentPod(card, {
      id,
      name,
      namespace: this.options.namespace,
      image: this.images[card.kind],
      launch,
      gatewayKey: launch.gatewayKey,
      egressToken,
      egressTokenSha256,
      runtimeClass: this.options.runtimeClass,
    });
    const object = this.podObject(id, name, launch.logFile, () => this.create(name, card, pod, secret));
    return new KubeSandbox(name, card.backend, object, { ttlSeconds: card.ttl_seconds, startTimeoutMs: this.startTimeoutMs });
  }

  /** Where an A2A worker's tasks run: its own pod (see podTaskPlace), with the egress token its Secret holds. */
  async taskPlace(id: string, card: Card, pod: PodPlace): Promise<TaskPlace> {
    let egressToken: string | undefined;
    if (card.allowed_hosts.length > 0) {
      try {
        const secret = await this.clients.core.readNamespacedSecret({ name: `${pod.name}-secret`, namespace: pod.namespace });
        egressToken = Buffer.from(secret.data?.["egress-token"] ?? "", "base64").toString() || undefined;
      } catch (err) {
        throw new KubeError("worker_secret_unreadable", `agent ${id}'s Secret ${pod.name}-secret could not be read: ${apiMessage(err)}`, pod.name);
      }
    }
    return podTaskPlace(this.clients, pod, card, id, egressToken);
  }

  /** Makes (or resizes) the warm pool of a card with `warm: N` now, rather than at its first spawn. */
  async warm(card: Card): Promise<string | undefined> {
    return this.warmFor(card) ? this.warmPools!.ensure(card, card.agent_id, this.images[card.kind], this.options.runtimeClass) : undefined;
  }

  /** Whether this card's agents take warm pods: it asks for them, and agent-sandbox is there to keep them. */
  private warmFor(card: Card): boolean {
    if (card.warm === 0) return false;
    if (this.warmPools) return true;
    if (!this.coldWarned.has(card.agent_id)) {
      this.coldWarned.add(card.agent_id);
      this.options.log?.({ level: "warn", msg: "warm pools need agent-sandbox's Sandboxes and its extensions (installed, with --kube-objects auto or sandbox); this card's agents start cold", agent_id: card.agent_id, warm: card.warm });
    }
    return false;
  }

  /**
   * An agent on a warm pod: a SandboxClaim on the card's pool; once agent-sandbox hands it a pod, the pod gets the
   * agent's labels and token hash, and its launch sealed to the key the pod's waiter printed (see WarmPools).
   */
  private warmSandbox(id: string, name: string, card: Card, launch: KubeLaunch, egress: { egressToken?: string; egressTokenSha256?: string }): KubeSandbox {
    const pools = this.warmPools!;
    let pod = "";
    const create = async () => {
      const deadline = Date.now() + this.startTimeoutMs;
      const started = performance.now();
      const pool = await pools.ensure(card, launch.cardId, this.images[card.kind], this.options.runtimeClass);
      await pools.claim(name, pool, id, card.ttl_seconds);
      try {
        const claimed = performance.now();
        pod = await pools.adoptedPod(name, this.startTimeoutMs);
        const adopted = performance.now();
        const key = await pools.keyOf(pod, deadline);
        const keyed = performance.now();
        const annotations: Record<string, string> = egress.egressTokenSha256 ? { [ANNOTATIONS.egressToken]: egress.egressTokenSha256 } : {};
        await pools.deliver(pod, key, id, annotations, podLaunch(card, { id, launch, gatewayKey: launch.gatewayKey, egressToken: egress.egressToken }));
        const ms = (a: number, b: number) => Math.round(b - a);
        this.options.log?.({ msg: "warm pod claimed", agent_id: id, pool, pod, claim_ms: ms(started, claimed), adoption_ms: ms(claimed, adopted), key_ms: ms(adopted, keyed), delivery_ms: ms(keyed, performance.now()) });
      } catch (err) {
        await pools.deleteClaim(name).catch(() => undefined);
        throw err;
      }
      return { extras: Promise.resolve() };
    };
    return new KubeSandbox(name, card.backend, this.claimObject(id, name, () => pod, launch.logFile, create), { ttlSeconds: card.ttl_seconds, startTimeoutMs: this.startTimeoutMs });
  }

  /** The sandbox of a pod a previous controller made, if it is still there. */
  async adopt(id: string, name: string, card: Card, startedAt: number, logFile: string): Promise<KubeSandbox | undefined> {
    if (this.warmFor(card)) return this.adoptWarm(id, name, card, startedAt, logFile);
    const exists = this.useSandbox ? await this.getSandbox(name) : await this.getPod(name);
    if (!exists) return undefined;
    // Its output from now on: what it wrote before is in the log file already, up to when the previous daemon stopped.
    const object = this.podObject(id, name, logFile, async () => ({ extras: Promise.resolve() }), new Date());
    const sandbox = new KubeSandbox(name, card.backend, object, { ttlSeconds: card.ttl_seconds, startTimeoutMs: this.startTimeoutMs, startedAt });
    await sandbox.adopt();
    return sandbox;
  }

  /** A claimed warm pod, if its launch was delivered (one a daemon died before handing it is a stray). */
  private async adoptWarm(id: string, name: string, card: Card, startedAt: number, logFile: string): Promise<KubeSandbox | undefined> {
    const pod = await this.warmPools!.claimed(name);
    if (!pod || !WarmPools.launched(await this.getPod(pod))) return undefined;
    const object = this.claimObject(id, name, () => pod, logFile, async () => ({ extras: Promise.resolve() }));
    const sandbox = new KubeSandbox(name, card.backend, object, { ttlSeconds: card.ttl_seconds, startTimeoutMs: this.startTimeoutMs, startedAt });
    await sandbox.adopt();
    return sandbox;
  }

  /** paddock's pods (or Sandboxes) in the namespace that none of `known` names: deleted. */
  async removeStrays(known: Set<string>): Promise<string[]> {
    const { namespace } = this.options;
    const labelSelector = `${LABELS.managedBy}=paddock`;
    // Pods that a Sandbox owns go with their Sandbox; any other pod of paddock's (a plain-pod daemon's) is looked at alone.
    const pods = (await this.clients.core.listNamespacedPod({ namespace, labelSelector })).items.filter((p) => !p.metadata?.ownerReferences?.some((o) => o.kind === "Sandbox"));
    // A Sandbox a warm pool or a claim owns is agent-sandbox's to keep or delete.
    const sandboxes = this.useSandbox
      ? ((await this.clients.custom.listNamespacedCustomObject({ ...AGENT_SANDBOX, namespace, labelSelector })) as { items: Array<{ metadata: { name: string; ownerReferences?: unknown[] } }> }).items.filter((s) => !s.metadata.ownerReferences?.length).map((s) => s.metadata.name)
      : [];
    const claims = this.warmPools?.names() ?? [];
    const strayPods = pods.map((p) => p.metadata!.name!).filter((n) => !known.has(n));
    const straySandboxes = sandboxes.filter((n) => !known.has(n));
    const strayClaims = claims.filter((n) => !known.has(n));
    await Promise.all([...straySandboxes.map((n) => this.delete(n, 0)), ...strayPods.map((n) => this.deletePod(n, 0)), ...strayClaims.map((n) => this.deleting(n, () => this.warmPools!.deleteClaim(n)))]);
    return [...straySandboxes, ...strayPods, ...strayClaims];
  }

  async close(): Promise<void> {
    await this.warmPools?.close();
    await this.pods?.stop();
  }

  private get startTimeoutMs(): number {
    return this.options.startTimeoutMs ?? 300_000;
  }

  /** A warm agent's object: its claim, and the pod agent-sandbox gave it (known once claimed). */
  private claimObject(id: string, claim: string, pod: () => string, logFile: string, create: PodObject["create"]): PodObject {
    return {
      create,
      delete: () => this.deleting(claim, () => this.warmPools!.deleteClaim(claim)),
      watch: (listener) => this.watch(pod(), listener),
      followLogs: () => this.followLogs(id, pod(), logFile, new Date()),
      where: () => (pod() ? { namespace: this.options.namespace, name: pod() } : undefined),
    };
  }

  private podObject(id: string, name: string, logFile: string, create: PodObject["create"], logsSince?: Date): PodObject {
    return { create, delete: (grace) => this.delete(name, grace), watch: (listener) => this.watch(name, listener), followLogs: () => this.followLogs(id, name, logFile, logsSince), where: () => ({ namespace: this.options.namespace, name }) };
  }

  /** The agent container's output, followed through the API into the agent's log file (as a local sandbox writes it). */
  private followLogs(id: string, name: string, file: string, since?: Date): () => void {
    const out = createWriteStream(file, { flags: "a" });
    let abort: AbortController | undefined;
    let stopped = false;
    void import("@kubernetes/client-node")
      .then((k8s) => new k8s.Log(this.clients.config).log(this.options.namespace, name, "agent", out, { follow: true, ...(since ? { sinceTime: since.toISOString() } : {}) }))
      .then((controller) => (stopped ? controller.abort() : (abort = controller)))
      .catch((err: unknown) => this.options.log?.({ level: "warn", msg: "the agent's output could not be followed", agent_id: id, pod: name, error: apiMessage(err) }));
    return () => {
      stopped = true;
      abort?.abort();
      out.end();
    };
  }

  private watch(name: string, listener: (pod: V1Pod | undefined) => void): () => void {
    this.listeners.set(name, listener);
    const current = this.pods?.get(name);
    if (current) queueMicrotask(() => listener(current));
    return () => this.listeners.delete(name);
  }

  private async create(name: string, card: Card, pod: Record<string, any>, secret: Record<string, any>): Promise<{ extras: Promise<void> }> {
    const { namespace } = this.options;
    const claim = card.cluster?.workspace?.pvc;
    if (claim) await this.requireClaim(claim);
    let owner: { apiVersion: string; kind: string; name: string; uid: string };
    try {
      if (this.useSandbox) {
        const shutdownTime = card.ttl_seconds > 0 ? new Date(Date.now() + card.ttl_seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z") : undefined;
        const body = {
          apiVersion: `${AGENT_SANDBOX.group}/${AGENT_SANDBOX.version}`,
          kind: "Sandbox",
          metadata: { name, namespace, labels: pod.metadata.labels },
          spec: { podTemplate: { metadata: { labels: pod.metadata.labels, annotations: pod.metadata.annotations }, spec: pod.spec }, ...(shutdownTime ? { shutdownTime, shutdownPolicy: "Delete" } : {}) },
        };
        const made = (await this.clients.custom.createNamespacedCustomObject({ ...AGENT_SANDBOX, namespace, body })) as { metadata: { uid: string } };
        owner = { apiVersion: body.apiVersion, kind: "Sandbox", name, uid: made.metadata.uid };
      } else {
        const made = await this.clients.core.createNamespacedPod({ namespace, body: { apiVersion: "v1", kind: "Pod", ...pod } });
        owner = { apiVersion: "v1", kind: "Pod", name, uid: made.metadata!.uid! };
      }
    } catch (err) {
      throw new KubeError("kube_create_refused", `the cluster refused ${this.useSandbox ? "the Sandbox" : "the pod"} for ${name}: ${apiMessage(err)}`, name, "a Pod Security or quota refusal names the field; paddock doctor --kube checks the cluster");
    }
    // Owned by the pod (or Sandbox): deleted with it by the garbage collector, whoever deletes it. An agent with no key,
    // token or HOME file has none.
    if (Object.keys(secret.stringData).length === 0) return { extras: Promise.resolve() };
    const extras = this.clients.core
      .createNamespacedSecret({ namespace, body: { ...secret, metadata: { ...secret.metadata, ownerReferences: [{ ...owner, blockOwnerDeletion: true }] } } })
      .then(
        () => undefined,
        (err: unknown) => {
          throw new KubeError("kube_create_refused", `the cluster refused the Secret of ${name}: ${apiMessage(err)}`, name);
        },
      );
    return { extras };
  }

  /** The workspace's PersistentVolumeClaim exists: else the pod would wait for it until the start times out. */
  private async requireClaim(claim: string): Promise<void> {
    const { namespace } = this.options;
    try {
      const found = await this.clients.core.readNamespacedPersistentVolumeClaim({ name: claim, namespace });
      if (found.status?.phase === "Lost") throw new KubeError("workspace_claim_lost", `PersistentVolumeClaim ${claim} in ${namespace} has lost its volume`, "cluster.workspace.pvc", `kubectl describe pvc ${claim} -n ${namespace}`);
    } catch (err) {
      if (err instanceof KubeError) throw err;
      if (apiStatus(err) === 404) throw new KubeError("workspace_claim_missing", `no PersistentVolumeClaim ${claim} in ${namespace}`, "cluster.workspace.pvc", "create it first (kubectl apply a PersistentVolumeClaim), or drop cluster.workspace for an empty workspace");
      throw new KubeError("kube_unreachable", `PersistentVolumeClaim ${claim}: ${apiMessage(err)}`, "cluster.workspace.pvc");
    }
  }

  /** Deletes an agent's object: its Sandbox, or its pod. */
  private delete(name: string, graceSeconds: number): Promise<void> {
    return this.useSandbox ? this.deleting(name, () => this.clients.custom.deleteNamespacedCustomObject({ ...AGENT_SANDBOX, namespace: this.options.namespace, name, gracePeriodSeconds: graceSeconds, propagationPolicy: "Background" })) : this.deletePod(name, graceSeconds);
  }

  private deletePod(name: string, graceSeconds: number): Promise<void> {
    return this.deleting(name, () => this.clients.core.deleteNamespacedPod({ namespace: this.options.namespace, name, gracePeriodSeconds: graceSeconds }));
  }

  /** A deletion; one that finds nothing to delete is done. */
  private async deleting(name: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (err) {
      if (apiStatus(err) !== 404) throw new KubeError("kube_delete_failed", `could not delete ${name}: ${apiMessage(err)}`, name);
    }
  }

  private async getPod(name: string): Promise<V1Pod | undefined> {
    try {
      return await this.clients.core.readNamespacedPod({ namespace: this.options.namespace, name });
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  }

  private async getSandbox(name: string): Promise<unknown> {
    try {
      return await this.clients.custom.getNamespacedCustomObject({ ...AGENT_SANDBOX, namespace: this.options.namespace, name });
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  }
}
