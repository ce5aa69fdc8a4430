import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { url: string; functionName: string } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Which part of a process a sampled frame belongs to, for a summary a reader can act on. */
function part(url: string, fn: string): string {
  if (url.includes("/dist/src/")) return `paddock: ${url.replace(/.*\/dist\/src\//, "src/")}`;
  if (url.includes("node_modules/")) return `library: ${url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, "$1")}`;
  if (/node:(_http|http)/.test(url)) return "Node: HTTP server and client";
  if (/node:(net|internal\/stream_base|internal\/streams|stream)/.test(url) || fn === "writev" || fn === "writeUtf8String" || fn === "writeBuffer") return "Node: sockets and streams";
  if (/abort|event_target|events/.test(url)) return "Node: events and abort signals";
  if (!url) return `(${fn || "native"})`;
  return `Node: ${url.replace(/^node:(internal\/)?/, "").split("/")[0]}`;
}

/** The busy time of the .cpuprofile in `dir`, by part, largest first (idle time left out). */
export function summarizeProfile(dir: string, top = Number(process.env.BENCH_PROFILE_TOP ?? 14)): string {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) return "(no CPU profile was written)";
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parts = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === "(idle)") return;
    const key = part(frame.url, frame.functionName);
    parts.set(key, (parts.get(key) ?? 0) + profile.timeDeltas[i]!);
  });
  const busy = [...parts.values()].reduce((a, b) => a + b, 0);
  const rows = [...parts].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [`busy ${(busy / 1000).toFixed(0)} ms, by part:`, ...rows.map(([k, us]) => `${((100 * us) / busy).toFixed(1).padStart(6)}%  ${k}`)].join("\n");
}
