import { useEffect, useState } from "preact/hooks";
import { get } from "./api.js";

export interface AgentRow {
  agent_id: string;
  kind: string;
  state: string;
  model: string | null;
  uptime_ms: number | null;
  memory_bytes: number | null;
  ttl_left_s: number | null;
  restarts: number;
  created_at: string;
  ended_at: string | null;
  error: string | null;
}

export type Sample = [time: number, memoryBytes: number | null, cpuPercent: number | null];
export interface AgentsSnapshot {
  agents: AgentRow[];
  samples: Record<string, Sample[]>;
}

type Topic = "egress" | "runs" | "usage" | "tick";

/** The daemon's event stream, shared by every page: the agents every two seconds, and which topics changed. */
class Live {
  snapshot: AgentsSnapshot | undefined;
  readonly versions: Record<Topic, number> = { egress: 0, runs: 0, usage: 0, tick: 0 };
  private readonly listeners = new Set<() => void>();
  private source?: EventSource;

  connect(): void {
    this.source = new EventSource("/api/events");
    // The first list by a plain request too: whichever comes first is shown.
    void get<AgentsSnapshot>("/api/agents").then((snapshot) => {
      if (this.snapshot) return;
      this.snapshot = snapshot;
      this.emit();
    });
    this.source.addEventListener("agents", (e) => {
      this.snapshot = JSON.parse((e as MessageEvent<string>).data) as AgentsSnapshot;
      this.versions.tick++;
      this.emit();
    });
    this.source.addEventListener("changed", (e) => {
      for (const topic of (JSON.parse((e as MessageEvent<string>).data) as { topics: Topic[] }).topics) this.versions[topic]++;
      this.emit();
    });
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

export const live = new Live();

/** Re-renders on every event; gives the agents and the topics' versions (a changed version: fetch again). */
export function useLive(): { snapshot: AgentsSnapshot | undefined; versions: Record<Topic, number> } {
  const [, setTick] = useState(0);
  useEffect(() => live.subscribe(() => setTick((n) => n + 1)), []);
  return { snapshot: live.snapshot, versions: { ...live.versions } };
}

/** Fetches on mount and again whenever one of the topics changes. */
export function useFetched<T>(load: () => Promise<T>, deps: unknown[], topics: Topic[] = []): { value: T | undefined; error: unknown; reload: () => void } {
  const { versions } = useLive();
  const [value, setValue] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [nonce, setNonce] = useState(0);
  useEffect(() => {
    let current = true;
    load().then(
      (v) => current && (setValue(v), setError(undefined)),
      (e: unknown) => current && setError(e),
    );
    return () => (current = false);
  }, [...deps, nonce, ...topics.map((t) => versions[t])]);
  return { value, error, reload: () => setNonce((n) => n + 1) };
}
