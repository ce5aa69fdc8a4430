import { useState } from "preact/hooks";
import { get } from "../api.js";
import { Chart, Problems, Section, useReady } from "../components.js";
import { count, hourGrid, hourSeconds, usd } from "../format.js";
import { useFetched } from "../live.js";

interface Summary {
  group: string | null;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost: number;
  rate_limited: number;
}

interface UsageOverview {
  since: string;
  hourly: Array<{ hour: string; model: string; tokens: number; cost: number; requests: number; rate_limited: number }>;
  by_agent: Summary[];
  by_key: Summary[];
  by_model: Summary[];
  key_budgets: Array<{ key: string; max_budget: number | null; spend: number; max_tokens_budget: number | null; tokens_used: number; budget_duration: string | null; budget_reset_at: string | null }>;
  agent_budgets: Array<{ agent_id: string; max_tokens_budget: number; budget_duration: string | null; tokens_used: number }>;
}

export function UsagePage() {
  const [hours, setHours] = useState(168);
  const usage = useFetched(() => get<UsageOverview>(`/api/usage?hours=${hours}`), [hours], ["usage"]);
  useReady("usage", usage.value !== undefined);
  const u = usage.value;
  return (
    <>
      <Section
        title="Tokens per hour, per model"
        actions={
          <select value={hours} onChange={(e) => setHours(Number(e.currentTarget.value))} aria-label="span">
            {[24, 168, 720].map((h) => (
              <option value={h}>last {h / 24} days</option>
            ))}
          </select>
        }
      >
        <Problems error={usage.error} />
        {u && (u.hourly.length === 0 ? <p class="muted">No gateway requests in this span.</p> : <HourlyChart since={u.since} hourly={u.hourly} />)}
      </Section>
      {u && (
        <>
          <Section title="Budgets">
            {u.key_budgets.length + u.agent_budgets.length === 0 && <p class="muted">No key or agent card has a budget.</p>}
            <table>
              <tbody>
                {u.key_budgets.map((b) => (
                  <>
                    {b.max_budget !== null && <BudgetRow name={`key ${b.key}`} used={b.spend} limit={b.max_budget} show={usd} window={b.budget_duration} />}
                    {b.max_tokens_budget !== null && <BudgetRow name={`key ${b.key}`} used={b.tokens_used} limit={b.max_tokens_budget} show={(n) => `${count(n)} tokens`} window={b.budget_duration} />}
                  </>
                ))}
                {u.agent_budgets.map((b) => (
                  <BudgetRow name={`agent ${b.agent_id}`} used={b.tokens_used} limit={b.max_tokens_budget} show={(n) => `${count(n)} tokens`} window={b.budget_duration} />
                ))}
              </tbody>
            </table>
          </Section>
          <SummaryTable title="Per agent" rows={u.by_agent} />
          <SummaryTable title="Per key" rows={u.by_key} />
          <SummaryTable title="Per model" rows={u.by_model} />
        </>
      )}
    </>
  );
}

function HourlyChart(props: { since: string; hourly: UsageOverview["hourly"] }) {
  const hours = hourGrid(Date.parse(props.since));
  const models = [...new Set(props.hourly.map((h) => h.model))].sort();
  const at = new Map(props.hourly.map((h) => [`${h.hour} ${h.model}`, h.tokens]));
  return (
    <Chart
      label="tokens per hour"
      bars
      times={hours.map(hourSeconds)}
      series={models.map((m) => ({ name: m, values: hours.map((h) => at.get(`${h} ${m}`) ?? 0) }))}
    />
  );
}

function BudgetRow(props: { name: string; used: number; limit: number; show: (n: number) => string; window: string | null }) {
  const left = Math.max(0, props.limit - props.used);
  return (
    <tr class="budget">
      <td>{props.name}</td>
      <td>
        <meter min={0} max={props.limit} value={props.used} high={props.limit * 0.8} optimum={0} />
      </td>
      <td>
        {props.show(props.used)} of {props.show(props.limit)}
        {props.window ? ` per ${props.window}` : ""} · {props.show(left)} left
      </td>
    </tr>
  );
}

function SummaryTable(props: { title: string; rows: Summary[] }) {
  return (
    <Section title={props.title}>
      <table>
        <thead>
          <tr>
            <th />
            <th>Requests</th>
            <th>Input tokens</th>
            <th>Output tokens</th>
            <th>Cost</th>
            <th>Rate-limited</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr>
              <td>{r.group ?? "(no agent)"}</td>
              <td>{r.requests}</td>
              <td>{count(r.input_tokens)}</td>
              <td>{count(r.output_tokens)}</td>
              <td>{usd(r.cost)}</td>
              <td>{r.rate_limited}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}
