import { copyFileSync, mkdirSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { cardBudget, type Card } from "../card/index.js";
import { agentLaunch, type AgentLaunch } from "../agents/index.js";
import type { EgressAttachment, EgressService } from "../egress/index.js";
import type { AgentGatewayAccess } from "../gateway/index.js";
import { PaddockError } from "../errors/index.js";
import type { PaddockPaths } from "../paths/index.js";
import { adoptSandbox, createSandbox, prepareSandbox, processStart, recordedExitCode, type AgentSetup, type ExitReport, type Sandbox } from "../sandbox/index.js";
import { planCgroups } from "../cgroups/index.js";
import { FINAL_STATES, type AgentRecord, type Store } from "../store/index.js";
import { agentWorktree, dropWorktree, importWorktreeBranch, type AgentWorktree } from "../workspace/index.js";
import { daemonNamePrefix } from "./leftovers.js";
import type { StoredCard, StoredRole } from "./stored.js";

export interface SupervisorOptions {
  store: Store;
  paths: PaddockPaths;
  /** Gives agents with allowed_hosts their one way out; without it such cards are refused. */
  egress?: EgressService;
  /** Gives each agent its own gateway key and a way to the gateway; without it agents have no model access. */
  gateway?: AgentGatewayAccess;
  maxAgents?: number;
  /** A log file over this size is rotated (copy, then truncate; one old file kept). */
  logMaxBytes?: number;
  log?: (fields: Record<string, unknown>) => void;
  /** Called once an agent has ended for good (what the daemon attached to it goes too). */
  onEnded?: (agentId: string) => void;
  /** Agents run as pods of a cluster instead of sandboxes on this host (`paddock up --kube`). */
  pods?: PodBackend;
}

/**
 * Where agents run when not on this host: a cluster's pods. Their egress is the cluster's proxy, which knows each
 * agent by its pod; their state is in the cluster, so a new daemon adopts them by name.
 */
export interface PodBackend {
  /** `cardId`: the card's own agent_id (an agent spawned under another name has its own). */
  sandbox(id: string, card: Card, launch: Pick<AgentSetup, "command" | "env" | "homeFiles"> & { gatewayKey?: string; logFile: string; cardId: string }): Sandbox & { start(): Promise<void> };
  adopt(id: string, name: string, card: Card, startedAt: number, logFile: string): Promise<Sandbox | undefined>;
  /** Deletes the agents' objects none of `known` names, and says which. */
  removeStrays(known: Set<string>): Promise<string[]>;
}


/** What `list` and `status` report: the stored record and, while it runs, live figures. */
export interface AgentView extends AgentRecord {
  uptime_ms: number | null;
  memory_bytes: number | null;
  /** CPU time its cgroup has used, where the host reports it. */
  cpu_micros: number | null;
  ttl_left_s: number | null;
  /** On a cluster, while it runs: its pod (`paddock attach` execs there). */
  pod: { namespace: string; name: string } | null;
}

export interface SpawnOptions {
  cardPath?: string;
  id?: string;
  worker?: boolean;
  worktree?: boolean;
  /** The card may turn the seccomp filter off (the command line said so). */
  allowUnconfinedSeccomp?: boolean;
  /** The role a worker's tasks are done in. */
  role?: StoredRole;
}

interface Live {
  sandbox: Sandbox;
  card: Card;
  restarts: number;
  stopping: boolean;
  restartTimer?: NodeJS.Timeout;
  exited: Promise<void>;
}

const GRACE_MS = 10_000;
const SIZE_SAMPLES = 1800;

/**
 * Owns every agent's life: spawn from a card (validated and kept as it was),
 * run it in its sandbox with its exits, TTL, restart on failure with backoff,
 * stop with grace, and a log file per agent. State changes go to the store.
 */
export class Supervisor {
  private readonly live = new Map<string, Live>();
  /** Spawns between the limit check and their agent being live. */
  private starting = 0;
  private readonly maxAgents: number;
  private readonly logMaxBytes: number;
  private readonly rotation: NodeJS.Timeout;
  private readonly logDir: string;
  /** Per agent, (time, log size) noted every two seconds: the last hour. */
  private readonly sizes = new Map<string, Array<[number, number]>>();

  /** This daemon's sandboxes' names begin with it (see daemonNamePrefix). */
  private readonly namePrefix: string;

  constructor(private readonly options: SupervisorOptions) {
    this.namePrefix = daemonNamePrefix(options.paths);
    this.maxAgents = options.maxAgents ?? 64;
    this.logMaxBytes = options.logMaxBytes ?? 10 * 1024 * 1024;
    this.logDir = join(options.paths.data, "logs", "agents");
    mkdirSync(this.logDir, { recursive: true });
    this.rotation = setInterval(() => this.rotateLogs(), 2_000).unref();
  }

  /**
   * Starts an agent from a validated card; refused while an agent of the same
   * id is alive. A `worker` keeps its sandbox up for tasks that come over A2A.
   * With `worktree`, an agent whose workspace is in a git repository works in a
   * clone and branch of its own (a spawn that fails leaves neither behind).
   */
  async spawn(card: Card, options: SpawnOptions = {}): Promise<AgentRecord & { worktree: AgentWorktree | null }> {
    const id = options.id ?? card.agent_id;
    if (!/^[a-z0-9-]+$/.test(id)) throw new PaddockError("agent_id_invalid", `'${id}' must match ^[a-z0-9-]+$`, "name");
    // Spawns still starting count too: concurrent spawns must not slip past the limit together.
    if (this.live.size + this.starting >= this.maxAgents) throw new PaddockError("agent_limit", `this host already runs ${this.live.size + this.starting} agents (the limit is ${this.maxAgents})`, id, "stop an agent first, or raise the limit");
    this.starting++;
    try {
      return await this.start(card, id, options);
    } finally {
      this.starting--;
    }
  }

  private async start(card: Card, id: string, options: SpawnOptions): Promise<AgentRecord & { worktree: AgentWorktree | null }> {
    if (card.kind !== "command" && !this.options.gateway) {
      throw new PaddockError("gateway_unavailable", `a ${card.kind} agent needs a model, and this daemon runs no gateway`, "kind", "start the daemon with `paddock up --gateway paddock.yaml`");
    }
    const record: AgentRecord = {
      agent_id: id,
      kind: card.kind,
      state: "starting",
      card: { ...card, agent_id: id, ...(id !== card.agent_id ? { paddock_card_id: card.agent_id } : {}), ...(options.worker ? { paddock_worker: true } : {}), ...(options.role ? { paddock_role: options.role } : {}), ...(options.allowUnconfinedSeccomp ? { paddock_allow_unconfined_seccomp: true } : {}) },
      card_path: options.cardPath ?? null,
      sandbox: null,
      pid: null,
      pid_start: null,
      egress_socket: null,
      log_path: join(this.logDir, `${id}.log`),
      restarts: 0,
      created_at: new Date().toISOString(),
      started_at: null,
      ended_at: null,
      exit: null,
      error: null,
    };
    const existing = await this.options.store.claimAgent(record);
    if (existing) {
      throw new PaddockError("agent_exists", `agent ${id} is already ${existing.state}${existing.pid ? ` (pid ${existing.pid})` : ""}`, id, `stop it first (paddock stop ${id}), or spawn with another --name`);
    }
    let tree: AgentWorktree | undefined;
    try {
      // On a cluster every pod has a workspace of its own (cluster.workspace), and a clone on this host would be none of it.
      tree = options.worktree && !this.options.pods ? await agentWorktree(card.workspace, id, join(this.options.paths.data, "worktrees"), this.options.paths) : undefined;
      if (tree) {
        const workdir = join(tree.workdir, card.workdir ?? "");
        record.card = { ...record.card, workspace: tree.workspace, ...(workdir !== "." ? { workdir } : {}), paddock_worktree: tree };
        await this.options.store.updateAgent(id, { card: record.card });
      }
      await this.launch(id, record.card as Card, 0);
    } catch (err) {
      if (tree) {
        await dropWorktree(tree, this.options.paths);
        record.card = { ...record.card, paddock_worktree: undefined };
        await this.options.store.updateAgent(id, { card: record.card });
      }
      await this.finish(id, { state: "failed", error: err instanceof PaddockError ? err.describe() : (err as Error).message });
      throw err;
    }
    return { ...(await this.options.store.getAgent(id))!, worktree: tree ?? null };
  }

  async stop(id: string, graceMs = GRACE_MS): Promise<AgentRecord> {
    const entry = this.live.get(id);
    const record = await this.options.store.getAgent(id);
    if (!record) throw new PaddockError("agent_unknown", `no agent ${id}`, id, "paddock list shows the agents");
    if (!entry) return record;
    entry.stopping = true;
    clearTimeout(entry.restartTimer);
    await this.options.store.updateAgent(id, { state: "stopping" });
    if (entry.restartTimer) {
      this.live.delete(id);
      await this.finish(id, { state: "stopped" });
    } else {
      await entry.sandbox.stop(graceMs);
      await entry.exited;
    }
    return (await this.options.store.getAgent(id))!;
  }

  async status(id: string): Promise<AgentView> {
    const record = await this.options.store.getAgent(id);
    if (!record) throw new PaddockError("agent_unknown", `no agent ${id}`, id, "paddock list shows the agents");
    return this.view(record);
  }

  async list(): Promise<AgentView[]> {
    return (await this.options.store.listAgents()).map((r) => this.view(r));
  }

  /**
   * At daemon start, the agents a previous daemon left in a live state: those
   * still running are taken over (proved by pid, start time and cgroup, so a
   * recycled pid never is), with their egress at the same socket; the exit of
   * those that ended meanwhile is recorded from bwrap's status file; a
   * half-spawned one is cleaned up; a pending restart goes ahead.
   */
  async recover(): Promise<void> {
    for (const agent of await this.options.store.listAgents()) {
      if (FINAL_STATES.includes(agent.state)) continue;
      const id = agent.agent_id;
      const card = agent.card as unknown as Card;
      const sandbox = this.options.pods
        ? agent.state !== "starting" && agent.sandbox && agent.started_at
          ? await this.options.pods.adopt(id, agent.sandbox, card, Date.parse(agent.started_at), join(this.logDir, `${id}.log`))
          : undefined
        : agent.state !== "starting" && agent.pid && agent.pid_start && agent.sandbox && agent.started_at && card.backend === "bwrap"
          ? adoptSandbox({
              name: agent.sandbox,
              pid: agent.pid,
              pidStart: agent.pid_start,
              statusFile: this.statusFile(id),
              startedAt: Date.parse(agent.started_at),
              ttlDeadline: card.ttl_seconds > 0 ? Date.parse(agent.started_at) + card.ttl_seconds * 1000 : undefined,
            })
          : undefined;
      if (sandbox) {
        if (agent.egress_socket && this.options.egress && card.allowed_hosts.length > 0) await this.options.egress.attach(id, card, agent.egress_socket);
        this.track(id, card, sandbox, agent.restarts);
        this.options.log?.({ level: "warn", msg: "agent taken over from a previous daemon", agent_id: id, pid: agent.pid });
        // A stop the previous daemon had begun is finished.
        if (agent.state === "stopping") void this.stop(id);
        continue;
      }
      if (agent.state === "restarting" && !agent.pid) {
        this.options.log?.({ level: "warn", msg: "restart that a previous daemon had pending", agent_id: id });
        await this.launch(id, card, agent.restarts + 1).catch((err: Error) => this.finish(id, { state: "failed", error: err.message }));
        continue;
      }
      const leftover = agent.sandbox && !this.options.pods ? planCgroups({ allowUnenforced: true }).leftover(agent.sandbox) : undefined;
      const stray = (leftover?.pids().length ?? 0) > 0;
      leftover?.killAll();
      void leftover?.remove(60_000).catch(() => undefined);
      const code = recordedExitCode(this.statusFile(id));
      const exit = code === undefined ? null : { cause: "exited", code, signal: null };
      const error =
        agent.state === "starting"
          ? "the daemon stopped while it was starting it; what it had started was cleaned up"
          : stray
            ? "it could not be taken over after the daemon stopped, and was ended"
            : "it ended while the daemon was down";
      this.options.log?.({ level: "warn", msg: "agent a previous daemon left", agent_id: id, error, exit_code: code });
      await this.finish(id, { state: code === 0 && !stray && agent.state !== "starting" ? "exited" : "failed", exit, error });
    }
    await this.endStrays();
  }

  /**
   * Sandboxes of this daemon's that no record leads to (their state was lost, or a spawn died half-way):
   * their cgroups are ended, processes and exit bridges with them.
   */
  private async endStrays(): Promise<void> {
    const tracked = new Set([...this.live.values()].map((entry) => entry.sandbox.name));
    if (this.options.pods) {
      for (const name of await this.options.pods.removeStrays(tracked)) this.options.log?.({ level: "warn", msg: "a pod of paddock's that no agent record leads to: deleted", pod: name });
      return;
    }
    const plan = planCgroups({ allowUnenforced: true });
    for (const name of plan.names().filter((n) => n.startsWith(this.namePrefix) && !tracked.has(n))) {
      const cgroup = plan.leftover(name);
      if (!cgroup) continue;
      this.options.log?.({ level: "warn", msg: "a sandbox of this daemon's that no agent record leads to: ended", sandbox: name, pids: cgroup.pids() });
      cgroup.killAll();
      await cgroup.remove(10_000).catch(() => undefined);
    }
  }

  /** Stops every agent (for a clean shutdown of the daemon). */
  async close(graceMs = GRACE_MS): Promise<void> {
    clearInterval(this.rotation);
    await Promise.all([...this.live.keys()].map((id) => this.stop(id, graceMs)));
  }

  private view(record: AgentRecord): AgentView {
    const entry = this.live.get(record.agent_id);
    const stats = entry?.sandbox.stats();
    const uptimeMs = stats?.running ? Math.round(stats.uptimeMs) : null;
    const ttl = (record.card as { ttl_seconds?: number }).ttl_seconds ?? 0;
    return {
      ...record,
      uptime_ms: uptimeMs,
      memory_bytes: stats?.running ? (stats.memoryBytes ?? null) : null,
      cpu_micros: stats?.running ? (stats.cpuMicros ?? null) : null,
      ttl_left_s: uptimeMs !== null && ttl > 0 ? Math.max(0, Math.round(ttl - uptimeMs / 1000)) : null,
      pod: stats?.running ? (stats.pod ?? null) : null,
    };
  }

  private async launch(id: string, card: Card, restarts: number): Promise<void> {
    let egress: EgressAttachment | undefined;
    if (card.allowed_hosts.length > 0 && !this.options.pods) {
      if (!this.options.egress) throw new PaddockError("egress_unavailable", "this card has allowed_hosts, and no egress proxy runs here", "allowed_hosts");
      await this.options.egress.detach(id);
      egress = await this.options.egress.attach(id, card);
    }
    let gateway: { socket: string; key: string } | undefined;
    let agent: AgentLaunch | undefined;
    if (this.options.gateway) {
      const models = await this.options.gateway.models();
      await this.options.gateway.revoke(id);
      const key = await this.options.gateway.mint(id, agentModels(card), cardBudget(card));
      gateway = { socket: this.options.gateway.socket, key };
      agent = agentLaunch({ ...card, agent_id: id }, { mode: (card as StoredCard).paddock_worker ? "worker" : "serve", models, key });
    }
    if (this.options.pods) return this.launchPod(id, card, restarts, agent, gateway?.key);
    const allowUnconfinedSeccomp = (card as StoredCard).paddock_allow_unconfined_seccomp === true;
    const spec = prepareSandbox(card, { stdio: { file: join(this.logDir, `${id}.log`) }, statusFile: this.statusFile(id), dieWithParent: false, egress, gateway, agent, paths: this.options.paths, allowUnconfinedSeccomp, namePrefix: this.namePrefix });
    // Recorded before the start, so that a daemon killed halfway leaves something its successor can find and clean up.
    await this.options.store.updateAgent(id, { state: "starting", sandbox: spec.name, egress_socket: egress?.socket ?? null });
    const sandbox = createSandbox(spec, card.backend);
    await sandbox.start();
    await this.options.store.updateAgent(id, { state: "running", pid: sandbox.pid ?? null, pid_start: sandbox.pid ? (processStart(sandbox.pid) ?? null) : null, started_at: new Date().toISOString(), restarts });
    this.options.log?.({ msg: "agent running", agent_id: id, pid: sandbox.pid, sandbox: sandbox.name, restarts });
    this.track(id, card, sandbox, restarts);
  }

  private async launchPod(id: string, card: Card, restarts: number, agent: AgentLaunch | undefined, gatewayKey: string | undefined): Promise<void> {
    const logFile = join(this.logDir, `${id}.log`);
    const cardId = (card as StoredCard).paddock_card_id ?? card.agent_id;
    const sandbox = this.options.pods!.sandbox(id, card, { command: agent?.command ?? card.command ?? ["sh"], env: agent?.env ?? {}, homeFiles: agent?.homeFiles ?? {}, gatewayKey, logFile, cardId });
    // Recorded before the pod is made: a daemon killed halfway leaves a name its successor can find and delete.
    await this.options.store.updateAgent(id, { state: "starting", sandbox: sandbox.name, egress_socket: null });
    await sandbox.start();
    await this.options.store.updateAgent(id, { state: "running", pid: null, pid_start: null, started_at: new Date().toISOString(), restarts });
    this.options.log?.({ msg: "agent running", agent_id: id, pod: sandbox.name, restarts });
    this.track(id, card, sandbox, restarts);
  }

  private track(id: string, card: Card, sandbox: Sandbox, restarts: number): Live {
    let settle!: () => void;
    const entry: Live = { sandbox, card, restarts, stopping: false, exited: new Promise((resolve) => (settle = resolve)) };
    this.live.set(id, entry);
    void sandbox.wait().then(async (exit) => {
      await this.onExit(id, entry, exit);
      settle();
    });
    return entry;
  }

  private statusFile(id: string): string {
    return join(this.logDir, `${id}.status`);
  }

  private async onExit(id: string, entry: Live, exit: ExitReport): Promise<void> {
    const failed = exit.cause !== "exited" || exit.code !== 0;
    const policy = entry.card.restart;
    this.options.log?.({ msg: "agent exited", agent_id: id, ...exit });
    if (!entry.stopping && failed && policy.policy === "on-failure" && exit.cause !== "ttl" && entry.restarts < policy.max_restarts) {
      const delayMs = policy.backoff_seconds * 1000 * 2 ** entry.restarts;
      await this.options.store.updateAgent(id, { state: "restarting", exit: { ...exit }, pid: null });
      entry.restartTimer = setTimeout(() => {
        entry.restartTimer = undefined;
        this.live.delete(id);
        this.launch(id, entry.card, entry.restarts + 1).catch((err: Error) => this.finish(id, { state: "failed", error: err.message }));
      }, delayMs);
      return;
    }
    this.live.delete(id);
    // Reaching ttl_seconds is the card's own limit taking effect: stopped, not failed.
    const state = entry.stopping || exit.cause === "ttl" ? "stopped" : failed ? "failed" : "exited";
    await this.finish(id, { state, exit: { ...exit } });
  }

  private async finish(id: string, patch: Partial<AgentRecord>): Promise<void> {
    this.options.onEnded?.(id);
    await this.options.egress?.detach(id);
    await this.options.gateway?.revoke(id);
    await this.importBranch(id);
    await this.options.store.updateAgent(id, { pid: null, ended_at: new Date().toISOString(), ...patch });
  }

  /** A worker with a clone of its own: its branch's commits go into the repository it was cloned from. */
  private async importBranch(id: string): Promise<void> {
    const tree = ((await this.options.store.getAgent(id))?.card as StoredCard | undefined)?.paddock_worktree;
    if (!tree) return;
    try {
      const moved = await importWorktreeBranch(tree, this.options.paths);
      this.options.log?.({ msg: moved ? "the agent's commits are on its branch in the repository" : "the agent made no commits on its branch", agent_id: id, branch: tree.branch, repository: tree.repository });
    } catch (err) {
      this.options.log?.({ level: "error", msg: (err as PaddockError).describe?.() ?? (err as Error).message, agent_id: id, branch: tree.branch });
    }
  }

  /**
   * Every two seconds: each log's size is noted (so `logs --since` can find
   * where a time begins: agents write their files directly, without
   * timestamps), and a log over its cap is rotated by copy-truncate (the agent
   * keeps writing to the same open file, from its start again).
   */
  private rotateLogs(): void {
    const now = Date.now();
    for (const id of this.live.keys()) {
      const file = join(this.logDir, `${id}.log`);
      try {
        let size = statSync(file).size;
        if (size > this.logMaxBytes) {
          copyFileSync(file, `${file}.1`);
          truncateSync(file, 0);
          this.sizes.set(id, []);
          size = 0;
        }
        const samples = this.sizes.get(id) ?? [];
        samples.push([now, size]);
        this.sizes.set(id, samples.slice(-SIZE_SAMPLES));
      } catch {
        // not written yet, or gone
      }
    }
  }

  /** Where in an agent's log the output written at or after `time` starts (to within the two-second sampling). */
  logOffsetAt(id: string, time: number): number {
    const samples = this.sizes.get(id) ?? [];
    return [...samples].reverse().find(([t]) => t <= time)?.[1] ?? 0;
  }
}

/** The models an agent's key may call: those its card names (all, when it names none). */
export function agentModels(card: Card): string[] {
  return [...new Set([card.model, card.small_model].filter((m): m is string => !!m))];
}
