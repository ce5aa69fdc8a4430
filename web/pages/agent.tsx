import { useEffect, useMemo, useState } from "preact/hooks";
import { get, post } from "../api.js";
import { Chart, Problems, Section, useReady } from "../components.js";
import { bytes, count, duration, hourGrid, hourSeconds, time } from "../format.js";
import { useFetched } from "../live.js";
import { Link } from "../router.js";
import type { RunRow } from "./runs.js";

interface AgentDetail {
  agent: { agent_id: string; kind: string; state: string; card: Record<string, unknown>; card_path: string | null; uptime_ms: number | null; memory_bytes: number | null; ttl_left_s: number | null; restarts: number; created_at: string; ended_at: string | null; error: string | null; exit: Record<string, unknown> | null };
  runs: RunRow[];
  egress: Array<{ host: string; port: number; decision: string; reason: string; rule: string | null; allow_with: string | null; requests: number; last: string; bytes_down: number }>;
  usage: Array<{ hour: string; input_tokens: number; output_tokens: number; requests: number }>;
}

const KEPT_LINES = 5000;

export function AgentPage(props: { id: string }) {
  const detail = useFetched(() => get<AgentDetail>(`/api/agents/${encodeURIComponent(props.id)}`), [props.id], ["tick", "runs", "egress", "usage"]);
  const [stopError, setStopError] = useState<unknown>();
  useReady("agent", detail.value !== undefined);
  if (detail.error && !detail.value) return <Problems error={detail.error} />;
  if (!detail.value) return <p class="muted">Loading {props.id}…</p>;
  const { agent, runs, egress, usage } = detail.value;
  const alive = agent.uptime_ms !== null;
  return (
    <>
      <header class="page-head">
        <h1>{agent.agent_id}</h1>
        <span class={`state state-${agent.state}`}>{agent.state}</span>
        <span class="muted">
          {agent.kind} · up {duration(agent.uptime_ms)} · {bytes(agent.memory_bytes)} · {agent.restarts} restarts{agent.ttl_left_s !== null ? ` · TTL ${duration(agent.ttl_left_s * 1000)}` : ""}
        </span>
        {alive && (
          <>
            <code>paddock attach {agent.agent_id}</code>
            <button class="danger" onClick={() => void post(`/api/agents/${encodeURIComponent(agent.agent_id)}/stop`, { grace_seconds: 10 }).then(detail.reload, setStopError)}>
              Stop
            </button>
          </>
        )}
      </header>
      <Problems error={stopError} />
      {agent.error && <p class="error">{agent.error}</p>}
      <LogView id={agent.agent_id} />
      <Section title="Egress (denied first)">
        {egress.length === 0 ? (
          <p class="muted">No requests through the egress proxy yet.</p>
        ) : (
          <table class="egress">
            <thead>
              <tr>
                <th>Decision</th>
                <th>Host</th>
                <th>Reason</th>
                <th>Requests</th>
                <th>Last</th>
                <th>Allow with</th>
              </tr>
            </thead>
            <tbody>
              {egress.map((e) => (
                <tr class={e.decision} data-host={e.host}>
                  <td>
                    <span class={`decision decision-${e.decision}`}>{e.decision}</span>
                  </td>
                  <td>
                    {e.host}:{e.port}
                  </td>
                  <td>{e.decision === "allowed" ? `rule ${e.rule ?? "–"}` : e.reason}</td>
                  <td>{e.requests}</td>
                  <td>{time(e.last)}</td>
                  <td>{e.allow_with ? <code>allowed_hosts: [{e.allow_with}]</code> : "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Token usage (last 7 days, per hour)">
        {usage.length === 0 ? (
          <p class="muted">No gateway requests yet.</p>
        ) : (
          <UsageChart id={agent.agent_id} usage={usage} />
        )}
      </Section>
      <Section title={`Runs (${runs.length})`}>
        <table>
          <thead>
            <tr>
              <th>Run</th>
              <th>Outcome</th>
              <th>Tokens</th>
              <th>Duration</th>
              <th>Changed</th>
              <th>Started</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr>
                <td>
                  <Link href={`/runs/${encodeURIComponent(r.run_id)}`}>{r.run_id}</Link>
                </td>
                <td>
                  <span class={`outcome outcome-${r.outcome ?? r.state}`}>{r.outcome ?? r.state}</span>
                </td>
                <td>{count(r.input_tokens + r.output_tokens)}</td>
                <td>{duration(r.duration_ms)}</td>
                <td>{r.changed_files}</td>
                <td>{time(r.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Card (as spawned)">
        <p class="muted">{agent.card_path ?? "no file"}</p>
        <pre class="card-json">{JSON.stringify(agent.card, null, 2)}</pre>
      </Section>
    </>
  );
}

function UsageChart(props: { id: string; usage: AgentDetail["usage"] }) {
  const hours = hourGrid(Date.now() - 7 * 24 * 3_600_000);
  const at = new Map(props.usage.map((u) => [u.hour, u]));
  return (
    <Chart
      label={`token usage of ${props.id}`}
      bars
      times={hours.map(hourSeconds)}
      series={[
        { name: "input tokens", values: hours.map((h) => at.get(h)?.input_tokens ?? 0) },
        { name: "output tokens", values: hours.map((h) => at.get(h)?.output_tokens ?? 0) },
      ]}
    />
  );
}

/** The agent's output as it is written (server-sent events), filtered as you type. */
function LogView(props: { id: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [ended, setEnded] = useState<string>();
  const [filter, setFilter] = useState("");
  const [follow, setFollow] = useState(true);
  const [box, setBox] = useState<HTMLPreElement | null>(null);
  useEffect(() => {
    setLines([]);
    setEnded(undefined);
    const source = new EventSource(`/api/agents/${encodeURIComponent(props.id)}/log?tail=500`);
    let pending: string[] = [];
    let flush: number | undefined;
    source.addEventListener("line", (e) => {
      pending.push(JSON.parse((e as MessageEvent<string>).data) as string);
      // Lines come in bursts: one render per frame.
      flush ??= requestAnimationFrame(() => {
        const batch = pending;
        pending = [];
        flush = undefined;
        setLines((old) => [...old, ...batch].slice(-KEPT_LINES));
      });
    });
    source.addEventListener("end", (e) => {
      setEnded((JSON.parse((e as MessageEvent<string>).data) as { state: string }).state);
      source.close();
    });
    return () => source.close();
  }, [props.id]);
  const shown = useMemo(() => {
    const needle = filter.toLowerCase();
    return needle ? lines.filter((l) => l.toLowerCase().includes(needle)) : lines;
  }, [lines, filter]);
  useEffect(() => {
    if (follow && box) box.scrollTop = box.scrollHeight;
  }, [shown, follow, box]);
  return (
    <Section
      title="Log"
      actions={
        <div class="log-tools">
          <input type="search" placeholder="search the log" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} aria-label="search the log" />
          <label>
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> follow
          </label>
          <span class="muted">
            {filter ? `${shown.length} of ${lines.length} lines` : `${lines.length} lines`}
            {ended ? ` · ended (${ended})` : " · live"}
          </span>
        </div>
      }
    >
      <pre class="log" ref={setBox}>
        {shown.map((line) => (
          <div class="log-line">{line}</div>
        ))}
      </pre>
    </Section>
  );
}
