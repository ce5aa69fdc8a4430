import { get } from "../api.js";
import { Problems, Section, useReady } from "../components.js";
import { useFetched } from "../live.js";

interface Deployment {
  deployment: string;
  model_name: string;
  api_base: string;
  healthy: boolean;
  cooling_until: string | null;
  consecutive_fails: number;
  in_flight: number;
  waiting: number;
  max_parallel: number | null;
  context_window: number | null;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  samples: number;
}

const ms = (v: number | null) => (v === null ? "–" : `${Math.round(v)} ms`);

export function ModelsPage() {
  const models = useFetched(() => get<{ gateway: boolean; deployments: Deployment[] }>("/api/models"), [], ["tick"]);
  useReady("models", models.value !== undefined);
  const m = models.value;
  return (
    <Section title="Models">
      <Problems error={models.error} />
      {m && !m.gateway && (
        <p class="muted">
          This daemon runs no gateway: start it with <code>paddock up --gateway paddock.yaml</code>.
        </p>
      )}
      {m && m.gateway && (
        <table>
          <thead>
            <tr>
              <th>Model</th>
              <th>Deployment</th>
              <th>Health</th>
              <th>Slots in use</th>
              <th>Queue</th>
              <th>Latency p50 / p95</th>
              <th>Context</th>
            </tr>
          </thead>
          <tbody>
            {m.deployments.map((d) => (
              <tr data-deployment={d.deployment}>
                <td>{d.model_name}</td>
                <td>
                  {d.deployment} <span class="muted">{d.api_base}</span>
                </td>
                <td>
                  <span class={`state state-${d.healthy ? "running" : "failed"}`}>{d.healthy ? "healthy" : `cooling down (${d.consecutive_fails} failures)`}</span>
                </td>
                <td>
                  {d.in_flight} of {d.max_parallel ?? "∞"}
                </td>
                <td>{d.waiting}</td>
                <td>
                  {ms(d.latency_p50_ms)} / {ms(d.latency_p95_ms)} <span class="muted">({d.samples} requests)</span>
                </td>
                <td>{d.context_window ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
