import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { PaddockError } from "../errors/index.js";

const require = createRequire(import.meta.url);

/**
 * How to find an agent's native binary among paddock's npm dependencies. OpenCode's
 * platform packages are paddock's own (optional) dependencies: its wrapper package
 * lists every platform, which a registry mirror may not all carry, and `npm ci`
 * then refuses the lockfile.
 */
const PACKAGES = {
  opencode: { wrapper: undefined, platform: (arch: string, variant: string) => `opencode-linux-${arch}${variant}`, file: "bin/opencode" },
  "claude-code": { wrapper: "@anthropic-ai/claude-code", platform: (arch: string, variant: string) => `@anthropic-ai/claude-code-linux-${arch}${variant}`, file: "claude" },
} as const;

export type AgentBinaryKind = keyof typeof PACKAGES;

const found = new Map<AgentBinaryKind, string>();

/**
 * The agent's own binary from its npm package (a single executable needing
 * only libc), so it can be mounted into a sandbox as a tool. OpenCode ships a
 * "baseline" build for CPUs without AVX2; Claude Code a musl one.
 */
export function agentBinary(kind: AgentBinaryKind): string {
  const known = found.get(kind);
  if (known) return known;
  const pkg = PACKAGES[kind];
  const arch = process.arch === "x64" ? "x64" : process.arch;
  const variants = kind === "opencode" ? (cpuHasAvx2() ? ["", "-baseline"] : ["-baseline", ""]) : isMusl() ? ["-musl"] : [""];
  // Claude Code's platform packages are its wrapper's optional dependencies: found from there.
  let wrapperDir: string | undefined;
  try {
    wrapperDir = pkg.wrapper && dirname(require.resolve(`${pkg.wrapper}/package.json`));
  } catch {
    // not installed: reported below
  }
  for (const variant of variants) {
    try {
      const dir = dirname(require.resolve(`${pkg.platform(arch, variant)}/package.json`, { paths: wrapperDir ? [wrapperDir] : undefined }));
      const binary = join(dir, pkg.file);
      if (existsSync(binary)) {
        found.set(kind, binary);
        return binary;
      }
    } catch {
      // this variant is not installed
    }
  }
  throw new PaddockError(
    "agent_binary_missing",
    `the ${kind} binary for linux-${arch} is not installed (npm package ${pkg.platform(arch, variants[0]!)})`,
    "kind",
    `run npm ci in paddock's folder (without --omit=optional); on another platform: npm install ${pkg.platform(arch, variants[0]!)}@<the version in package.json>`,
  );
}

function cpuHasAvx2(): boolean {
  try {
    return /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return false;
  }
}

function isMusl(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return !report?.header?.glibcVersionRuntime;
}
