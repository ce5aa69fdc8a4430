import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { planCgroups, type AgentCgroup } from "../cgroups/index.js";
import { processesInNamespace, processesWith, signal } from "./pidns.js";
import type { ExitCause, ExitReport, Sandbox, SandboxStats } from "./types.js";

/** What a supervisor stored about a bwrap sandbox it started, enough to take it over after a restart. */
export interface AdoptionRecord {
  name: string;
  /** The runtime (bwrap) process. */
  pid: number;
  /** Its start time, /proc/PID/stat field 22, recorded at spawn. */
  pidStart: string;
  statusFile: string;
  startedAt: number;
  /** Epoch ms at which ttl_seconds ends it, if any. */
  ttlDeadline?: number;
}

/** A process's start time in clock ticks since boot, or undefined if it is gone (or a zombie). */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Takes over a sandbox a previous daemon started, if it is still that sandbox:
 * the same pid, the same start time (a recycled pid has another) and inside
 * the sandbox's own cgroup. Otherwise undefined.
 */
export function adoptSandbox(record: AdoptionRecord): Sandbox | undefined {
  if (processStart(record.pid) !== record.pidStart) return undefined;
  const cgroup = planCgroups({ allowUnenforced: true }).open(record.name);
  if (!cgroup?.pids().includes(record.pid)) return undefined;
  return new AdoptedSandbox(record);
}

/** The exit code bwrap recorded in its status file, if it got that far. */
export function recordedExitCode(statusFile: string): number | undefined {
  if (!existsSync(statusFile)) return undefined;
  for (const line of readFileSync(statusFile, "utf8").trim().split("\n").reverse()) {
    const code = /"exit-code":\s*(\d+)/.exec(line)?.[1];
    if (code !== undefined) return Number(code);
  }
  return undefined;
}

class AdoptedSandbox implements Sandbox {
  readonly backend = "bwrap" as const;
  readonly unenforced = [];
  readonly stdin = null;
  readonly stdout = null;
  readonly stderr = null;
  private readonly cgroup?: AgentCgroup;
  private readonly initPid?: number;
  /** The sandbox's network namespace: its exits' bridges (started by the previous daemon, not our children) live in it. */
  private readonly netNs?: string;
  private cause?: ExitCause;
  private readonly exited: Promise<ExitReport>;
  private ttlTimer?: NodeJS.Timeout;

  constructor(private readonly record: AdoptionRecord) {
    this.cgroup = planCgroups({ allowUnenforced: true }).open(record.name);
    this.initPid = Number(readFileSync(`/proc/${record.pid}/task/${record.pid}/children`, "utf8").trim().split(" ")[0]) || undefined;
    try {
      this.netNs = this.initPid ? readlinkSync(`/proc/${this.initPid}/ns/net`) : undefined;
    } catch {
      // already gone: so are its bridges' reasons to live, and watch() finds it ended
    }
    if (record.ttlDeadline) this.ttlTimer = setTimeout(() => this.end("ttl"), Math.max(0, record.ttlDeadline - Date.now()));
    this.exited = this.watch();
  }

  get name(): string {
    return this.record.name;
  }
  get pid(): number {
    return this.record.pid;
  }

  async start(): Promise<void> {}

  wait(): Promise<ExitReport> {
    return this.exited;
  }

  async stop(graceMs = 10_000): Promise<ExitReport> {
    this.cause ??= "stopped";
    const deadline = Date.now() + graceMs;
    while (this.initPid && signal(processesInNamespace(this.initPid), "SIGTERM") === 0 && this.alive() && Date.now() < deadline) await sleep(10);
    const done = await Promise.race([this.exited, sleep(Math.max(0, deadline - Date.now())).then(() => undefined)]);
    if (!done) this.killTree();
    return this.exited;
  }

  stats(): SandboxStats {
    return { running: this.alive(), pid: this.record.pid, uptimeMs: Date.now() - this.record.startedAt, ...this.cgroup?.usage() };
  }

  private alive(): boolean {
    return processStart(this.record.pid) === this.record.pidStart;
  }

  private end(cause: ExitCause): void {
    this.cause ??= cause;
    this.killTree();
  }

  private killTree(): void {
    signal([this.initPid, this.record.pid].filter((p): p is number => !!p), "SIGKILL");
    this.cgroup?.killAll();
  }

  /** Not our child: its end is seen by polling, its exit code read from bwrap's status file. */
  private async watch(): Promise<ExitReport> {
    while (this.alive()) await sleep(100);
    clearTimeout(this.ttlTimer);
    if (this.netNs) signal(processesWith("net", this.netNs), "SIGKILL");
    const code = recordedExitCode(this.record.statusFile) ?? null;
    const oomKills = this.cgroup?.oomKills() ?? 0;
    const memoryPeakBytes = this.cgroup?.usage().memoryPeakBytes;
    this.cgroup?.killAll();
    await this.cgroup?.remove(60_000).catch(() => undefined);
    const cause: ExitCause = this.cause ?? (oomKills > 0 && code === 137 ? "oom" : code === null ? "signaled" : "exited");
    return { cause, code: cause === "exited" || cause === "oom" ? code : null, signal: null, durationMs: Date.now() - this.record.startedAt, memoryPeakBytes, oomKills };
  }
}
