import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** paddock's own folder (where examples/ is), from dist/src/cli. */
export const ROOT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
