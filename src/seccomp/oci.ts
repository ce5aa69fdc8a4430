import { EPERM, ENOSYS } from "./bpf.js";
import { rulesFor, type SeccompProfile } from "./table.js";

/** One entry of an OCI (runc, gVisor, Kubernetes Localhost) seccomp profile. */
interface OciSyscall {
  names: string[];
  action: "SCMP_ACT_ERRNO";
  errnoRet: number;
  args?: Array<{ index: number; value: number; valueTwo: number; op: "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ" | "SCMP_CMP_GE" }>;
}

/**
 * The same profile in the OCI runtime spec's format (Docker's seccomp JSON):
 * what a Kubernetes `seccompProfile: Localhost` names and what runsc loads
 * with --oci-seccomp. Entries are alternatives: a call is denied when any
 * matches, so "any of these bits" is one entry a bit, and "unless one of"
 * becomes the values around them (or the rule's `ociDenyBits`).
 */
export function ociProfile(profile: Exclude<SeccompProfile, "unconfined">): Record<string, unknown> {
  const syscalls: OciSyscall[] = [];
  const deny = (name: string, errnoRet = EPERM, args?: OciSyscall["args"]) => syscalls.push({ names: [name], action: "SCMP_ACT_ERRNO", errnoRet, ...(args ? { args } : {}) });
  for (const rule of rulesFor(profile, "x86_64").concat(rulesFor(profile, "aarch64").filter((r) => r.nr.x86_64 === undefined))) {
    const j = rule.judgement;
    const bits = j.deny === "bits" ? j.mask : j.deny === "unless" && rule.ociDenyBits !== undefined ? rule.ociDenyBits : undefined;
    if (j.deny === "always") {
      deny(rule.name);
    } else if (j.deny === "enosys") {
      deny(rule.name, ENOSYS);
    } else if (bits !== undefined) {
      for (let bit = 1; bit !== 0 && bit <= bits; bit = (bit << 1) >>> 0) {
        if (bits & bit) deny(rule.name, EPERM, [{ index: j.arg, value: bit, valueTwo: bit, op: "SCMP_CMP_MASKED_EQ" }]);
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
