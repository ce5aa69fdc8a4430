import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * paddock's own folder (where examples/ is): the nearest one above this file
 * with paddock's package.json, so it is found from the bundled CLI (dist/cli)
 * and from the compiled modules (dist/src/cli) alike.
 */
export const ROOT_DIR = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "examples"))) return dir;
    if (dirname(dir) === dir) throw new Error(`paddock's folder (with package.json and examples/) is not above ${from}`);
  }
}
