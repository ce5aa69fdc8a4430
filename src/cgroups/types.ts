import { PaddockError } from "../errors/index.js";

export interface CgroupLimits {
  memoryBytes: number;
  cpuShares: number;
  maxProcesses: number;
}

export type LimitName = keyof CgroupLimits;

export interface CgroupUsage {
  memoryBytes: number;
  /** Highest memory use seen, where the kernel reports it. */
  memoryPeakBytes?: number;
  processes: number;
  cpuMicros?: number;
}

/** One agent's cgroup, across however many hierarchies enforce its limits. */
export interface AgentCgroup {
  readonly version: 1 | 2;
  /** Folders of this cgroup, one per hierarchy. */
  readonly dirs: string[];
  /** `cgroup.procs` files a process writes its pid to, to join every one of them. */
  readonly procsFiles: string[];
  /** The limits this cgroup enforces; the others were waived by the caller. */
  readonly enforced: LimitName[];
  usage(): CgroupUsage;
  oomKills(): number;
  pids(): number[];
  killAll(): void;
  /** Removes the folders once their processes are gone (waiting up to `patienceMs` for them to be reaped). */
  remove(patienceMs?: number): Promise<void>;
}

/** A limit the host cannot enforce, with why, and what would make it possible. */
export class LimitError extends PaddockError {
  constructor(
    readonly limits: LimitName[],
    reason: string,
    hint: string,
  ) {
    super("limits_unenforceable", `cannot enforce ${limits.map(cardField).join(", ")}: ${reason}`, "resource_limits", hint);
  }
}

export function cardField(limit: LimitName): string {
  return { memoryBytes: "memory_mb", cpuShares: "cpu_shares", maxProcesses: "max_processes" }[limit];
}
