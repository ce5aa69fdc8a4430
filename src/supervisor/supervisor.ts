import { copyFileSync, mkdirSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import type { Card } from "../card/index.js";
import type { EgressService } from "../egress/index.js";
import { PaddockError } from "../errors/index.js";
import type { PaddockPaths } from "../paths/index.js";
import { createSandbox, prepareSandbox, type ExitReport, type Sandbox } from "../sandbox/index.js";
import { endCgroupOfPid } from "../cgroups/index.js";
import { FINAL_STATES, type AgentRecord, type Store } from "../store/index.js";

export interface SupervisorOptions {
  store: Store;
  paths: PaddockPaths;
  /** Gives agents with allowed_hosts their one way out; without it such cards are refused. */
  egress?: EgressService;
  maxAgents?: number;
  /** A log file over this size is rotated (copy, then truncate; one old file kept). */
  logMaxBytes?: number;
  log?: (fields: Record<string, unknown>) => void;
}

/** What `list` and `status` report: the stored record and, while it runs, live figures. */
export interface AgentView extends AgentRecord {
  uptime_ms: number | null;
  memory_bytes: number | null;
  ttl_left_s: number | null;
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

/**
 * Owns every agent's life: spawn from a card (validated and kept as it was),
 * run it in its sandbox with its exits, TTL, restart on failure with backoff,
 * stop with grace, and a log file per agent. State changes go to the store.
 */
export class Supervisor {
  private readonly live = new Map<string, Live>();
  private readonly maxAgents: number;
  private readonly logMaxBytes: number;
  private readonly rotation: NodeJS.Timeout;
  private readonly logDir: string;

  constructor(private readonly options: SupervisorOptions) {
    this.maxAgents = options.maxAgents ?? 64;
    this.logMaxBytes = options.logMaxBytes ?? 10 * 1024 * 1024;
    this.logDir = join(options.paths.data, "logs", "agents");
    mkdirSync(this.logDir, { recursive: true });
    this.rotation = setInterval(() => this.rotateLogs(), 2_000).unref();
  }

  /** Starts an agent from a validated card; refused while an agent of the same id is alive. */
  async spawn(card: Card, options: { cardPath?: string; id?: string } = {}): Promise<AgentRecord> {
    const id = options.id ?? card.agent_id;
    if (!/^[a-z0-9-]+$/.test(id)) throw new PaddockError("agent_id_invalid", `'${id}' must match ^[a-z0-9-]+$`, "name");
    if (this.live.size >= this.maxAgents) throw new PaddockError("agent_limit", `this host already runs ${this.live.size} agents (the limit is ${this.maxAgents})`, id, "stop an agent first, or raise the limit");
    if (card.kind !== "command") throw new PaddockError("agent_kind_unsupported", `kind '${card.kind}' needs the agent adapters, which are not built yet: use kind: command with a command`, "kind");
    const record: AgentRecord = {
      agent_id: id,
      kind: card.kind,
      state: "starting",
      card: { ...card, agent_id: id },
      card_path: options.cardPath ?? null,
      sandbox: null,
      pid: null,
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
    try {
      await this.launch(id, record.card as Card, 0);
    } catch (err) {
      await this.finish(id, { state: "failed", error: err instanceof PaddockError ? err.describe() : (err as Error).message });
      throw err;
    }
    return (await this.options.store.getAgent(id))!;
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
   * At daemon start: agents a previous daemon left in a live state. Taking them
   * over is not built yet, so one still running (proved by its cgroup, not by a
   * pid that may have been recycled) is ended, and each is recorded as failed
   * with the reason: nothing is left running unsupervised.
   */
  async recover(): Promise<void> {
    for (const agent of await this.options.store.listAgents()) {
      if (FINAL_STATES.includes(agent.state)) continue;
      const killed = agent.pid !== null && agent.sandbox !== null && endCgroupOfPid(agent.pid, agent.sandbox);
      this.options.log?.({ level: "warn", msg: "agent left by a previous daemon", agent_id: agent.agent_id, state: agent.state, ended_now: killed });
      await this.finish(agent.agent_id, { state: "failed", error: killed ? "the daemon stopped while it ran; it was ended at the next start" : "it ended while the daemon was down" });
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
      ttl_left_s: uptimeMs !== null && ttl > 0 ? Math.max(0, Math.round(ttl - uptimeMs / 1000)) : null,
    };
  }

  private async launch(id: string, card: Card, restarts: number): Promise<void> {
    let egressSocket: string | undefined;
    if (card.allowed_hosts.length > 0) {
      if (!this.options.egress) throw new PaddockError("egress_unavailable", "this card has allowed_hosts, and no egress proxy runs here", "allowed_hosts");
      await this.options.egress.detach(id);
      egressSocket = await this.options.egress.attach(id, card.allowed_hosts);
    }
    const spec = prepareSandbox(card, { stdio: { file: join(this.logDir, `${id}.log`) }, dieWithParent: false, egressSocket, paths: this.options.paths });
    const sandbox = createSandbox(spec, card.backend);
    await sandbox.start();
    let settle!: () => void;
    const entry: Live = { sandbox, card, restarts, stopping: false, exited: new Promise((resolve) => (settle = resolve)) };
    this.live.set(id, entry);
    await this.options.store.updateAgent(id, { state: "running", sandbox: sandbox.name, pid: sandbox.pid ?? null, started_at: new Date().toISOString(), restarts });
    this.options.log?.({ msg: "agent running", agent_id: id, pid: sandbox.pid, sandbox: sandbox.name, restarts });
    void sandbox.wait().then(async (exit) => {
      await this.onExit(id, entry, exit);
      settle();
    });
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
    await this.options.egress?.detach(id);
    await this.options.store.updateAgent(id, { pid: null, ended_at: new Date().toISOString(), ...patch });
  }

  /** Copy-truncate: the agent keeps writing to the same open file, from its start again. */
  private rotateLogs(): void {
    for (const id of this.live.keys()) {
      const file = join(this.logDir, `${id}.log`);
      try {
        if (statSync(file).size <= this.logMaxBytes) continue;
        copyFileSync(file, `${file}.1`);
        truncateSync(file, 0);
      } catch {
        // not written yet, or gone
      }
    }
  }
}
