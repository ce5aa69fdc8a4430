import { formatProblem, type CardProblem } from "../card/index.js";

/** A card's warnings, one line each on stderr, where every command that loads a card shows them. */
export function warnAbout(warnings: CardProblem[]): void {
  for (const w of warnings) process.stderr.write(`${formatProblem({ ...w, message: `warning: ${w.message}` })}\n`);
}
