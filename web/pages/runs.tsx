import { useState } from "preact/hooks";
import { get } from "../api.js";
import { Problems, Section, useReady, VirtualRows } from "../components.js";
import { count, duration, time } from "../format.js";
import { useFetched, useLive } from "../live.js";
import { Link, navigate } from "../router.js";
import type { RunSummary } from "../../src/store/records.js";

/** A row of the runs list, as the store summarises a run. */
export type RunRow = RunSummary;

const SPANS: Record<string, number | null> = { "1 hour": 1, "24 hours": 24, "7 days": 168, "30 days": 720, all: null };

export function RunsPage() {
  const { snapshot } = useLive();
  const [agent, setAgent] = useState("");
  const [outcome, setOutcome] = useState("");
  const [span, setSpan] = useState("all");
  const hours = SPANS[span];
  const query = new URLSearchParams({ ...(agent ? { agent } : {}), ...(outcome ? { outcome } : {}), ...(hours ? { since: new Date(Date.now() - hours * 3_600_000).toISOString() } : {}) });
  const runs = useFetched(() => get<RunRow[]>(`/api/runs?${query}`), [agent, outcome, span], ["runs"]);
  useReady("runs", runs.value !== undefined);
  return (
    <Section
      title={`Runs${runs.value ? ` (${runs.value.length})` : ""}`}
      actions={
        <div class="filters">
          <select value={agent} onChange={(e) => setAgent(e.currentTarget.value)} aria-label="agent">
            <option value="">every agent</option>
            {(snapshot?.agents ?? []).map((a) => (
              <option value={a.agent_id}>{a.agent_id}</option>
            ))}
          </select>
          <select value={outcome} onChange={(e) => setOutcome(e.currentTarget.value)} aria-label="outcome">
            <option value="">every outcome</option>
            {["COMPLETE", "NEEDS_INFO", "ERROR", "running", "queued"].map((o) => (
              <option value={o}>{o}</option>
            ))}
          </select>
          <select value={span} onChange={(e) => setSpan(e.currentTarget.value)} aria-label="since">
            {Object.keys(SPANS).map((s) => (
              <option value={s}>{s === "all" ? "all time" : `last ${s}`}</option>
            ))}
          </select>
        </div>
      }
    >
      <Problems error={runs.error} />
      {runs.value && (
        <VirtualRows
          rows={runs.value}
          rowHeight={33}
          height={Math.max(300, innerHeight - 220)}
          head={
            <tr>
              <th>Run</th>
              <th>Agent</th>
              <th>Outcome</th>
              <th>Prompt</th>
              <th>Tokens</th>
              <th>Duration</th>
              <th>Changed</th>
              <th>Started</th>
            </tr>
          }
          row={(r) => (
            <tr key={r.run_id} class="clickable" data-run={r.run_id} onClick={() => navigate(`/runs/${encodeURIComponent(r.run_id)}`)}>
              <td>
                <Link href={`/runs/${encodeURIComponent(r.run_id)}`}>{r.run_id}</Link>
              </td>
              <td>{r.agent_id}</td>
              <td>
                <span class={`outcome outcome-${r.outcome ?? r.state}`}>{r.outcome ?? r.state}</span>
              </td>
              <td class="prompt">{r.prompt}</td>
              <td>{count(r.input_tokens + r.output_tokens)}</td>
              <td>{duration(r.duration_ms)}</td>
              <td>{r.changed_files}</td>
              <td>{time(r.created_at)}</td>
            </tr>
          )}
        />
      )}
    </Section>
  );
}
