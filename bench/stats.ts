/** Percentile of a sample (nearest-rank). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Row {
  name: string;
  samples: number[];
}

/** Prints p50/p99 of each row in ms, and each row's ratio to the reference row. */
export function printTable(title: string, rows: Row[], reference: string): void {
  const ref = rows.find((r) => r.name === reference)!;
  const refP50 = percentile(ref.samples, 50);
  console.log(`\n${title}`);
  console.log(`${"".padEnd(44)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}${"x ref p50".padStart(12)}`);
  for (const row of rows) {
    const p50 = percentile(row.samples, 50);
    const p99 = percentile(row.samples, 99);
    console.log(`${row.name.padEnd(44)}${p50.toFixed(2).padStart(10)}${p99.toFixed(2).padStart(10)}${(p50 / refP50).toFixed(2).padStart(12)}`);
  }
}

export async function sample(n: number, fn: () => Promise<number>, progress?: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await fn());
    if (progress && (i + 1) % 10 === 0) process.stderr.write(`\r${progress} ${i + 1}/${n}   `);
  }
  if (progress) process.stderr.write("\r".padEnd(60) + "\r");
  return out;
}
