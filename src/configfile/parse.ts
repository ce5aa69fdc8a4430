import { extname } from "node:path";
import { z } from "zod";
import type { FieldPath, Locator } from "./locate.js";
import { FileError, type FileProblem } from "./problems.js";

export type Format = "json" | "yaml" | "toml";

const FORMATS: Record<string, Format> = { ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml" };

/** The format a file's extension names, if it is one paddock reads. */
export function formatOf(file: string): Format | undefined {
  return FORMATS[extname(file).toLowerCase()];
}

/** Each format's parser is loaded only for a file in that format: start-up time counts for `paddock exec`. */
export async function parseText(file: string, text: string, format: Format, code = "config_syntax"): Promise<unknown> {
  try {
    if (format === "json") return JSON.parse(text);
    if (format === "toml") return (await import("smol-toml")).parse(text);
    return (await import("./yaml.js")).parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new FileError(code, [await syntaxProblem(file, text, err as Error, format)]);
  }
}

/** Finds fields in the text; the position-keeping parsers are loaded only when there is something to report. */
export async function locatorFor(text: string, format: Format): Promise<Locator> {
  const { tomlLocator, yamlLocator } = await import("./locate.js");
  return format === "toml" ? tomlLocator(text) : yamlLocator(text);
}

/** zod's issues as located problems; an unknown field names the closest known one of the schema at its place. */
export function issueProblems(file: string, issues: z.core.$ZodIssue[], locate: Locator, schema: z.ZodType): FileProblem[] {
  const problems = issues.flatMap((issue) => {
    const at = (path: FieldPath) => ({ file, ...locate(path), field: fieldName(path) });
    if (issue.code === "unrecognized_keys") {
      const known = knownKeys(schema, issue.path as FieldPath);
      return issue.keys.map((key) => {
        const near = closest(key, known);
        return { ...at([...(issue.path as FieldPath), key]), message: `unknown field${near ? ` (did you mean '${near}'?)` : ""}` };
      });
    }
    return [{ ...at(issue.path as FieldPath), message: issue.message }];
  });
  // In the order of the file, as a reader goes through it.
  return problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0));
}

export function fieldName(path: FieldPath): string {
  return path.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}

async function syntaxProblem(file: string, text: string, err: Error, format: Format): Promise<FileProblem> {
  if (format === "toml" && err instanceof (await import("smol-toml")).TomlError) {
    return { file, line: err.line, column: err.column, field: "", message: `invalid TOML: ${err.message.split("\n")[0]}` };
  }
  if (format === "yaml" && err instanceof (await import("./yaml.js")).YAMLParseError) {
    const pos = err.linePos?.[0];
    return { file, line: pos?.line, column: pos?.col, field: "", message: `invalid YAML: ${err.message.split("\n")[0]}` };
  }
  const offset = /position (\d+)/.exec(err.message)?.[1];
  const problem: FileProblem = { file, field: "", message: `invalid JSON: ${err.message.replace(/ in JSON at position \d+.*$/, "")}` };
  if (offset !== undefined) {
    const before = text.slice(0, Number(offset)).split("\n");
    problem.line = before.length;
    problem.column = before[before.length - 1]!.length + 1;
  }
  return problem;
}

/** The keys an object schema knows at a path: defaults, optionals and pipes are looked through. */
function knownKeys(schema: z.ZodType, path: FieldPath): string[] {
  let node: z.ZodType | undefined = unwrap(schema);
  for (const key of path) {
    if (typeof key === "number") node = node instanceof z.ZodArray ? unwrap(node.element as z.ZodType) : undefined;
    else node = node instanceof z.ZodObject && node.shape[key] ? unwrap(node.shape[key] as z.ZodType) : undefined;
    if (!node) return [];
  }
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let node = schema;
  for (;;) {
    if (node instanceof z.ZodDefault || node instanceof z.ZodOptional || node instanceof z.ZodNullable || node instanceof z.ZodPrefault) node = node.unwrap() as z.ZodType;
    else if (node instanceof z.ZodPipe) node = node.in as z.ZodType;
    else return node;
  }
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
