import { constants } from "node:os";
import type { Readable, Writable } from "node:stream";
import type { CgroupLimits, LimitName } from "../cgroups/index.js";
import { PaddockError } from "../errors/index.js";
import type { SeccompProfile } from "../seccomp/index.js";
import type { ToolTree } from "./tools.js";

export type BackendName = "bwrap" | "gvisor";

/** A way out of the sandbox: inside, 127.0.0.1:port reaches the host's unix socket (the egress proxy, the gateway). */
export interface NetworkExit {
  port: number;
  socket: string;
}

export interface BindMount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Everything a backend needs to run one process tree; built from a card by `prepareSandbox`. */
export interface SandboxSpec {
  /** Unique per run: names the cgroup and the runtime's container. */
  name: string;
  agentId: string;
  command: string[];
  workspace: string;
  /** Read-only workspace mode: the workspace is mounted read-only and this folder is writable at /output. */
  outputDir?: string;
  /** The seccomp profile, and for a filtering one its compiled program (for bwrap) on the host. */
  seccomp: { profile: SeccompProfile; programFile?: string };
  /** Where the command starts inside (under /workspace). */
  cwd: string;
  /** The workspace is mounted read-only (also implied by `outputDir`). */
  readOnlyWorkspace?: boolean;
  /** The agent's persistent HOME on the host; undefined: an empty tmpfs (a throwaway sandbox keeps nothing). */
  home?: string;
  tools: ToolTree;
  /** Generated /etc files (passwd, group, hosts, nsswitch.conf) on the host. */
  etcDir: string;
  mounts: BindMount[];
  /** The complete environment inside; nothing of paddock's own environment is added. */
  env: Record<string, string>;
  limits: CgroupLimits & { maxOpenFiles: number };
  ttlSeconds: number;
  exits: NetworkExit[];
  /** A CA bundle on the host mounted over the system one (the host's CAs plus the agent's own, for the hosts whose TLS the egress proxy terminates). */
  caBundle?: string;
  /** Where stdout and stderr go; `{ file }` appends both to a log file that outlives paddock (stdin is closed). */
  stdio: "inherit" | "pipe" | "ignore" | { file: string };
  /** bwrap writes its status here (JSON: child pid, then the exit code), so an exit is known even when no paddock watched it. */
  statusFile?: string;
  /** Kill the sandbox when paddock exits (exec); a supervisor that re-adopts agents turns this off. */
  dieWithParent: boolean;
  allowUnenforcedLimits: boolean;
  /** Per-run scratch folder of the backend (OCI bundle); removed at exit. */
  runDir: string;
}

export type ExitCause = "exited" | "signaled" | "oom" | "ttl" | "stopped";

export interface ExitReport {
  cause: ExitCause;
  /** The command's exit code, where it exited by itself. */
  code: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  memoryPeakBytes?: number;
  /** Processes the kernel killed for memory_mb during the run; the command may have survived them. */
  oomKills: number;
}

export interface SandboxStats {
  running: boolean;
  pid?: number;
  uptimeMs: number;
  memoryBytes?: number;
  memoryPeakBytes?: number;
  processes?: number;
  cpuMicros?: number;
  /** On a cluster: the pod it runs in. */
  pod?: { namespace: string; name: string };
}

export interface Sandbox {
  readonly name: string;
  readonly backend: BackendName;
  /** Host pid of the runtime's process (bwrap or runsc), once started. */
  readonly pid: number | undefined;
  /** Limits that are not enforced (only with allowUnenforcedLimits). */
  readonly unenforced: LimitName[];
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Resolves once the command is running inside. */
  start(): Promise<void>;
  wait(): Promise<ExitReport>;
  /** SIGTERM to the workload, SIGKILL to the whole tree after `graceMs`. */
  stop(graceMs?: number): Promise<ExitReport>;
  stats(): SandboxStats;
}

export class SandboxError extends PaddockError {}

/** How `paddock exec` reports each cause in its exit status; `timeout` and shells use the same numbers. */
export const EXIT_STATUS = { setupFailed: 125, ttl: 124, oom: 137, stopped: 143 } as const;

export function exitStatus(report: ExitReport): number {
  switch (report.cause) {
    case "exited":
      return report.code ?? 0;
    case "oom":
      return EXIT_STATUS.oom;
    case "ttl":
      return EXIT_STATUS.ttl;
    case "stopped":
      return EXIT_STATUS.stopped;
    case "signaled":
      return 128 + signalNumber(report.signal);
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? constants.signals[signal] : 0;
}
