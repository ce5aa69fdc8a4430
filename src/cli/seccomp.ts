import type { Command } from "commander";
import { PaddockError } from "../errors/index.js";
import { hostArch, ociProfile, PROFILES, rulesFor, type SeccompProfile } from "../seccomp/index.js";
import { EXIT, report } from "./fail.js";

export function registerSeccomp(program: Command): void {
  const seccomp = program.command("seccomp").description("paddock's system call filters: what each profile denies and why");

  seccomp
    .command("show")
    .description("list the calls a profile denies, with the reason for each")
    .option("--profile <name>", `one of ${PROFILES.filter((p) => p !== "unconfined").join(", ")}`, "default")
    .option("--arch <arch>", "x86_64 or aarch64 (default: this host's)")
    .option("--json", "print the rules as JSON")
    .action((opts: { profile: string; arch?: string; json?: boolean }) => {
      try {
        const profile = filtering(opts.profile);
        const arch = opts.arch ?? hostArch();
        if (arch !== "x86_64" && arch !== "aarch64") throw new PaddockError("seccomp_arch_unsupported", `no filter for architecture '${arch ?? process.arch}'`, "--arch", "use x86_64 or aarch64");
        const rules = rulesFor(profile, arch).map((r) => ({ name: r.name, number: r.number, judgement: r.judgement, why: r.why }));
        if (opts.json) return void process.stdout.write(`${JSON.stringify(rules, null, 2)}\n`);
        for (const r of rules) process.stdout.write(`${r.name.padEnd(24)}${String(r.number).padStart(5)}  ${r.judgement.deny.padEnd(7)} ${r.why}\n`);
      } catch (err) {
        process.exitCode = report(err, EXIT.usage);
      }
    });

  seccomp
    .command("profile")
    .description("print a profile in the OCI runtime format (Docker's seccomp JSON): for runsc, or a Kubernetes seccompProfile of type Localhost")
    .option("--profile <name>", `one of ${PROFILES.filter((p) => p !== "unconfined").join(", ")}`, "default")
    .action((opts: { profile: string }) => {
      try {
        process.stdout.write(`${JSON.stringify(ociProfile(filtering(opts.profile)), null, 2)}\n`);
      } catch (err) {
        process.exitCode = report(err, EXIT.usage);
      }
    });
}

function filtering(name: string): Exclude<SeccompProfile, "unconfined"> {
  if (name === "default" || name === "strict") return name;
  throw new PaddockError("seccomp_profile_unknown", `'${name}' is not a filtering profile`, "--profile", "use default or strict (unconfined has no rules)");
}
