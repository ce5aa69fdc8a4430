import type { ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { startBridges, stopBridges } from "./bridge.js";
import { BWRAP, hostProgram, NSENTER, SOCAT, userNamespaceProblem } from "./host.js";
import { filesystemLayout, SANDBOX_UID, type FsEntry } from "./layout.js";
import { processesInNamespace, signal } from "./pidns.js";
import { RuntimeSandbox } from "./runner.js";
import { SandboxError, type SandboxSpec } from "./types.js";

const INFO_FD = 3;
const BLOCK_FD = 4;

/**
 * bubblewrap: new user, pid, net, ipc, uts and cgroup namespaces; an empty
 * root holding only what the layout names; no capabilities; no new privileges
 * (bwrap always sets it); its own session; loopback only.
 */
export class BwrapSandbox extends RuntimeSandbox {
  readonly backend = "bwrap" as const;
  private readonly bwrap: string;
  private readonly bridgeTools?: { nsenter: string; socat: string };
  private initPid?: number;
  private bridges: ChildProcess[] = [];

  constructor(spec: SandboxSpec) {
    super(spec);
    this.bwrap = hostProgram(BWRAP);
    if (spec.exits.length > 0) this.bridgeTools = { nsenter: hostProgram(NSENTER), socat: hostProgram(SOCAT) };
  }

  protected runtimeArgv(): string[] {
    const s = this.spec;
    const args = [
      this.bwrap,
      "--unshare-all",
      "--unshare-user",
      "--disable-userns",
      "--uid", String(SANDBOX_UID),
      "--gid", String(SANDBOX_UID),
      "--hostname", s.agentId,
      "--new-session",
      "--cap-drop", "ALL",
      ...(s.dieWithParent ? ["--die-with-parent"] : []),
      "--info-fd", String(INFO_FD),
      ...(s.exits.length > 0 ? ["--block-fd", String(BLOCK_FD)] : []),
      ...(s.statusFile ? ["--json-status-fd", String(3 + this.extraPipes())] : []),
      // The filter is applied last, right before the command runs: bwrap's own setup is not filtered, everything after it is.
      ...(s.seccomp.programFile ? ["--seccomp", String(3 + this.extraPipes() + (s.statusFile ? 1 : 0))] : []),
      "--proc", "/proc",
      "--dev", "/dev",
      ...filesystemLayout(s).flatMap(toArgs),
      // The root itself is a tmpfs; make it read-only so nothing is written outside the mounts meant for it.
      "--remount-ro", "/",
      "--chdir", s.cwd,
      "--",
      ...s.command,
    ];
    return args;
  }

  protected extraPipes(): number {
    return this.spec.exits.length > 0 ? 2 : 1;
  }

  protected override extraFiles(): number[] {
    const { statusFile, seccomp } = this.spec;
    return [...(statusFile ? [this.openForChild(statusFile, "w")] : []), ...(seccomp.programFile ? [this.openForChild(seccomp.programFile, "r")] : [])];
  }

  protected runtimeProcesses(): number {
    return 2; // bwrap's monitor outside and its init (pid 1) inside
  }

  protected async ready(child: ChildProcess): Promise<void> {
    const info = await readInfo(child.stdio[INFO_FD] as Readable).catch((err: unknown) => {
      throw userNamespaceProblem() ?? err;
    });
    this.initPid = info;
    if (this.bridgeTools) {
      this.bridges = await startBridges(info, this.spec.exits, this.bridgeTools, this.spec.dieWithParent, this.cgroup?.procsFiles ?? []);
      (child.stdio[BLOCK_FD] as Writable).end("go");
    }
  }

  protected signalWorkload(sig: NodeJS.Signals): number {
    return this.initPid ? signal(processesInNamespace(this.initPid), sig) : 0;
  }

  protected killTree(): void {
    // Killing a pid namespace's init takes every process of the namespace with it.
    if (this.initPid) signal([this.initPid], "SIGKILL");
    if (this.child?.pid) signal([this.child.pid], "SIGKILL");
    this.cgroup?.killAll();
  }

  protected async release(): Promise<void> {
    await stopBridges(this.bridges);
  }
}

function toArgs(entry: FsEntry): string[] {
  switch (entry.type) {
    case "bind":
      return [entry.readOnly ? "--ro-bind" : "--bind", entry.source, entry.target];
    case "symlink":
      return ["--symlink", entry.linkTo, entry.path];
    case "tmpfs":
      return ["--tmpfs", entry.path];
  }
}

/** bwrap writes `{"child-pid": N, ...}` to the info fd once the namespaces exist. */
function readInfo(stream: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const pid = /"child-pid":\s*(\d+)/.exec(text)?.[1];
      if (pid) {
        stream.off("data", onData);
        stream.resume();
        resolve(Number(pid));
      }
    };
    stream.on("data", onData);
    stream.once("end", () => reject(new SandboxError("sandbox_start_failed", "bubblewrap exited before the sandbox was ready; its own message is above")));
  });
}
