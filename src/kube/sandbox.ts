import type { V1Pod } from "@kubernetes/client-node";
import type { BackendName, ExitReport, Sandbox, SandboxStats } from "../sandbox/index.js";
import type { PodPlace } from "./attach.js";
import { KubeError } from "./client.js";

/** What a KubeSandbox asks of the backend: the object's creation and deletion, and its pod's events. */
export interface PodObject {
  /** Resolves once the object is made; `extras` once what goes with it (its Secret) is too. */
  create(): Promise<{ extras: Promise<void> }>;
  delete(graceSeconds: number): Promise<void>;
  /** Calls back with each state of the pod (undefined: it is gone); returns the unsubscribe. */
  watch(listener: (pod: V1Pod | undefined) => void): () => void;
  /** Follows the agent container's output into the agent's log file; returns the stop. */
  followLogs(): () => void;
  /** The pod, once known (a warm agent's is known once claimed). */
  where(): PodPlace | undefined;
}

/**
 * An agent's pod as a paddock Sandbox: start creates it (a Pod, or agent-sandbox's Sandbox) and resolves once the
 * pod runs; wait resolves when it ends (a terminal phase, or deleted); stop deletes it with grace. The TTL is the
 * pod's own activeDeadlineSeconds (or the Sandbox's shutdownTime), and paddock ends it at the deadline too, so a
 * cluster that enforces neither still gets it.
 */
export class KubeSandbox implements Sandbox {
  readonly pid = undefined;
  readonly unenforced = ["maxProcesses" as const];
  readonly stdin = null;
  readonly stdout = null;
  readonly stderr = null;
  private startedAt: number | undefined;
  private stopping = false;
  private ended: ExitReport | undefined;
  private readonly exited: Promise<ExitReport>;
  private settle!: (report: ExitReport) => void;
  private unwatch: (() => void) | undefined;
  private stopLogs: (() => void) | undefined;
  private ttlTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly backend: BackendName,
    private readonly object: PodObject,
    private readonly options: { ttlSeconds: number; startTimeoutMs: number; startedAt?: number },
  ) {
    this.exited = new Promise((resolve) => (this.settle = resolve));
    this.startedAt = options.startedAt;
  }

  async start(): Promise<void> {
    const { extras } = await this.object.create();
    // The Secret is made while the pod is scheduled: the kubelet starts no container before it exists.
    await Promise.all([extras, this.follow()]).catch(async (err: unknown) => {
      await this.object.delete(0).catch(() => undefined);
      throw err;
    });
  }

  /** A pod a previous controller made: followed from where it is. */
  async adopt(): Promise<void> {
    await this.follow();
  }

  private follow(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let last: V1Pod | undefined;
      const timeout = setTimeout(() => {
        const conditions = (last?.status?.conditions ?? []).filter((c) => c.status !== "True").map((c) => `${c.type}: ${c.reason ?? ""} ${c.message ?? ""}`.trim());
        void this.object.delete(0).catch(() => undefined);
        reject(new KubeError("pod_not_running", `pod ${this.name} was not running after ${this.options.startTimeoutMs / 1000} s${conditions.length ? ` (${conditions.join("; ")})` : ""}`, this.name, "kubectl describe pod shows why (an image pull, no node with room, a quota)"));
      }, this.options.startTimeoutMs);
      this.unwatch = this.object.watch((pod) => {
        last = pod ?? last;
        const report = pod ? exitOf(pod, this.startedAt) : this.goneReport();
        if (pod?.status?.phase === "Running" && this.startedAt === undefined) this.startedAt = Date.now();
        if (pod?.status?.phase === "Running") this.stopLogs ??= this.object.followLogs();
        if (pod?.status?.phase === "Running" || report) {
          clearTimeout(timeout);
          resolve();
          this.armTtl();
        }
        if (report) this.finish(report);
      });
    });
  }

  private armTtl(): void {
    if (this.ttlTimer || this.options.ttlSeconds <= 0 || this.ended) return;
    const left = (this.startedAt ?? Date.now()) + this.options.ttlSeconds * 1000 - Date.now();
    this.ttlTimer = setTimeout(() => void this.object.delete(0).catch(() => undefined), Math.max(0, left));
  }

  private goneReport(): ExitReport {
    const ttl = this.options.ttlSeconds > 0 && this.startedAt !== undefined && Date.now() >= this.startedAt + this.options.ttlSeconds * 1000 - 1000;
    return { cause: this.stopping ? "stopped" : ttl ? "ttl" : "signaled", code: null, signal: this.stopping || ttl ? null : "SIGKILL", durationMs: this.uptime(), oomKills: 0 };
  }

  private finish(report: ExitReport): void {
    if (this.ended) return;
    this.ended = report;
    clearTimeout(this.ttlTimer);
    this.unwatch?.();
    this.stopLogs?.();
    // A pod that ended by itself is deleted, its Secret with it (a restart makes a new one).
    void this.object.delete(0).catch(() => undefined);
    this.settle(report);
  }

  private uptime(): number {
    return this.startedAt === undefined ? 0 : Date.now() - this.startedAt;
  }

  wait(): Promise<ExitReport> {
    return this.exited;
  }

  async stop(graceMs = 10_000): Promise<ExitReport> {
    if (this.ended) return this.ended;
    this.stopping = true;
    await this.object.delete(Math.ceil(graceMs / 1000));
    return this.exited;
  }

  stats(): SandboxStats {
    return { running: this.startedAt !== undefined && !this.ended, uptimeMs: this.uptime(), pod: this.object.where() };
  }
}

/** How a pod ended, from its status, or undefined while it has not. */
function exitOf(pod: V1Pod, startedAt: number | undefined): ExitReport | undefined {
  const phase = pod.status?.phase;
  if (phase !== "Succeeded" && phase !== "Failed") return undefined;
  const terminated = pod.status?.containerStatuses?.find((c) => c.name === "agent")?.state?.terminated;
  const durationMs = startedAt === undefined ? 0 : Date.now() - startedAt;
  if (pod.status?.reason === "DeadlineExceeded") return { cause: "ttl", code: null, signal: null, durationMs, oomKills: 0 };
  if (terminated?.reason === "OOMKilled") return { cause: "oom", code: terminated.exitCode ?? null, signal: null, durationMs, oomKills: 1 };
  return { cause: "exited", code: terminated?.exitCode ?? (phase === "Succeeded" ? 0 : 1), signal: null, durationMs, oomKills: 0 };
}
