import type { ServerResponse } from "node:http";
import type { AgentView } from "../supervisor/index.js";
import type { Feeds } from "./feeds.js";
import { SECURITY_HEADERS } from "./http.js";

const SAMPLE_MS = 2_000;
/** Ten minutes of samples per agent. */
const SAMPLES = 300;

type Sample = [time: number, memoryBytes: number | null, cpuPercent: number | null];
type Topic = "egress" | "runs" | "usage";

/**
 * The daemon's live view: every two seconds the agents (with a memory and CPU sample each) go to every open
 * event stream, and a `changed` event names what else moved (egress decisions, runs, usage), so a page
 * fetches only what it shows, and only when it changed.
 */
export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly samples = new Map<string, Sample[]>();
  private readonly lastCpu = new Map<string, [number, number]>();
  private readonly marks = new Map<Topic, string>();
  private agents: ReturnType<LiveFeed["row"]>[] = [];
  private readonly timer: NodeJS.Timeout;
  private ticking?: Promise<void>;

  constructor(private readonly feeds: Feeds) {
    this.timer = setInterval(() => void this.tick(), SAMPLE_MS).unref();
  }

  /** The agents as last sampled (a first sample is taken if none is). */
  async snapshot() {
    if (!this.ticking) await this.tick();
    return { agents: this.agents, samples: Object.fromEntries(this.samples) };
  }

  subscribe(res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/event-stream; charset=utf-8", Connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    this.clients.add(res);
    res.on("close", () => this.clients.delete(res));
    void this.snapshot().then((snapshot) => send(res, "agents", snapshot));
  }

  close(): void {
    clearInterval(this.timer);
    for (const res of this.clients) res.end();
  }

  private tick(): Promise<void> {
    this.ticking = (async () => {
      const now = Date.now();
      const agents = await this.feeds.supervisor.list();
      this.agents = agents.map((a) => this.row(a, now));
      const live = new Set(agents.map((a) => a.agent_id));
      for (const id of this.samples.keys()) if (!live.has(id)) this.samples.delete(id);
      // With no page open, only the samples are kept (for the sparklines a page shows when it opens); the store is not asked.
      if (this.clients.size === 0) return void this.marks.clear();
      const changed = await this.changes();
      for (const res of this.clients) {
        send(res, "agents", { agents: this.agents, samples: Object.fromEntries(this.samples) });
        if (changed.length > 0) send(res, "changed", { topics: changed });
      }
    })().catch(() => undefined);
    return this.ticking;
  }

  /** The list's row of an agent, and its sample of this tick (CPU as a share of one core since the last one). */
  private row(agent: AgentView, now: number) {
    if (agent.uptime_ms !== null) {
      const previous = this.lastCpu.get(agent.agent_id);
      const cpu = agent.cpu_micros !== null && previous ? Math.max(0, (agent.cpu_micros - previous[1]) / 10 / (now - previous[0])) : null;
      if (agent.cpu_micros !== null) this.lastCpu.set(agent.agent_id, [now, agent.cpu_micros]);
      const series = this.samples.get(agent.agent_id) ?? [];
      if (series.push([now, agent.memory_bytes, cpu === null ? null : Math.round(cpu * 10) / 10]) > SAMPLES) series.shift();
      this.samples.set(agent.agent_id, series);
    }
    const card = agent.card as { kind?: string; ttl_seconds?: number; model?: string };
    return {
      agent_id: agent.agent_id,
      kind: agent.kind,
      state: agent.state,
      model: card.model ?? null,
      uptime_ms: agent.uptime_ms,
      memory_bytes: agent.memory_bytes,
      ttl_left_s: agent.ttl_left_s,
      restarts: agent.restarts,
      created_at: agent.created_at,
      ended_at: agent.ended_at,
      error: agent.error,
    };
  }

  /** Which of the store's other contents moved since the last tick. */
  private async changes(): Promise<Topic[]> {
    const { store } = this.feeds;
    const [egress, runs, usage] = await Promise.all([
      store.egressLog({ limit: 1 }).then((r) => (r[0] ? `${r[0].time} ${r[0].agent_id} ${r[0].host}` : "")),
      store.listRuns({ limit: 20 }).then((r) => r.map((run) => `${run.run_id}:${run.state}`).join(",")),
      store.usagePage({ offset: 0, limit: 1 }).then((p) => String(p.rows[0]?.id ?? "")),
    ]);
    const changed: Topic[] = [];
    for (const [topic, mark] of [["egress", egress], ["runs", runs], ["usage", usage]] as const) {
      if (this.marks.has(topic) && this.marks.get(topic) !== mark) changed.push(topic);
      this.marks.set(topic, mark);
    }
    return changed;
  }
}

/** One server-sent event: JSON data on one line, so nothing in it can end the event or start another. */
export function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
