import { PaddockError } from "../errors/index.js";

/** One problem in one configuration file (a card, paddock.yaml, a gateway config), located as precisely as the format allows. */
export interface FileProblem {
  file: string;
  line?: number;
  column?: number;
  /** Dotted field path, e.g. `resource_limits.memory_mb` or `mounts[0].target`; empty for the whole file. */
  field: string;
  message: string;
}

/** `FILE:LINE:COL: FIELD: MESSAGE`, as compilers and linters print it. */
export function formatProblem(p: FileProblem): string {
  const pos = p.line ? `:${p.line}${p.column ? `:${p.column}` : ""}` : "";
  return `${p.file}${pos}: ${p.field ? `${p.field}: ` : ""}${p.message}`;
}

/** A configuration file that cannot be used, with every problem found in it. */
export class FileError extends PaddockError {
  constructor(
    code: string,
    readonly problems: FileProblem[],
  ) {
    super(code, problems.map(formatProblem).join("\n"), problems[0]?.file);
  }

  override describe(): string {
    return this.message;
  }

  override toJSON(): Record<string, unknown> {
    return { code: this.code, problems: this.problems };
  }
}
