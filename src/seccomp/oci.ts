import { EPERM, ENOSYS } from "./bpf.js";
import { rulesFor, type SeccompProfile } from "./table.js";

const ALL_ONES = 0xffffffff;
/** The 32 single-bit values of an argument's low half. */
const BIT_VALUES = Array.from({ length: 32 }, (_, i) => (1 << i) >>> 0);

/** One entry of an OCI (runc, gVisor, Kubernetes Localhost) seccomp profile. */
interface OciSyscall {
  names: string[];
  action: "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE";
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo: number; op: "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ" | "SCMP_CMP_GE" }>;
}

/**
 * The same profile in the OCI runtime spec's format (Docker's seccomp JSON):
 * what a Kubernetes `seccompProfile: Localhost` names and what runsc loads
 * with --oci-seccomp. Entries are alternatives: a call is denied when any
 * matches, so "any of these bits" is one entry a bit, and "unless one of"
 * becomes the values around them (or the rule's `ociDenyBits`).
 *
 * runsc ignores `errnoRet` (every SCMP_ACT_ERRNO is EPERM there), so for
 * gVisor an ENOSYS rule becomes SCMP_ACT_TRACE: with no tracer, the kernel
 * (gVisor's too) answers ENOSYS without running the call. clone3 given EPERM
 * instead would stop the C library's fallback to clone, and threads with it.
 */
export function ociProfile(profile: Exclude<SeccompProfile, "unconfined">, runtime: "runc" | "gvisor" = "runc"): Record<string, unknown> {
  const syscalls: OciSyscall[] = [];
  const deny = (name: string, errnoRet = EPERM, args?: OciSyscall["args"]) =>
    syscalls.push({ names: [name], ...(errnoRet === ENOSYS && runtime === "gvisor" ? { action: "SCMP_ACT_TRACE" } : { action: "SCMP_ACT_ERRNO", errnoRet }), ...(args ? { args } : {}) });
  for (const rule of rulesFor(profile, "x86_64").concat(rulesFor(profile, "aarch64").filter((r) => r.nr.x86_64 === undefined))) {
    const j = rule.judgement;
    const bits = j.deny === "bits" ? j.mask : j.deny === "unless" && rule.ociDenyBits !== undefined ? rule.ociDenyBits : undefined;
    if (j.deny === "always") {
      deny(rule.name);
    } else if (j.deny === "enosys") {
      deny(rule.name, ENOSYS);
    } else if (bits !== undefined) {
      // A rule that lets the all-ones value through (personality's query) denies a bit only when another bit is clear:
      // comparisons of one argument are ORed in an OCI profile, so "and not all ones" is spelled out bit by bit.
      const others = j.deny === "unless" && j.values.includes(ALL_ONES) ? BIT_VALUES : [0];
      for (const bit of BIT_VALUES) {
        if (!(bits & bit)) continue;
        for (const other of others) {
          if (other !== bit) deny(rule.name, EPERM, [{ index: j.arg, value: (bit | other) >>> 0, valueTwo: bit, op: "SCMP_CMP_MASKED_EQ" }]);
        }
      }
    } else if (j.deny === "values") {
      for (const v of j.values) deny(rule.name, EPERM, [{ index: j.arg, value: v, valueTwo: 0, op: "SCMP_CMP_EQ" }]);
    } else if (j.deny === "unless") {
      const top = Math.max(...j.values);
      for (let v = 0; v < top; v++) if (!j.values.includes(v)) deny(rule.name, EPERM, [{ index: j.arg, value: v, valueTwo: 0, op: "SCMP_CMP_EQ" }]);
      deny(rule.name, EPERM, [{ index: j.arg, value: top + 1, valueTwo: 0, op: "SCMP_CMP_GE" }]);
    }
  }
  return { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"], syscalls };
}
