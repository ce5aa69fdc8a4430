import { readFileSync } from "node:fs";
import type { z } from "zod";
import { formatOf, issueProblems, locatorFor, parseText } from "./parse.js";
import { FileError } from "./problems.js";

/**
 * Reads and validates a YAML, JSON or TOML configuration file against a
 * schema; every problem comes back located (file:line:column, field) in one
 * FileError with the given code prefix (`config_syntax`, `config_invalid` ...).
 */
export async function readConfigFile<S extends z.ZodType>(file: string, schema: S, codePrefix = "config"): Promise<z.output<S>> {
  const format = formatOf(file) ?? "yaml";
  const text = readText(file, `${codePrefix}_unreadable`, "cannot read it");
  const raw = await parseText(file, text, format, `${codePrefix}_syntax`);
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new FileError(`${codePrefix}_invalid`, issueProblems(file, result.error.issues, await locatorFor(text, format), schema));
}

/** A configuration file's text, or a FileError that says why it cannot be read. */
export function readText(file: string, code: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new FileError(code, [{ file, field: "", message: `${what}: ${reason}` }]);
  }
}
