import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { constants } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { planCgroups, type AgentCgroup, type LimitName } from "../cgroups/index.js";
import { SandboxError, type BackendName, type ExitCause, type ExitReport, type Sandbox, type SandboxSpec, type SandboxStats } from "./types.js";

const ALL_LIMITS: LimitName[] = ["memoryBytes", "cpuShares", "maxProcesses"];
/** An exit's bridge lives in the agent's cgroup: its listener, and one process per connection open at once (up to 63). */
const BRIDGE_PROCESSES = 64;

/**
 * The life of one sandboxed process tree, common to every local backend: the
 * cgroup, the launch, TTL, stop with grace, and an exit report with its cause.
 * A backend supplies the runtime's command line and how to reach the processes inside.
 */
export abstract class RuntimeSandbox implements Sandbox {
  abstract readonly backend: BackendName;
  unenforced: LimitName[] = [];
  protected child?: ChildProcess;
  protected cgroup?: AgentCgroup;
  private startedAt = 0;
  private cause?: ExitCause;
  private exited?: Promise<ExitReport>;
  private ttlTimer?: NodeJS.Timeout;

  constructor(readonly spec: SandboxSpec) {}

  get name(): string {
    return this.spec.name;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get stdin() {
    return this.child?.stdin ?? null;
  }
  get stdout() {
    return this.child?.stdout ?? null;
  }
  get stderr() {
    return this.child?.stderr ?? null;
  }

  /** The runtime's argv (e.g. `bwrap ... -- cmd`). */
  protected abstract runtimeArgv(): string[];
  /** Pipes the runtime gets after stdin/stdout/stderr, as fd 3, 4, ... */
  protected abstract extraPipes(): number;
  /** Processes the runtime itself keeps in the agent's cgroup, on top of the card's max_processes. */
  protected abstract runtimeProcesses(): number;
  /** stdin, stdout, stderr of the runtime process. */
  protected stdio(): StdioOptions {
    const out = this.spec.stdio;
    if (typeof out === "object") {
      const log = this.openForChild(out.file, "a");
      return ["ignore", log, log];
    }
    return [out, out, out];
  }
  /** Files the runtime gets after its pipes, as the next fds. */
  protected extraFiles(): number[] {
    return [];
  }
  /** Opens a file for the child; paddock's own copy is closed once the child has it. */
  protected openForChild(path: string, flags: "a" | "w" | "r"): number {
    const fd = openSync(path, flags, 0o600);
    this.childFds.push(fd);
    return fd;
  }
  private childFds: number[] = [];
  /** RLIMIT_NOFILE set on the runtime process itself (bwrap passes it down); undefined when the runtime applies it inside. */
  protected launcherOpenFiles(): number | undefined {
    return this.spec.limits.maxOpenFiles;
  }
  /** Waits until the command runs inside; throws if the sandbox could not be set up. */
  protected abstract ready(child: ChildProcess): Promise<void>;
  /** Asks the workload to end (SIGTERM to every process inside but the runtime's own); returns how many got it. */
  protected abstract signalWorkload(signal: NodeJS.Signals): number;
  /** Ends every process of the sandbox at once. */
  protected abstract killTree(): void;
  /** Backend clean-up after the tree is gone. */
  protected abstract release(): Promise<void>;

  async start(): Promise<void> {
    if (this.child) throw new SandboxError("sandbox_started", `sandbox ${this.name} was already started`);
    const plan = planCgroups({ allowUnenforced: this.spec.allowUnenforcedLimits });
    const [file, ...args] = this.runtimeArgv();
    const limits = { ...this.spec.limits, maxProcesses: this.spec.limits.maxProcesses + this.runtimeProcesses() + this.spec.exits.length * BRIDGE_PROCESSES };
    this.cgroup = plan.create(this.name, limits);
    this.unenforced = ALL_LIMITS.filter((l) => !this.cgroup?.enforced.includes(l));
    const stdio: StdioOptions = [...(this.stdio() as unknown[]), ...Array<"pipe">(this.extraPipes()).fill("pipe"), ...this.extraFiles()] as StdioOptions;
    this.startedAt = performance.now();
    const child = spawn("/bin/sh", ["-c", launcher(this.launcherOpenFiles(), this.cgroup?.procsFiles ?? []), "paddock-sandbox", file!, ...args], {
      env: this.spec.env,
      stdio,
      // A sandbox meant to outlive paddock gets a session of its own, out of reach of paddock's terminal signals.
      detached: !this.spec.dieWithParent,
    });
    this.child = child;
    for (const fd of this.childFds.splice(0)) closeSync(fd);
    // The runtime closes its control pipes (info, block) when done with them; a reset there is not an error.
    for (const stream of child.stdio.slice(3)) stream?.on("error", () => undefined);
    this.exited = new Promise<ExitReport>((resolve) => {
      child.once("error", () => undefined);
      child.once("exit", (code, signal) => void this.finish(code, signal).then(resolve));
    });
    try {
      await Promise.race([
        this.ready(child),
        this.exited.then((report) => {
          throw new SandboxError(
            "sandbox_start_failed",
            `the ${this.backend} sandbox could not start (exit ${report.code ?? report.signal}); its own message is above`,
            this.name,
          );
        }),
      ]);
    } catch (err) {
      this.killTree();
      await this.exited;
      throw err;
    }
    if (this.spec.ttlSeconds > 0) {
      this.ttlTimer = setTimeout(() => this.end("ttl"), this.spec.ttlSeconds * 1000);
    }
  }

  wait(): Promise<ExitReport> {
    if (!this.exited) throw new SandboxError("sandbox_not_started", `sandbox ${this.name} was not started`);
    return this.exited;
  }

  async stop(graceMs = 10_000): Promise<ExitReport> {
    const exited = this.wait();
    if (this.child?.exitCode !== null || this.child.signalCode !== null) return exited;
    this.cause ??= "stopped";
    const deadline = performance.now() + graceMs;
    // Right after start the command may not exist yet (the runtime forks it a moment later): signal until it is reached.
    let finished = false;
    void exited.then(() => (finished = true));
    while (this.signalWorkload("SIGTERM") === 0 && !finished && performance.now() < deadline) await sleep(10);
    const done = await Promise.race([exited, sleep(Math.max(0, deadline - performance.now())).then(() => undefined)]);
    if (!done) this.killTree();
    return exited;
  }

  stats(): SandboxStats {
    const running = !!this.child && this.child.exitCode === null && this.child.signalCode === null;
    return { running, pid: this.child?.pid, uptimeMs: performance.now() - this.startedAt, ...this.cgroup?.usage() };
  }

  private end(cause: ExitCause): void {
    this.cause ??= cause;
    this.killTree();
  }

  private async finish(code: number | null, signal: NodeJS.Signals | null): Promise<ExitReport> {
    clearTimeout(this.ttlTimer);
    const durationMs = Math.round(performance.now() - this.startedAt);
    const oomKills = this.cgroup?.oomKills() ?? 0;
    const memoryPeakBytes = this.cgroup?.usage().memoryPeakBytes;
    // The kernel kills the largest process, not the sandbox: it is an OOM exit when that took the command down.
    const killed = signal === "SIGKILL" || code === 128 + constants.signals.SIGKILL;
    const cause: ExitCause = this.cause ?? (oomKills > 0 && killed ? "oom" : signal ? "signaled" : "exited");
    const cgroup = this.cgroup;
    cgroup?.killAll();
    await cgroup?.remove().catch(() => {
      // Dead processes the host's init has not reaped yet still hold it: the report does not wait for them, the cleanup does.
      void cgroup.remove(60_000).catch(() => undefined);
    });
    await this.release();
    return { cause, code: cause === "exited" || cause === "oom" ? code : null, signal, durationMs, memoryPeakBytes, oomKills };
  }
}

/**
 * The few steps that must happen in the launched process itself before the
 * runtime starts: the open-files limit, and joining the agent's cgroup so that
 * everything the runtime forks is counted from its first instruction.
 */
function launcher(maxOpenFiles: number | undefined, procsFiles: string[]): string {
  const join = procsFiles.map((f) => `echo $$ > ${shellQuote(f)}`).join(" && ");
  return [maxOpenFiles ? `ulimit -n ${maxOpenFiles} || exit 125` : "", join ? `{ ${join}; } || exit 125` : "", 'exec "$@"'].filter(Boolean).join("\n");
}

/** A word for `sh -c`: single-quoted, with its own single quotes escaped. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
