import { mkdirSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";

// Only node: builtins here: warm-start.ts and task-start.ts import this file inside agent images, which hold no
// node_modules; so a launch's shape is checked by hand, not with zod.

/** What an agent in a pod runs: its argv, its whole environment, and the files written into its HOME first. */
export interface Launch {
  argv: string[];
  env: Record<string, string>;
  files: Record<string, string>;
}

/** The launch a value holds, or an Error saying what is wrong with it. */
export function parseLaunch(value: unknown): Launch {
  const v = value as Partial<Launch> | null;
  const strings = (o: unknown) => typeof o === "object" && o !== null && Object.values(o).every((s) => typeof s === "string");
  if (!v || !Array.isArray(v.argv) || v.argv.length === 0 || !v.argv.every((a) => typeof a === "string") || !strings(v.env) || !strings(v.files)) throw new Error("the launch is not {argv, env, files}");
  return v as Launch;
}

/** Writes the launch's HOME files (owner-only), refusing a path that leads out of HOME. */
export function writeHomeFiles(home: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    const relative = normalize(path);
    if (isAbsolute(relative) || relative === ".." || relative.startsWith(`..${sep}`)) throw new Error(`HOME file '${path}' is not inside HOME`);
    const target = join(home, relative);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    writeFileSync(target, content, { mode: 0o600 });
  }
}

/** A child's end as a shell reports it: its exit code, or 128 plus the signal that ended it. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? constants.signals[signal] : 0);
}
