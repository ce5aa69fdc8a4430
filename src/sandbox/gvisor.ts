import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hostProgram, RUNSC } from "./host.js";
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
 */
export class GvisorSandbox extends RuntimeSandbox {
  readonly backend = "gvisor" as const;
  private readonly runsc: string;
  private readonly stateDir: string;
  private forwarded: Promise<void>[] = [];

  constructor(spec: SandboxSpec) {
    super(spec);
    if (spec.exits.length > 0) {
      throw new SandboxError("backend_unsupported", "the gvisor backend has no network exits yet: use the bwrap backend for agents with exits", "backend");
    }
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
    return [this.runsc, "--root", this.stateDir, "--network=none", "--ignore-cgroups", ...(this.spec.seccomp.profile === "unconfined" ? [] : ["--oci-seccomp"]), "run", "--bundle", this.spec.runDir, this.name];
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

  protected signalWorkload(sig: NodeJS.Signals): number {
    spawn(this.runsc, ["--root", this.stateDir, "kill", "--all", this.name, sig.replace(/^SIG/, "")], { stdio: "ignore" });
    return 1;
  }

  protected killTree(): void {
    if (this.cgroup) this.cgroup.killAll();
    else if (this.child?.pid) signal([this.child.pid], "SIGKILL");
  }

  protected async release(): Promise<void> {
    await Promise.all(this.forwarded);
    await new Promise((resolve) => spawn(this.runsc, ["--root", this.stateDir, "delete", "--force", this.name], { stdio: "ignore" }).once("exit", resolve).once("error", resolve));
    rmSync(this.spec.runDir, { recursive: true, force: true });
  }
}

function forward(from: Readable, to: Writable): Promise<void> {
  from.pipe(to, { end: false });
  return new Promise((resolve) => from.once("close", resolve));
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
      ...(spec.seccomp.profile === "unconfined" ? {} : { seccomp: ociProfile(spec.seccomp.profile) }),
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
