import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { Dashboard } from "../src/dashboard/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { openStore, type AgentRecord, type RunRecord } from "../src/store/index.js";
import { Supervisor } from "../src/supervisor/index.js";
import { launchBrowser } from "../test/dashboard-helpers.js";
import { ROOT } from "../test/helpers.js";
import { printTable } from "./stats.js";

const AGENTS = 200;
const RUNS = 10_000;
const ROUNDS = 15;

/**
 * The dashboard's render time in Debian's Chromium: the agents page with 200 agents and the runs page with 10,000
 * runs, from navigation to the page shown with its data (its own performance mark: the fetch of the data included),
 * beside the same rows as a plain HTML table written by the server (no script at all), loaded in the same browser.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-dashboard-"));
  const paths = paddockPaths({ PADDOCK_HOME: join(dir, "home") });
  const store = openStore(paths);
  process.stderr.write(`seeding ${AGENTS} agents and ${RUNS} runs...\n`);
  const now = Date.now();
  for (let i = 0; i < AGENTS; i++) await store.claimAgent(agentRecord(i, now));
  for (let i = 0; i < RUNS; i++) await store.saveRun(runRecord(i, now));
  const supervisor = new Supervisor({ store, paths });
  const token = "bench-token-0123456789abcdef";
  const dashboard = new Dashboard({ supervisor, store, token, assetsDir: join(ROOT, "dist", "dashboard"), uploadsDir: join(dir, "uploads"), spawn: () => Promise.reject(new Error("not in the bench")) });
  const address = await dashboard.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${address.port}/`;

  const agents = (await supervisor.list()).map((a) => [a.agent_id, a.kind, a.state, "–", "–", "–", String(a.restarts)]);
  const runs = (await store.listRuns({})).map((r) => [r.run_id, r.agent_id, r.outcome ?? r.state, r.prompt.slice(0, 300), String(r.input_tokens + r.output_tokens), String(r.duration_ms), String(r.changed_files.length), r.created_at]);
  const plain = createServer((req, res) => {
    const rows = req.url === "/runs" ? runs : agents;
    const body = rows.map((cells) => `<tr>${cells.map((c) => `<td>${escape(c)}</td>`).join("")}</tr>`).join("\n");
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(`<!doctype html><html><head><meta charset="utf-8"><title>plain</title></head><body><table><tbody>${body}</tbody></table></body></html>`);
  });
  await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
  const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;

  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${url}login`);
    await page.fill("input[name=token]", token);
    await page.click("button[type=submit]");
    await page.waitForSelector("body[data-ready]");
    const rows = [];
    for (const [name, path] of [["agents", ""], ["runs", "runs"]] as const) {
      const paddock: number[] = [];
      const reference: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        paddock.push(await rendered(page, `${url}${path}`, name));
        reference.push(await plainLoaded(page, `${plainUrl}${path}`));
        process.stderr.write(`\r${name} ${i + 1}/${ROUNDS}   `);
      }
      const count = name === "agents" ? AGENTS : RUNS;
      rows.push({ name: `plain HTML table, ${count} ${name} (reference)`, samples: reference }, { name: `paddock ${name} page, ${count} ${name}`, samples: paddock });
    }
    process.stderr.write("\n");
    printTable(`Dashboard render in Chromium, navigation to data shown (${ROUNDS} rounds each; target under 300 ms)`, rows.slice(0, 2), rows[0]!.name);
    printTable("", rows.slice(2), rows[2]!.name);
  } finally {
    await browser.close();
    await dashboard.close();
    plain.close();
    await store.close();
  }
}

/** From navigation start to the page's own mark: data fetched, rendered and committed. */
async function rendered(page: Page, url: string, name: string): Promise<number> {
  await page.goto(url);
  await page.waitForSelector(`body[data-ready=${name}]`);
  return page.evaluate((mark) => performance.getEntriesByName(mark)[0]!.startTime, `paddock:${name}`);
}

/** From navigation start to the static table parsed and laid out (the load event's end). */
async function plainLoaded(page: Page, url: string): Promise<number> {
  await page.goto(url, { waitUntil: "load" });
  return page.evaluate(() => {
    document.body.getBoundingClientRect();
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    return nav.loadEventEnd || performance.now();
  });
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function agentRecord(i: number, now: number): AgentRecord {
  const id = `agent-${String(i).padStart(3, "0")}`;
  return {
    agent_id: id,
    kind: i % 3 === 0 ? "opencode" : i % 3 === 1 ? "claude-code" : "command",
    state: i % 4 === 0 ? "failed" : "exited",
    card: { agent_id: id, kind: "command", model: "qwen-coder", ttl_seconds: 3600 },
    card_path: `/srv/cards/${id}.yaml`,
    sandbox: null,
    pid: null,
    pid_start: null,
    egress_socket: null,
    log_path: `/nonexistent/${id}.log`,
    restarts: i % 5,
    created_at: new Date(now - (AGENTS - i) * 60_000).toISOString(),
    started_at: new Date(now - (AGENTS - i) * 60_000).toISOString(),
    ended_at: new Date(now - (AGENTS - i) * 30_000).toISOString(),
    exit: { cause: "exited", code: 0 },
    error: null,
  };
}

function runRecord(i: number, now: number): RunRecord {
  const created = new Date(now - (RUNS - i) * 10_000).toISOString();
  return {
    run_id: `run-${String(i).padStart(5, "0")}`,
    agent_id: `agent-${String(i % AGENTS).padStart(3, "0")}`,
    state: "finished",
    prompt: `Fix the failing test in module ${i % 97} and explain the change; keep the public interface as it is.`,
    model: "qwen-coder",
    outcome: (["COMPLETE", "COMPLETE", "NEEDS_INFO", "ERROR"] as const)[i % 4]!,
    summary: "Changed the comparison and added a test.",
    questions: [],
    recovered: false,
    attempts: [{ started_at: created, duration_ms: 42_000, exit: { code: 0 }, result: "parsed", stdout_bytes: 5000 }],
    error: null,
    changed_files: [{ path: "src/a.ts", status: "modified" }],
    input_tokens: 12_000 + i,
    output_tokens: 800,
    requests: 9,
    duration_ms: 42_000,
    conversation: "…",
    created_at: created,
    ended_at: created,
  };
}
