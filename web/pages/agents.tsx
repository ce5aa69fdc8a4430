import { useState } from "preact/hooks";
import { get, post } from "../api.js";
import { Problems, Section, Sparkline, useReady } from "../components.js";
import { bytes, duration } from "../format.js";
import { useFetched, useLive } from "../live.js";
import { Link, navigate } from "../router.js";

export function AgentsPage() {
  const { snapshot } = useLive();
  const [error, setError] = useState<unknown>();
  useReady("agents", snapshot !== undefined);
  if (!snapshot) return <p class="muted">Loading agents…</p>;
  const stop = (id: string) => post(`/api/agents/${encodeURIComponent(id)}/stop`, { grace_seconds: 10 }).catch(setError);
  const running = snapshot.agents.filter((a) => a.uptime_ms !== null).length;
  return (
    <>
      <SpawnForm />
      <Section title={`Agents (${running} running of ${snapshot.agents.length})`}>
        <Problems error={error} />
        <table class="agents">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Kind</th>
              <th>State</th>
              <th>Uptime</th>
              <th>Memory</th>
              <th>CPU</th>
              <th>TTL left</th>
              <th>Restarts</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {snapshot.agents.map((a) => {
              const samples = snapshot.samples[a.agent_id] ?? [];
              const alive = a.uptime_ms !== null;
              const cpu = samples.at(-1)?.[2];
              return (
                <tr key={a.agent_id} data-agent={a.agent_id}>
                  <td>
                    <Link href={`/agents/${encodeURIComponent(a.agent_id)}`}>{a.agent_id}</Link>
                  </td>
                  <td>{a.kind}</td>
                  <td>
                    <span class={`state state-${a.state}`}>{a.state}</span>
                  </td>
                  <td>{duration(a.uptime_ms)}</td>
                  <td>
                    <div class="metric">
                      <Sparkline values={samples.map((s) => s[1])} label={`memory of ${a.agent_id}`} />
                      {bytes(a.memory_bytes)}
                    </div>
                  </td>
                  <td>
                    <div class="metric">
                      <Sparkline values={samples.map((s) => s[2])} label={`CPU of ${a.agent_id}`} />
                      {alive && cpu !== null && cpu !== undefined ? `${cpu}%` : "–"}
                    </div>
                  </td>
                  <td>{a.ttl_left_s === null ? "–" : duration(a.ttl_left_s * 1000)}</td>
                  <td>{a.restarts}</td>
                  <td>
                    {alive && (
                      <div class="actions">
                        <code title="a terminal in its sandbox">paddock attach {a.agent_id}</code>
                        <button class="danger" onClick={() => void stop(a.agent_id)}>
                          Stop
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Section>
    </>
  );
}

/** Spawn from a card of the daemon's cards folder, or a card file from this computer. */
function SpawnForm() {
  const cards = useFetched(() => get<Array<{ name: string }>>("/api/cards"), []);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (form: HTMLFormElement) => {
    const data = new FormData(form);
    const file = data.get("file") as File | null;
    const name = String(data.get("name") ?? "").trim();
    const ttl = String(data.get("ttl") ?? "").trim();
    const request = {
      ...(file && file.size > 0 ? { upload: { filename: file.name, text: await file.text() } } : { card: String(data.get("card") ?? "") }),
      ...(name ? { name } : {}),
      ...(ttl ? { ttl_seconds: Number(ttl) } : {}),
    };
    setBusy(true);
    try {
      const agent = await post<{ agent_id: string }>("/api/agents", request);
      setError(undefined);
      navigate(`/agents/${encodeURIComponent(agent.agent_id)}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Spawn an agent">
      <form
        class="spawn"
        onSubmit={(e) => {
          e.preventDefault();
          void submit(e.currentTarget);
        }}
      >
        <label>
          Card
          <select name="card">
            {(cards.value ?? []).map((c) => (
              <option value={c.name}>{c.name}</option>
            ))}
          </select>
        </label>
        <label>
          or a card file
          <input type="file" name="file" accept=".yaml,.yml,.json,.toml" />
        </label>
        <label>
          Name
          <input name="name" placeholder="the card's agent_id" pattern="[a-z0-9\-]+" />
        </label>
        <label>
          TTL (s)
          <input name="ttl" type="number" min="0" step="1" />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Spawning…" : "Spawn"}
        </button>
      </form>
      <Problems error={error} />
    </Section>
  );
}
