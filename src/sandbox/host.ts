import { accessSync, constants, readFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxError } from "./types.js";

const SEARCH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

export interface HostProgram {
  /** Executable name, e.g. `bwrap`. */
  name: string;
  /** Environment variable that names its path instead of the PATH lookup. */
  override: string;
  install: string;
}

export const BWRAP: HostProgram = { name: "bwrap", override: "PADDOCK_BWRAP", install: "apt-get install bubblewrap (Debian, Ubuntu) or dnf install bubblewrap (Fedora)" };
export const RUNSC: HostProgram = { name: "runsc", override: "PADDOCK_RUNSC", install: "apt-get install runsc (Debian) or see gvisor.dev/docs/user_guide/install" };
export const SOCAT: HostProgram = { name: "socat", override: "PADDOCK_SOCAT", install: "apt-get install socat" };
export const IP: HostProgram = { name: "ip", override: "PADDOCK_IP", install: "apt-get install iproute2" };
export const NSENTER: HostProgram = { name: "nsenter", override: "PADDOCK_NSENTER", install: "apt-get install util-linux" };

/** Finds a program paddock runs on the host, or says how to install it. */
export function hostProgram(program: HostProgram, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[program.override];
  const dirs = [...(env.PATH ?? "").split(":").filter(Boolean), ...SEARCH];
  for (const candidate of explicit ? [explicit] : dirs.map((d) => join(d, program.name))) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new SandboxError(
    "host_program_missing",
    explicit ? `${program.override}=${explicit} is not an executable` : `${program.name} is not installed (looked in ${[...new Set(dirs)].join(":")})`,
    program.name,
    `install it: ${program.install}`,
  );
}

/** Why this host cannot create user namespaces for bwrap, if one of the known switches says so. */
export function userNamespaceProblem(): SandboxError | undefined {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8").trim();
    } catch {
      return undefined;
    }
  };
  const unprivileged = process.getuid?.() !== 0;
  if (read("/proc/sys/user/max_user_namespaces") === "0") {
    return new SandboxError("userns_disabled", "user namespaces are disabled on this host (user.max_user_namespaces = 0)", "host", "enable them: sysctl -w user.max_user_namespaces=15000, and persist it in /etc/sysctl.d/");
  }
  if (unprivileged && read("/proc/sys/kernel/unprivileged_userns_clone") === "0") {
    return new SandboxError("userns_disabled", "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)", "host", "enable them: sysctl -w kernel.unprivileged_userns_clone=1, or run paddock as root");
  }
  if (unprivileged && read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") === "1") {
    return new SandboxError("userns_restricted", "AppArmor restricts unprivileged user namespaces on this host", "host", "allow bwrap with an AppArmor profile (see the bubblewrap package's documentation), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0");
  }
  return undefined;
}
