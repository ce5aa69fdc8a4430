import { readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export function readNumber(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Reads `key value` lines (memory.events, cpu.stat, memory.oom_control). */
export function readKeyed(file: string, key: string): number | undefined {
  try {
    const line = readFileSync(file, "utf8").split("\n").find((l) => l.startsWith(`${key} `));
    return line ? Number(line.split(" ")[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function readPids(file: string): number[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function write(file: string, value: string | number): void {
  writeFileSync(file, String(value));
}

/** SIGKILLs every process listed until none is left; a forking tree may need a few rounds. */
export function killListed(procsFile: string): void {
  for (let round = 0; round < 100; round++) {
    const pids = readPids(procsFile);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/**
 * rmdir a cgroup, waiting (up to `patienceMs`) for its last processes to be
 * reaped: a dead process stays in its cgroup until its parent, or init for an
 * orphan, collects it.
 */
export async function removeDir(dir: string, patienceMs = 4_000): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) throw err;
      await sleep(Math.min(2 ** attempt, 50));
    }
  }
}
