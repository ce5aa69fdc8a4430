import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SandboxError } from "./types.js";


/**
 * Whether this runsc can run a workload at all: some builds start on a newer
 * kernel and then fail every directory listing ("Invalid argument"), which
 * would break agents in ways that look like their own bugs. It runs `ls /`
 * under `runsc do` once per runsc binary (by path, size and time) and boot:
 * the verdict is kept in `runtimeDir`, so later sandboxes, and later
 * processes, do not pay for the probe. Says what is wrong and how to fix it;
 * undefined when the runtime works.
 */
export function runscProblem(runsc: string, runtimeDir: string): SandboxError | undefined {
  let key: string;
  try {
    const s = statSync(runsc);
    key = createHash("sha256").update(`${runsc}:${s.size}:${s.mtimeMs}`).digest("hex").slice(0, 16);
  } catch {
    return new SandboxError("runsc_missing", `${runsc} does not exist`, "backend");
  }
  const file = join(runtimeDir, "runsc-checks", `${key}.json`);
  try {
    const kept = JSON.parse(readFileSync(file, "utf8")) as { ok: true } | { ok: false; message: string; hint: string };
    return kept.ok ? undefined : new SandboxError("runsc_broken", kept.message, "backend", kept.hint);
  } catch {
    // not probed since boot
  }
  const problem = probe(runsc);
  mkdirSync(join(runtimeDir, "runsc-checks"), { recursive: true });
  writeFileSync(file, JSON.stringify(problem ? { ok: false, message: problem.message, hint: problem.hint } : { ok: true }));
  return problem;
}

function probe(runsc: string): SandboxError | undefined {
  const root = mkdtempSync(join(tmpdir(), "paddock-runsc-check-"));
  try {
    const r = spawnSync(runsc, ["--root", root, "--network=none", "do", "ls", "/"], { encoding: "utf8", timeout: 60_000, stdio: ["ignore", "pipe", "pipe"] });
    const listed = r.status === 0 && /\b(bin|usr|etc)\b/.test(r.stdout);
    if (listed) return undefined;
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n").slice(-1)[0];
    return new SandboxError(
      "runsc_broken",
      `${runsc} cannot list a directory on this kernel (\`runsc do ls /\`: ${why})`,
      "backend",
      "install a current gVisor release (CGO_ENABLED=0 go install gvisor.dev/gvisor/runsc@latest, then PADDOCK_RUNSC=$(go env GOPATH)/bin/runsc), or use backend: bwrap",
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
