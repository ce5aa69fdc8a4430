import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** Host name to addresses. Tests and `--resolve` pin names, as curl's --resolve does. */
export type Resolver = (host: string) => Promise<string[]>;

export function systemResolver(overrides: Record<string, string[]> = {}, timeoutMs = 5000): Resolver {
  return async (host) => {
    if (isIP(host)) return [host];
    const pinned = overrides[host];
    if (pinned) return pinned;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const answers = await Promise.race([lookup(host, { all: true, verbatim: true }), timeout]);
      return answers.map((a) => a.address);
    } finally {
      clearTimeout(timer);
    }
  };
}
