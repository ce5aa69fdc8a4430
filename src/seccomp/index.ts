import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PaddockError } from "../errors/index.js";
import { compile, encode } from "./bpf.js";
import type { SeccompArch, SeccompProfile } from "./table.js";

/**
 * paddock's seccomp profiles: one declarative table (`table.ts`) compiled to
 * classic BPF for bubblewrap (`--seccomp FD`) and rendered as an OCI profile
 * for runsc and Kubernetes.
 */
export { ARCHITECTURES, PROFILES, RULES, rulesFor, type SeccompArch, type SeccompProfile, type SyscallRule } from "./table.js";
export { compile, encode, ENOSYS, EPERM, type Instruction } from "./bpf.js";
export { ociProfile } from "./oci.js";

export class SeccompError extends PaddockError {}

/** This host's architecture as the table names it; undefined where paddock has no numbers for it. */
export function hostArch(arch: string = process.arch): SeccompArch | undefined {
  return arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : undefined;
}

/** The compiled filter of a profile for this host, in a content-addressed file of the cache (written once). */
export function seccompProgramFile(profile: Exclude<SeccompProfile, "unconfined">, cacheDir: string): string {
  const arch = hostArch();
  if (!arch) throw new SeccompError("seccomp_arch_unsupported", `paddock has no seccomp filter for ${process.arch}`, "seccomp", "set `seccomp: unconfined` in the card and pass --allow-unconfined-seccomp (x86-64 and aarch64 are supported)");
  const bytes = encode(compile(profile, arch));
  const file = join(cacheDir, "seccomp", `${profile}-${arch}-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.bpf`);
  if (!existsSync(file)) {
    mkdirSync(join(cacheDir, "seccomp"), { recursive: true });
    const partial = `${file}.${process.pid}`;
    writeFileSync(partial, bytes, { mode: 0o644 });
    renameSync(partial, file);
  }
  return file;
}

/** What the kernel offers: seccomp filters at all, and the errno action paddock's profiles use. */
export function kernelSeccomp(): { filters: boolean; errno: boolean } {
  try {
    const actions = readFileSync("/proc/sys/kernel/seccomp/actions_avail", "utf8").split(/\s+/);
    return { filters: true, errno: actions.includes("errno") };
  } catch {
    return { filters: /^Seccomp:/m.test(readFileSync("/proc/self/status", "utf8")), errno: false };
  }
}
