import { get } from "../api.js";
import { Problems, Section, useReady } from "../components.js";
import { count, duration, time } from "../format.js";
import { useFetched } from "../live.js";
import { Link } from "../router.js";
// The store's own types (erased from the bundle): one definition of a run, the server's.
import type { RunRecord as Run } from "../../src/store/records.js";

export function RunPage(props: { id: string }) {
  const run = useFetched(() => get<Run>(`/api/runs/${encodeURIComponent(props.id)}`), [props.id], ["runs"]);
  useReady("run", run.value !== undefined);
  if (!run.value) return <Problems error={run.error} />;
  const r = run.value;
  return (
    <>
      <header class="page-head">
        <h1>{r.run_id}</h1>
        <span class={`outcome outcome-${r.outcome ?? r.state}`}>{r.outcome ?? r.state}</span>
        <span class="muted">
          agent <Link href={`/agents/${encodeURIComponent(r.agent_id)}`}>{r.agent_id}</Link>
          {r.role ? ` as ${r.role}` : ""} · {r.model ?? "default model"} · {time(r.created_at)} · {duration(r.duration_ms)} · {count(r.input_tokens)} in / {count(r.output_tokens)} out tokens in {r.requests} requests
        </span>
      </header>
      <Section title="Prompt">
        <pre class="wrap">{r.prompt}</pre>
      </Section>
      <Section title={`Contract${r.recovered ? " (recovered from the narrative)" : ""}`}>
        <pre class="wrap">{JSON.stringify({ outcome: r.outcome, summary: r.summary, questions: r.questions, ...(r.sections ? { sections: r.sections } : {}) }, null, 2)}</pre>
        {r.error && (
          <p class="error">
            {r.error.category}: {r.error.message} — {r.error.hint}
          </p>
        )}
      </Section>
      {r.verifications && (
        <Section title="Verification">
          {r.verifications.map((v) => (
            <div class="verification">
              <p>
                <span class={`outcome outcome-${v.passed ? "COMPLETE" : "ERROR"}`}>{v.passed ? "passed" : v.timed_out ? "ran out of time" : `failed (exit ${v.exit_code ?? "by a signal"})`}</span> <code>{v.command}</code> <span class="muted">{duration(v.duration_ms)}</span>
              </p>
              {v.output_tail && <pre class="wrap">{v.output_tail}</pre>}
            </div>
          ))}
        </Section>
      )}
      <Section title={`Attempts (${r.attempts.length})`}>
        <table>
          <thead>
            <tr>
              <th>#</th>
              <th>Started</th>
              <th>Duration</th>
              <th>Result</th>
              <th>Exit</th>
              <th>Output</th>
            </tr>
          </thead>
          <tbody>
            {r.attempts.map((a, i) => (
              <tr>
                <td>{i + 1}</td>
                <td>{time(a.started_at)}</td>
                <td>{duration(a.duration_ms)}</td>
                <td>{a.result}</td>
                <td>{a.exit ? JSON.stringify(a.exit) : "–"}</td>
                <td>{a.stdout_bytes} bytes</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title={`Changed files (${r.changed_files.length})`}>
        <ul class="files">
          {r.changed_files.map((f) => (
            <li>
              <span class={`file-${f.status}`}>{f.status}</span> {f.path}
            </li>
          ))}
        </ul>
        {r.workspace_notes?.map((n) => <p class="muted">{n}</p>)}
      </Section>
      <Section title={`Diff${r.diff?.truncated ? " (cut at 1 MiB)" : ""}`}>
        {r.diff ? (
          <pre class="diff">
            {r.diff.text.split("\n").map((line) => (
              <div class={line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : undefined}>{line}</div>
            ))}
          </pre>
        ) : (
          <p class="muted">No diff: no tracked file changed (added files are listed above), or the workspace is not a git repository.</p>
        )}
      </Section>
      <Section title="Conversation">
        <pre class="wrap">{r.conversation}</pre>
      </Section>
    </>
  );
}
