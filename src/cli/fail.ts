import { isPaddockError } from "../errors/index.js";

/** Exit statuses of paddock's own commands (exec passes the command's through instead). */
export const EXIT = { ok: 0, invalid: 1, usage: 2, paddockError: 125 } as const;

/** Prints an error the way every command does, and returns the status to exit with. */
export function report(err: unknown, status: number = EXIT.paddockError): number {
  if (isPaddockError(err)) {
    process.stderr.write(`paddock: ${err.describe()}\n`);
  } else {
    process.stderr.write(`paddock: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  return status;
}

