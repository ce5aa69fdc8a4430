/**
 * The one list paddock's seccomp profiles are made from: every system call a
 * sandbox may not make, why, and its number on each architecture (from the
 * kernel's unistd headers; a test checks them against this host's). A call
 * not named here is allowed, except calls newer than the newest number known
 * here, which fail with ENOSYS (as Docker's allowlist does to them) so that
 * libraries fall back to the older call they replace.
 */

export const PROFILES = ["default", "strict", "unconfined"] as const;
export type SeccompProfile = (typeof PROFILES)[number];
export const ARCHITECTURES = ["x86_64", "aarch64"] as const;
export type SeccompArch = (typeof ARCHITECTURES)[number];

/** How a call is judged: always denied, or by one argument's low 32 bits. */
export type Judgement =
  | { deny: "always" }
  /** Denied when the argument has any of these bits. */
  | { deny: "bits"; arg: number; mask: number }
  /** Denied when the argument is one of these values. */
  | { deny: "values"; arg: number; values: number[] }
  /** Denied unless the argument is one of these values. */
  | { deny: "unless"; arg: number; values: number[] }
  /** Fails with ENOSYS: its arguments are in memory a filter cannot read, and callers fall back to an older call. */
  | { deny: "enosys" };

export interface SyscallRule {
  name: string;
  nr: Partial<Record<SeccompArch, number>>;
  judgement: Judgement;
  /** For an OCI profile (gVisor, Kubernetes), which cannot say "unless one of": deny when any of these bits is set. */
  ociDenyBits?: number;
  /** The profiles that deny it (strict denies all that default does, and more). */
  profiles: Array<Exclude<SeccompProfile, "unconfined">>;
  why: string;
}

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const CLONE_NEWTIME = 0x00000080;
export const NEW_NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

const both = ["default", "strict"] as Array<"default" | "strict">;
const strictOnly = ["strict"] as Array<"default" | "strict">;
const always = { deny: "always" } as const;

/** [name, x86_64 number, aarch64 number, why]: denied outright in both profiles. */
const DENIED: Array<[string, number | undefined, number | undefined, string]> = [
  // The io_uring, eBPF, keyring, perf and userfaultfd interfaces are behind most recent local privilege escalations; no coding tool needs them.
  ["io_uring_setup", 425, 425, "io_uring: a second system call interface, behind many kernel exploits"],
  ["io_uring_enter", 426, 426, "io_uring"],
  ["io_uring_register", 427, 427, "io_uring"],
  ["bpf", 321, 280, "eBPF programs run in the kernel"],
  ["userfaultfd", 323, 282, "lets a process stall the kernel mid-copy: a staple of race exploits"],
  ["keyctl", 250, 219, "the kernel keyring is not namespaced"],
  ["add_key", 248, 217, "the kernel keyring"],
  ["request_key", 249, 218, "the kernel keyring"],
  ["perf_event_open", 298, 241, "performance events: kernel pointers and a long history of bugs"],
  // The mount API, namespaces and root changes: the sandbox's shape is paddock's to set.
  ["mount", 165, 40, "changes the sandbox's filesystem"],
  ["umount2", 166, 39, "changes the sandbox's filesystem"],
  ["pivot_root", 155, 41, "changes the sandbox's root"],
  ["chroot", 161, 51, "changes the root"],
  ["fsopen", 430, 430, "the new mount API"],
  ["fsconfig", 431, 431, "the new mount API"],
  ["fsmount", 432, 432, "the new mount API"],
  ["fspick", 433, 433, "the new mount API"],
  ["open_tree", 428, 428, "the new mount API"],
  ["move_mount", 429, 429, "the new mount API"],
  ["mount_setattr", 442, 442, "the new mount API"],
  ["setns", 308, 268, "joins other namespaces"],
  // Kernel modules, kexec, reboot, clocks, swap, quotas, accounting: the host's, not an agent's.
  ["init_module", 175, 105, "loads kernel code"],
  ["finit_module", 313, 273, "loads kernel code"],
  ["delete_module", 176, 106, "unloads kernel code"],
  ["create_module", 174, undefined, "kernel modules (obsolete)"],
  ["query_module", 178, undefined, "kernel modules (obsolete)"],
  ["get_kernel_syms", 177, undefined, "kernel symbols (obsolete)"],
  ["kexec_load", 246, 104, "replaces the running kernel"],
  ["kexec_file_load", 320, 294, "replaces the running kernel"],
  ["reboot", 169, 142, "reboots the host"],
  ["settimeofday", 164, 170, "the host's clock"],
  ["clock_settime", 227, 112, "the host's clock"],
  ["clock_adjtime", 305, 266, "the host's clock"],
  ["swapon", 167, 224, "the host's swap"],
  ["swapoff", 168, 225, "the host's swap"],
  ["quotactl", 179, 60, "filesystem quotas"],
  ["quotactl_fd", 443, 443, "filesystem quotas"],
  ["acct", 163, 89, "process accounting"],
  ["syslog", 103, 116, "the kernel log: kernel addresses"],
  ["vhangup", 153, 58, "hangs up the terminal"],
  ["lookup_dcookie", 212, 18, "kernel profiling"],
  ["nfsservctl", 180, 42, "the kernel NFS server (removed)"],
  ["uselib", 134, undefined, "the a.out loader (obsolete)"],
  ["_sysctl", 156, undefined, "kernel parameters (obsolete)"],
  ["ustat", 136, undefined, "filesystem statistics (obsolete)"],
  ["sysfs", 139, undefined, "filesystem types (obsolete)"],
  // Reaching into other processes and the kernel's memory placement.
  ["process_vm_readv", 310, 270, "reads another process's memory"],
  ["process_vm_writev", 311, 271, "writes another process's memory"],
  ["kcmp", 312, 272, "compares kernel objects of other processes"],
  ["pidfd_getfd", 438, 438, "takes another process's file descriptors"],
  ["process_madvise", 440, 440, "advises on another process's memory"],
  ["name_to_handle_at", 303, 264, "file handles bypass path checks"],
  ["open_by_handle_at", 304, 265, "file handles bypass path checks (the 'shocker' escape)"],
  ["fanotify_init", 300, 262, "watches the whole filesystem"],
  ["mbind", 237, 235, "NUMA memory placement"],
  ["set_mempolicy", 238, 237, "NUMA memory placement"],
  ["set_mempolicy_home_node", 450, 450, "NUMA memory placement"],
  ["get_mempolicy", 239, 236, "NUMA memory placement"],
  ["move_pages", 279, 239, "moves another process's pages"],
  ["migrate_pages", 256, 238, "moves another process's pages"],
  // x86 only: direct hardware and segment access.
  ["iopl", 172, undefined, "raw I/O port access"],
  ["ioperm", 173, undefined, "raw I/O port access"],
  ["modify_ldt", 154, undefined, "the local descriptor table: old exploits, no modern use"],
];

const PTRACE_ATTACH = 16;
const PTRACE_SEIZE = 0x4206;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
/** ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO, ADDR_COMPAT_LAYOUT, READ_IMPLIES_EXEC, ADDR_LIMIT_32BIT, ADDR_LIMIT_3GB. */
const WEAKENING_PERSONALITY = 0x0040000 | 0x0100000 | 0x0200000 | 0x0400000 | 0x0800000 | 0x8000000;
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;

export const RULES: SyscallRule[] = [
  ...DENIED.map(([name, x86_64, aarch64, why]): SyscallRule => ({ name, nr: { ...(x86_64 === undefined ? {} : { x86_64 }), ...(aarch64 === undefined ? {} : { aarch64 }) }, judgement: always, profiles: both, why })),
  { name: "clone", nr: { x86_64: 56, aarch64: 220 }, judgement: { deny: "bits", arg: 0, mask: NEW_NAMESPACES }, profiles: both, why: "new namespaces: the sandbox's are paddock's (threads and processes are fine)" },
  { name: "unshare", nr: { x86_64: 272, aarch64: 97 }, judgement: { deny: "bits", arg: 0, mask: NEW_NAMESPACES | CLONE_NEWTIME }, profiles: both, why: "new namespaces (unsharing files or fs is fine)" },
  { name: "clone3", nr: { x86_64: 435, aarch64: 435 }, judgement: { deny: "enosys" }, profiles: both, why: "its flags are in memory a filter cannot read: ENOSYS, so the C library falls back to clone, whose flags are checked" },
  { name: "ptrace", nr: { x86_64: 101, aarch64: 117 }, judgement: { deny: "values", arg: 0, values: [PTRACE_ATTACH, PTRACE_SEIZE] }, profiles: both, why: "attaching to a running process; a debugger starting its own child (PTRACE_TRACEME) still works" },
  { name: "personality", nr: { x86_64: 135, aarch64: 92 }, judgement: { deny: "unless", arg: 0, values: [0x0, 0x8, 0x20000, 0x20008, 0xffffffff] }, ociDenyBits: WEAKENING_PERSONALITY, profiles: both, why: "personalities that weaken ASLR (ADDR_NO_RANDOMIZE) or map page zero; querying and the plain Linux ones are fine (Docker's values)" },
  { name: "ioctl", nr: { x86_64: 16, aarch64: 29 }, judgement: { deny: "values", arg: 1, values: [TIOCSTI, TIOCLINUX] }, profiles: both, why: "typing into a terminal another process reads" },
  { name: "socket", nr: { x86_64: 41, aarch64: 198 }, judgement: { deny: "unless", arg: 0, values: [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK] }, profiles: strictOnly, why: "strict: only local, IP and netlink sockets (no packet, vsock, bluetooth, alg ...)" },
  { name: "ptrace", nr: { x86_64: 101, aarch64: 117 }, judgement: always, profiles: strictOnly, why: "strict: no tracing at all" },
  { name: "personality", nr: { x86_64: 135, aarch64: 92 }, judgement: { deny: "unless", arg: 0, values: [0x0, 0xffffffff] }, ociDenyBits: WEAKENING_PERSONALITY | 0x8 | 0x20000, profiles: strictOnly, why: "strict: plain Linux only" },
];

/** The newest system call number these headers know, per architecture: anything above fails with ENOSYS. */
export const NEWEST_KNOWN: Record<SeccompArch, number> = { x86_64: 450, aarch64: 450 };

/** The rules of a profile on an architecture: one per call (a strict-only rule, listed later, replaces the one both profiles share). */
export function rulesFor(profile: Exclude<SeccompProfile, "unconfined">, arch: SeccompArch): Array<SyscallRule & { number: number }> {
  const chosen = new Map<string, SyscallRule & { number: number }>();
  for (const rule of RULES) {
    const number = rule.nr[arch];
    if (number === undefined || !rule.profiles.includes(profile)) continue;
    chosen.set(rule.name, { ...rule, number });
  }
  return [...chosen.values()];
}
