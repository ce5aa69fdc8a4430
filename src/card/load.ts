import { dirname, extname, resolve } from "node:path";
import { fieldName, FileError, formatOf, issueProblems, locatorFor, parseText, readText, type FieldPath } from "../configfile/index.js";
import { CardError, type CardProblem } from "./errors.js";
import { CardSchema, cardWarnings, type Card } from "./schema.js";

export interface LoadedCard {
  /** The validated card, defaults applied, relative paths resolved against the card's folder. */
  card: Card;
  file: string;
  /** Allowed, but worth a second look (a shared suffix acknowledged, the seccomp filter off). */
  warnings: CardProblem[];
}

/** A problem found in a valid card by looking at this host (a tool not installed, a workspace missing). */
export interface CardFinding {
  path: FieldPath;
  message: string;
}

export interface LoadOptions {
  /** Checks against this host; what it finds makes the card invalid here. */
  hostCheck?: (card: Card) => CardFinding[];
}

export async function loadCard(file: string, options: LoadOptions = {}): Promise<LoadedCard> {
  const path = resolve(file);
  const format = formatOf(path);
  if (!format) {
    throw new CardError("card_format", [
      { file, field: "", message: `unknown card format '${extname(path) || "(none)"}': use .json, .yaml, .yml or .toml` },
    ]);
  }
  let text: string;
  let raw: unknown;
  try {
    text = readText(file, "card_unreadable", "cannot read card");
    raw = await parseText(file, text, format, "card_syntax");
  } catch (err) {
    // A card's errors are CardErrors (the CLI reports them per file), with the same problems as any configuration file's.
    throw err instanceof FileError ? new CardError(err.code as "card_unreadable" | "card_syntax", err.problems) : err;
  }
  const result = CardSchema.safeParse(raw);
  if (!result.success) throw new CardError("card_invalid", issueProblems(file, result.error.issues, await locatorFor(text, format), CardSchema));
  const card = resolvePaths(result.data, dirname(path));
  const found = options.hostCheck?.(card) ?? [];
  const warned = cardWarnings(card);
  if (found.length === 0 && warned.length === 0) return { card, file: path, warnings: [] };
  const locate = await locatorFor(text, format);
  const located = (f: CardFinding): CardProblem => ({ file, ...locate(f.path), field: fieldName(f.path), message: f.message });
  if (found.length) throw new CardError("card_invalid", found.map(located));
  return { card, file: path, warnings: warned.map(located) };
}

function resolvePaths(card: Card, base: string): Card {
  return {
    ...card,
    workspace: resolve(base, card.workspace),
    api_key_file: card.api_key_file && resolve(base, card.api_key_file),
    mounts: card.mounts.map((m) => ({ ...m, source: resolve(base, m.source) })),
    credentials: card.credentials.map((c) => ("file" in c.secret ? { ...c, secret: { file: resolve(base, c.secret.file) } } : c)),
  };
}
