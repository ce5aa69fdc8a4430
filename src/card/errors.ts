import { PaddockError } from "../errors/index.js";

/** One problem in one card file, located as precisely as the format allows. */
export interface CardProblem {
  file: string;
  line?: number;
  column?: number;
  /** Dotted field path, e.g. `resource_limits.memory_mb` or `mounts[0].target`; empty for the whole file. */
  field: string;
  message: string;
}

export function formatProblem(p: CardProblem): string {
  const pos = p.line ? `:${p.line}${p.column ? `:${p.column}` : ""}` : "";
  return `${p.file}${pos}: ${p.field ? `${p.field}: ` : ""}${p.message}`;
}

export class CardError extends PaddockError {
  constructor(
    code: "card_invalid" | "card_unreadable" | "card_syntax" | "card_format",
    readonly problems: CardProblem[],
  ) {
    const first = problems[0];
    super(code, problems.map(formatProblem).join("\n"), first?.file);
  }

  override describe(): string {
    return this.message;
  }

  override toJSON(): Record<string, unknown> {
    return { code: this.code, problems: this.problems };
  }
}
