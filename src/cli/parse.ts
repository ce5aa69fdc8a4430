import { InvalidArgumentError } from "commander";

/** An option's value as a number of at least `min` (whole, if asked). */
export function number(min: number, whole: boolean): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min || (whole && !Number.isInteger(n))) throw new InvalidArgumentError(`must be ${whole ? "a whole number" : "a number"} of at least ${min}`);
    return n;
  };
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** --since as an ISO 8601 time: a span back from now, or a date or time as given. */
export function since(value: string): string {
  const span = /^(\d+)([mhd])$/.exec(value);
  if (span) return new Date(Date.now() - Number(span[1]) * UNIT_MS[span[2] as keyof typeof UNIT_MS]).toISOString();
  const time = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time)) throw new InvalidArgumentError("must be a span (30m, 24h, 7d) or a date (2026-12-01)");
  return new Date(time).toISOString();
}
