import { readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import type { z } from "zod";
import { CardError, type CardProblem } from "./errors.js";
import type { FieldPath, Locator } from "./locate.js";
import { CardSchema, cardWarnings, MountSchema, ResourceLimitsSchema, type Card } from "./schema.js";

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

type Format = "json" | "yaml" | "toml";

const FORMATS: Record<string, Format> = { ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml" };

export async function loadCard(file: string, options: LoadOptions = {}): Promise<LoadedCard> {
  const path = resolve(file);
  const format = FORMATS[extname(path).toLowerCase()];
  if (!format) {
    throw new CardError("card_format", [
      { file, field: "", message: `unknown card format '${extname(path) || "(none)"}': use .json, .yaml, .yml or .toml` },
    ]);
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new CardError("card_unreadable", [{ file, field: "", message: `cannot read card: ${reason}` }]);
  }
  const raw = await parseText(file, text, format);
  const result = CardSchema.safeParse(raw);
  if (!result.success) {
    // Positions are only needed to report problems, so their parser is loaded then.
    const { tomlLocator, yamlLocator } = await import("./locate.js");
    const locate = format === "toml" ? tomlLocator(text) : yamlLocator(text);
    throw new CardError("card_invalid", result.error.issues.flatMap((issue) => toProblems(file, issue, locate)));
  }
  const card = resolvePaths(result.data, dirname(path));
  const found = options.hostCheck?.(card) ?? [];
  const warned = cardWarnings(card);
  if (found.length === 0 && warned.length === 0) return { card, file: path, warnings: [] };
  const { tomlLocator, yamlLocator } = await import("./locate.js");
  const locate = format === "toml" ? tomlLocator(text) : yamlLocator(text);
  const located = (f: CardFinding): CardProblem => ({ file, ...locate(f.path), field: fieldName(f.path), message: f.message });
  if (found.length) throw new CardError("card_invalid", found.map(located));
  return { card, file: path, warnings: warned.map(located) };
}

/** Each format's parser is loaded only for a card in that format: start-up time counts for `paddock exec`. */
async function parseText(file: string, text: string, format: Format): Promise<unknown> {
  try {
    if (format === "json") return JSON.parse(text);
    if (format === "toml") return (await import("smol-toml")).parse(text);
    return (await import("yaml")).parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new CardError("card_syntax", [await syntaxProblem(file, text, err as Error, format)]);
  }
}

async function syntaxProblem(file: string, text: string, err: Error, format: Format): Promise<CardProblem> {
  if (format === "toml" && err instanceof (await import("smol-toml")).TomlError) {
    return { file, line: err.line, column: err.column, field: "", message: `invalid TOML: ${err.message.split("\n")[0]}` };
  }
  if (format === "yaml" && err instanceof (await import("yaml")).YAMLParseError) {
    const pos = err.linePos?.[0];
    return { file, line: pos?.line, column: pos?.col, field: "", message: `invalid YAML: ${err.message.split("\n")[0]}` };
  }
  const offset = /position (\d+)/.exec(err.message)?.[1];
  const problem: CardProblem = { file, field: "", message: `invalid JSON: ${err.message.replace(/ in JSON at position \d+.*$/, "")}` };
  if (offset !== undefined) {
    const before = text.slice(0, Number(offset)).split("\n");
    problem.line = before.length;
    problem.column = before[before.length - 1]!.length + 1;
  }
  return problem;
}

function toProblems(file: string, issue: z.core.$ZodIssue, locate: Locator): CardProblem[] {
  const at = (path: FieldPath) => ({ file, ...locate(path), field: fieldName(path) });
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => {
      const path = [...(issue.path as FieldPath), key];
      const near = closest(key, knownKeys(issue.path as FieldPath));
      return { ...at(path), message: `unknown field${near ? ` (did you mean '${near}'?)` : ""}` };
    });
  }
  return [{ ...at(issue.path as FieldPath), message: issue.message }];
}

function fieldName(path: FieldPath): string {
  return path.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}

function knownKeys(path: FieldPath): string[] {
  if (path.length === 0) return Object.keys(CardSchema.shape);
  if (path[0] === "resource_limits") return Object.keys(ResourceLimitsSchema.shape);
  if (path[0] === "mounts") return Object.keys(MountSchema.shape);
  return [];
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

function resolvePaths(card: Card, base: string): Card {
  return {
    ...card,
    workspace: resolve(base, card.workspace),
    api_key_file: card.api_key_file && resolve(base, card.api_key_file),
    mounts: card.mounts.map((m) => ({ ...m, source: resolve(base, m.source) })),
  };
}
