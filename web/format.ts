export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function time(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${d.toLocaleTimeString(undefined, { hour12: false })}`;
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** Every UTC hour from `since` to now, as the store names them ("2026-12-03T01"): a chart's x axis with no gaps. */
export function hourGrid(since: number, now = Date.now()): string[] {
  const hours: string[] = [];
  for (let t = Math.floor(since / 3_600_000) * 3_600_000; t <= now; t += 3_600_000) hours.push(new Date(t).toISOString().slice(0, 13));
  return hours;
}

export function hourSeconds(hour: string): number {
  return Date.parse(`${hour}:00:00Z`) / 1000;
}

export function usd(n: number): string {
  return `$${n.toFixed(n < 1 ? 4 : 2)}`;
}
