import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startBridges, stopBridges } from "./bridge.js";
import { hostProgram, IP, NSENTER, RUNSC, SOCAT } from "./host.js";
import { ociProfile } from "../seccomp/index.js";
import { filesystemLayout, SANDBOX_UID, type FsEntry } from "./layout.js";
import { signal } from "./pidns.js";
import { RuntimeSandbox } from "./runner.js";
import { runscProblem } from "./runsc-check.js";
import { SandboxError, type SandboxSpec } from "./types.js";

/**
 * gVisor: the same layout, limits and exit report as bwrap, with gVisor's
 * user-space kernel between the agent and the host. paddock writes an OCI
 * bundle (an empty read-only root, the layout's binds) and runs `runsc run`
 * inside the agent's own cgroup, so runsc's cgroup handling is switched off.
 *
 * Network exits: a sandbox with exits gets a network namespace of its own
 * holding only loopback, and gVisor's host network mode inside it, so the
 * agent's sockets are that namespace's. The same socat bridges as under bwrap
 * listen there; an OCI createRuntime hook holds the agent's first instruction
 * until they do. Without exits the sandbox has gVisor's own loopback only.
 */
export class GvisorSandbox extends RuntimeSandbox {
  readonly backend = "gvisor" as const;
  private readonly runsc: string;
  private readonly stateDir: string;
  private readonly bridgeTools?: { nsenter: string; socat: string; ip: string };
  private forwarded: Promise<void>[] = [];
  private bridges: ChildProcess[] = [];

  constructor(spec: SandboxSpec) {
    super(spec);
    if (spec.exits.length > 0) this.bridgeTools = { nsenter: hostProgram(NSENTER), socat: hostProgram(SOCAT), ip: hostProgram(IP) };
    this.runsc = hostProgram(RUNSC);
    const problem = runscProblem(this.runsc, dirname(spec.runDir));
    if (problem) throw problem;
    this.stateDir = join(dirname(spec.runDir), ".runsc");
  }

  protected runtimeArgv(): string[] {
    try {
      writeBundle(this.spec);
    } catch (err) {
      rmSync(this.spec.runDir, { recursive: true, force: true });
      throw new SandboxError("bundle_failed", `cannot write the OCI bundle: ${(err as Error).message}`, this.spec.runDir);
    }
    return [this.runsc, "--root", this.stateDir, `--network=${this.bridgeTools ? "host" : "none"}`, "--ignore-cgroups", ...(this.spec.seccomp.profile === "unconfined" ? [] : ["--oci-seccomp"]), "run", "--bundle", this.spec.runDir, this.name];
  }

  protected extraPipes(): number {
    return 0;
  }

  protected runtimeProcesses(): number {
    // The sentry and gofer are Go programs whose threads count as tasks (the gofer keeps a few per mount); the card's own limit is applied inside as RLIMIT_NPROC.
    return 4096;
  }

  protected override launcherOpenFiles(): number | undefined {
    return undefined;
  }

  /** runsc writes to a regular file at offsets of its own, clobbering earlier output: give it pipes and forward them. */
  protected override stdio(): StdioOptions {
    return this.spec.stdio === "inherit" ? ["inherit", "pipe", "pipe"] : super.stdio();
  }

  protected async ready(child: ChildProcess): Promise<void> {
    if (this.spec.stdio === "inherit") {
      this.forwarded = [forward(child.stdout!, process.stdout), forward(child.stderr!, process.stderr)];
    }
    if (this.bridgeTools) await this.openExits(child, this.bridgeTools);
    const stateFile = join(this.stateDir, `${this.name}_sandbox:${this.name}.state`);
    while (child.exitCode === null) {
      try {
        if (readFileSync(stateFile, "utf8").includes('"status":"running"')) return;
      } catch {
        // not written yet
      }
      await sleep(2);
    }
  }

  /** Once the hook reports the sandbox's pid: loopback up in its namespace, the bridges listening there, then the hook lets the agent start. */
  private async openExits(child: ChildProcess, tools: { nsenter: string; socat: string; ip: string }): Promise<void> {
    const hook = exitsHook(this.spec.runDir);
    let pid: number | undefined;
    while (pid === undefined) {
      if (child.exitCode !== null) return;
      try {
        pid = (JSON.parse(readFileSync(hook.state, "utf8")) as { pid: number }).pid;
      } catch {
        await sleep(2);
      }
    }
    const lo = spawnSync(tools.nsenter, [`--net=/proc/${pid}/ns/net`, "--", tools.ip, "link", "set", "lo", "up"], { encoding: "utf8" });
    if (lo.status !== 0) throw new SandboxError("exit_bridge_failed", `could not bring up loopback in the sandbox's network namespace: ${lo.stderr.trim() || lo.error?.message}`, "exits");
    this.bridges = await startBridges(pid, this.spec.exits, tools, this.spec.dieWithParent, this.cgroup?.procsFiles ?? []);
    await writeFile(hook.go, "go\n");
  }

  protected signalWorkload(sig: NodeJS.Signals): number {
    spawn(this.runsc, ["--root", this.stateDir, "kill", "--all", this.name, sig.replace(/^SIG/, "")], { stdio: "ignore" });
    return 1;
  }

  protected killTree(): void {
    if (this.cgroup) this.cgroup.killAll();
    else if (this.child?.pid) signal([this.child.pid], "SIGKILL");
  }

  protected async release(): Promise<void> {
    await stopBridges(this.bridges);
    await Promise.all(this.forwarded);
    await new Promise((resolve) => spawn(this.runsc, ["--root", this.stateDir, "delete", "--force", this.name], { stdio: "ignore" }).once("exit", resolve).once("error", resolve));
    rmSync(this.spec.runDir, { recursive: true, force: true });
  }
}

function forward(from: Readable, to: Writable): Promise<void> {
  from.pipe(to, { end: false });
  return new Promise((resolve) => from.once("close", resolve));
}

/** The files of the createRuntime hook: where it writes the OCI state (with the sandbox's pid), and the FIFO it waits on. */
function exitsHook(runDir: string): { state: string; go: string } {
  return { state: join(runDir, "exits-state.json"), go: join(runDir, "exits-go") };
}

/** runsc runs it on the host once the sandbox's namespaces exist, before the agent's process starts; a hook that fails (no "go") stops the start. */
function exitsHookSpec(runDir: string): object {
  const { state, go } = exitsHook(runDir);
  const made = spawnSync("mkfifo", ["-m", "600", go], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`mkfifo ${go}: ${made.stderr.trim() || made.error?.message}`);
  const script = 'cat > "$1.tmp" && mv "$1.tmp" "$1" && read -r go < "$2" && [ "$go" = go ]';
  return { createRuntime: [{ path: "/bin/sh", args: ["sh", "-c", script, "paddock-exits", state, go], env: ["PATH=/usr/bin:/bin"], timeout: 30 }] };
}

/** Where ids 0-999 of a gVisor sandbox land on the host: a range no account uses (like the subordinate ids of /etc/subuid). */
const UNUSED_HOST_IDS = 2_000_000_000;

function writeBundle(spec: SandboxSpec): void {
  const rootfs = join(spec.runDir, "rootfs");
  const layout = filesystemLayout(spec);
  mkdirSync(rootfs, { recursive: true });
  for (const dir of ["proc", "dev", "tmp", "etc"]) mkdirSync(join(rootfs, dir), { recursive: true });
  for (const entry of layout) makeMountPoint(rootfs, entry);
  // The agent is uid 1000 inside, as under bwrap, mapped to paddock's own uid (which owns the workspace and HOME). runsc wants a
  // root inside too: ids 0-999 map to an unused host range, so nothing the sandbox's root could own is anything of the host's.
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const config = {
    ociVersion: "1.0.2",
    process: {
      user: { uid: SANDBOX_UID, gid: SANDBOX_UID },
      args: spec.command,
      env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      cwd: spec.cwd,
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      rlimits: [
        { type: "RLIMIT_NOFILE", hard: spec.limits.maxOpenFiles, soft: spec.limits.maxOpenFiles },
        { type: "RLIMIT_NPROC", hard: spec.limits.maxProcesses, soft: spec.limits.maxProcesses },
      ],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    ...(spec.exits.length > 0 ? { hooks: exitsHookSpec(spec.runDir) } : {}),
    hostname: spec.agentId,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      ...layout.flatMap((entry) =>
        entry.type === "bind"
          ? [{ destination: entry.target, type: "bind", source: entry.source, options: ["rbind", entry.readOnly ? "ro" : "rw"] }]
          : entry.type === "tmpfs"
            ? [{ destination: entry.path, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev"] }]
            : [],
      ),
    ],
    linux: {
      namespaces: ["pid", "network", "ipc", "uts", "mount", "user"].map((type) => ({ type })),
      uidMappings: [{ containerID: 0, hostID: UNUSED_HOST_IDS, size: SANDBOX_UID }, { containerID: SANDBOX_UID, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: UNUSED_HOST_IDS, size: SANDBOX_UID }, { containerID: SANDBOX_UID, hostID: gid, size: 1 }],
      // The same system call filter as under bwrap, applied by gVisor's kernel to the agent (runsc --oci-seccomp).
      ...(spec.seccomp.profile === "unconfined" ? {} : { seccomp: ociProfile(spec.seccomp.profile, "gvisor") }),
    },
  };
  // The bundle holds the agent's environment: readable by its owner only.
  writeFileSync(join(spec.runDir, "config.json"), JSON.stringify(config), { mode: 0o600 });
}

/** gVisor mounts onto a read-only root, so every mount point and symlink is made in the bundle's root beforehand. */
function makeMountPoint(rootfs: string, entry: FsEntry): void {
  if (entry.type === "symlink") {
    mkdirSync(join(rootfs, dirname(entry.path)), { recursive: true });
    symlinkSync(entry.linkTo, join(rootfs, entry.path));
    return;
  }
  const target = join(rootfs, entry.type === "bind" ? entry.target : entry.path);
  if (entry.type === "tmpfs" || statSync(entry.source).isDirectory()) {
    mkdirSync(target, { recursive: true });
  } else {
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, "");
  }
}
