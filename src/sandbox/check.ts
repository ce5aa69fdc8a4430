import { existsSync, realpathSync, statSync } from "node:fs";
import { sep } from "node:path";
import type { Card, CardFinding } from "../card/index.js";
import { paddockPaths } from "../paths/index.js";
import { agentHomeDir } from "./layout.js";
import { missingTools } from "./tools.js";

/**
 * What of a valid card this host cannot give: tools that are not installed,
 * a workspace or mount source that does not exist. These are paths the card
 * names (the workspace folder itself, not what is in it).
 */
export function cardHostProblems(card: Card): CardFinding[] {
  const problems: CardFinding[] = [];
  const kind = (path: string) => {
    try {
      return statSync(path).isDirectory() ? "dir" : "other";
    } catch {
      return "missing";
    }
  };
  const workspace = kind(card.workspace);
  if (workspace !== "dir") problems.push({ path: ["workspace"], message: workspace === "missing" ? `${card.workspace} does not exist (mkdir -p ${card.workspace})` : `${card.workspace} is not a directory` });
  for (const { tool, error } of missingTools(card.tools)) {
    problems.push({ path: ["tools", card.tools.indexOf(tool)], message: `${error.message}; ${error.hint}` });
  }
  card.mounts.forEach((m, i) => {
    if (kind(m.source) === "missing") problems.push({ path: ["mounts", i, "source"], message: `${m.source} does not exist` });
  });
  card.credentials.forEach((c, i) => {
    if ("file" in c.secret && !existsSync(c.secret.file)) problems.push({ path: ["credentials", i, "secret", "file"], message: `${c.secret.file} does not exist` });
  });
  const home = agentHomeDir(paddockPaths().data, card.agent_id);
  problems.push(...secretsInReach(card, [card.workspace, home, ...card.mounts.filter((m) => m.mode === "rw").map((m) => m.source)]));
  return problems;
}

/**
 * Credentials whose secret file is in a folder the agent can write: there it could replace the file with a link to any
 * file of the host, and the egress proxy would send that file's content to the credential's host.
 */
export function secretsInReach(card: Card, writable: string[]): CardFinding[] {
  const roots = writable.flatMap((w) => [w, realOrSelf(w)]);
  return card.credentials.flatMap((credential, i) => {
    if (!("file" in credential.secret)) return [];
    const file = credential.secret.file;
    const inside = roots.find((root) => [file, realOrSelf(file)].some((p) => p === root || p.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)));
    return inside ? [{ path: ["credentials", i, "secret", "file"], message: `${file} is inside ${inside}, which the agent can write` }] : [];
  });
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
