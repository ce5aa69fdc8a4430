import { statSync } from "node:fs";
import type { Card, CardFinding } from "../card/index.js";
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
  return problems;
}
