import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { post, startSession } from "./api.js";
import { Problems } from "./components.js";
import { live } from "./live.js";
import { AgentPage } from "./pages/agent.js";
import { AgentsPage } from "./pages/agents.js";
import { EgressPage } from "./pages/egress.js";
import { ModelsPage } from "./pages/models.js";
import { RunPage } from "./pages/run.js";
import { RunsPage } from "./pages/runs.js";
import { UsagePage } from "./pages/usage.js";
import { Link, usePath } from "./router.js";

const NAV = [
  ["/", "Agents"],
  ["/runs", "Runs"],
  ["/egress", "Egress"],
  ["/usage", "Usage"],
  ["/models", "Models"],
] as const;

function Page(props: { path: string }) {
  const [, first, id] = props.path.split("?")[0]!.split("/").map(decodeURIComponent);
  if (first === "agents" && id) return <AgentPage id={id} />;
  if (first === "runs" && id) return <RunPage id={id} />;
  if (first === "runs") return <RunsPage />;
  if (first === "egress") return <EgressPage />;
  if (first === "usage") return <UsagePage />;
  if (first === "models") return <ModelsPage />;
  return <AgentsPage />;
}

function App() {
  const path = usePath();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    // Reads need no CSRF token: the event stream and each page's data start at once, beside the session.
    live.connect();
    startSession().catch(setError);
  }, []);
  const section = `/${path.split("/")[1]?.split("?")[0] ?? ""}`;
  return (
    <>
      <nav>
        <span class="brand">paddock</span>
        {NAV.map(([href, label]) => (
          <Link href={href} class={section === href || (href === "/" && section === "/agents") ? "active" : ""}>
            {label}
          </Link>
        ))}
        <button class="link" onClick={() => void post("/api/logout", {}).finally(() => location.assign("/login"))}>
          Log out
        </button>
      </nav>
      <main>{error ? <Problems error={error} /> : <Page path={path} />}</main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
