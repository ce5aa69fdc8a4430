/**
 * Every error paddock reports to a user is a PaddockError: a stable `code` that
 * scripts can match, a message a person can act on, and where known the path of
 * what was wrong (a file, a field, a limit).
 */
export class PaddockError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly where?: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** One line for a terminal: where, what, and how to fix it. */
  describe(): string {
    const at = this.where ? `${this.where}: ` : "";
    const fix = this.hint ? `\n  hint: ${this.hint}` : "";
    return `${at}${this.message}${fix}`;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, where: this.where, hint: this.hint };
  }
}

export function isPaddockError(value: unknown): value is PaddockError {
  return value instanceof PaddockError;
}
