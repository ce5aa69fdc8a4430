import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Where paddock keeps things on this host, following the XDG base directory
 * convention. PADDOCK_HOME moves all of it at once (tests use it).
 */
export interface PaddockPaths {
  /** Persistent state: per-agent homes, the store. */
  data: string;
  /** Re-creatable caches: resolved tool closures. */
  cache: string;
  /** Per-boot files: generated /etc files, sockets. */
  runtime: string;
}

export function paddockPaths(env: NodeJS.ProcessEnv = process.env): PaddockPaths {
  const root = env.PADDOCK_HOME;
  if (root) {
    return { data: join(root, "data"), cache: join(root, "cache"), runtime: join(root, "run") };
  }
  const home = env.HOME ?? homedir();
  const runtimeBase = env.XDG_RUNTIME_DIR ?? (process.getuid?.() === 0 ? "/run" : tmpdir());
  return {
    data: join(env.XDG_DATA_HOME ?? join(home, ".local", "share"), "paddock"),
    cache: join(env.XDG_CACHE_HOME ?? join(home, ".cache"), "paddock"),
    runtime: join(runtimeBase, process.getuid?.() === 0 || env.XDG_RUNTIME_DIR ? "paddock" : `paddock-${process.getuid?.()}`),
  };
}
