import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PaddockError } from "../errors/index.js";

/** Where a gateway is and the master key it takes, as the command line finds them. */
export interface AdminTarget {
  url: string;
  masterKey: string;
}

/** The gateway a command talks to when none is named: LiteLLM's and paddock's default address. */
export const DEFAULT_GATEWAY_URL = "http://127.0.0.1:4000";

/**
 * The master key: PADDOCK_MASTER_KEY (what the example config reads), a file
 * given on the command line, or the one a daemon made for itself (owner-only,
 * in its runtime folder). Never a flag's value, which any user's `ps` shows.
 */
export function findMasterKey(env: NodeJS.ProcessEnv, runtimeDir: string, file?: string): string {
  if (file) {
    const key = readFileSync(file, "utf8").trim();
    if (!key) throw new PaddockError("master_key_empty", "the master key file is empty", file);
    return key;
  }
  if (env.PADDOCK_MASTER_KEY) return env.PADDOCK_MASTER_KEY;
  const daemons = join(runtimeDir, "gateway-master-key");
  if (existsSync(daemons)) return readFileSync(daemons, "utf8").trim();
  throw new PaddockError("master_key_missing", "no master key for the gateway", undefined, `set PADDOCK_MASTER_KEY, pass --master-key-file FILE, or start the gateway with \`paddock up --gateway paddock.yaml\`, which keeps one in ${daemons}`);
}

/** One call of the gateway's LiteLLM-style admin API (/key/*), with the master key; its error as a PaddockError. */
export async function adminCall(target: AdminTarget, method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(new URL(path, target.url), {
      method,
      headers: { Authorization: `Bearer ${target.masterKey}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    // fetch wraps the socket's error (one, or an AggregateError of each address tried).
    const cause = (err as Error).cause as (NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] }) | undefined;
    const why = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message;
    throw new PaddockError("gateway_unreachable", `no gateway answers there (${why})`, target.url, "start one (`paddock gateway --config FILE` or `paddock up --gateway paddock.yaml`), or name it with --gateway URL or PADDOCK_GATEWAY_URL");
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PaddockError("gateway_bad_answer", `the gateway answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`, `${target.url}${path}`);
  }
  if (!res.ok) {
    const message = (json as { error?: { message?: string } }).error?.message ?? text.slice(0, 200);
    const code = res.status === 401 || res.status === 403 ? "gateway_refused" : res.status === 404 ? "gateway_not_found" : "gateway_error";
    throw new PaddockError(code, `${res.status}: ${message}`, `${target.url}${path}`, res.status === 401 ? "the gateway does not take this master key" : undefined);
  }
  return json;
}
