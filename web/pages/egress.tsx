import { useState } from "preact/hooks";
import { get } from "../api.js";
import { Chart, Problems, Section, useReady } from "../components.js";
import { useFetched } from "../live.js";
import { Link } from "../router.js";

interface EgressOverview {
  bucket_seconds: number;
  times: number[];
  allowed: number[];
  denied: number[];
  top_denied: Array<{ agent_id: string; hosts: Array<{ host: string; count: number }> }>;
  records: number;
}

export function EgressPage() {
  const [hours, setHours] = useState(24);
  const overview = useFetched(() => get<EgressOverview>(`/api/egress?hours=${hours}`), [hours], ["egress"]);
  useReady("egress", overview.value !== undefined);
  const o = overview.value;
  return (
    <>
      <Section
        title="Egress decisions over time"
        actions={
          <select value={hours} onChange={(e) => setHours(Number(e.currentTarget.value))} aria-label="span">
            {[1, 6, 24, 168].map((h) => (
              <option value={h}>last {h < 48 ? `${h} h` : `${h / 24} days`}</option>
            ))}
          </select>
        }
      >
        <Problems error={overview.error} />
        {o && (
          <>
            <p class="muted">
              {o.records} requests; {o.allowed.reduce((a, b) => a + b, 0)} allowed, {o.denied.reduce((a, b) => a + b, 0)} denied, per {o.bucket_seconds / 60} minutes
            </p>
            <Chart label="allowed and denied requests" bars times={o.times} series={[{ name: "allowed", values: o.allowed }, { name: "denied", values: o.denied }]} />
          </>
        )}
      </Section>
      <Section title="Most denied hosts per agent">
        {o && o.top_denied.length === 0 && <p class="muted">Nothing denied in this span.</p>}
        <table>
          <tbody>
            {o?.top_denied.map((a) => (
              <tr data-agent={a.agent_id}>
                <td>
                  <Link href={`/agents/${encodeURIComponent(a.agent_id)}`}>{a.agent_id}</Link>
                </td>
                <td>
                  {a.hosts.map((h) => (
                    <span class="chip">
                      {h.host} <b>{h.count}</b>
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </>
  );
}
