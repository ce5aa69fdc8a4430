import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { paddockPaths } from "../src/paths/index.js";
import { ScriptedModel } from "../src/scripted/index.js";
import { openStore } from "../src/store/index.js";
import { dashboardOf, launchBrowser, logIn, screenshot } from "./dashboard-helpers.js";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { freePort, paddock, paddockCgroups, scratch } from "./helpers.js";

const MASTER = "sk-dashboard-test-master";
/** Agent-written text that would run as script if a page put it in as HTML. */
const HOSTILE_LINE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
const HOSTILE_CARD = `<script>window.__pwned=3</script>`;

describe("the web dashboard, in Debian's Chromium against a real daemon", () => {
  const { dir, env } = scratch("paddock-dashboard-");
  const cards = join(dir, "cards");
  let upstream: ScriptedModel;
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  let browser: Browser;
  let url: string;
  let token: string;
  let gatewayUrl: string;

  before(async () => {
    upstream = await new ScriptedModel({ model: "coder", script: [{ content: "done", repeat: true }] }).listen();
    const config = join(dir, "paddock.yaml");
    writeFileSync(config, `model_list:\n  - model_name: coder\n    litellm_params: { model: openai/coder, api_base: "${upstream.url}", max_parallel_requests: 2 }\ngeneral_settings: { master_key: ${MASTER} }\npaddock_settings: { listen: "127.0.0.1:0" }\n`);
    mkdirSync(join(dir, "ws"), { recursive: true });
    mkdirSync(cards, { recursive: true });
    // It writes a line a second, hostile HTML first, and asks the proxy for a host its card does not allow.
    const script = `echo '${HOSTILE_LINE}'; i=0; while true; do i=$((i+1)); echo "tick $i"; [ $i = 2 ] && curl -sS -o /dev/null -w 'curl got %{http_code}\\n' http://blocked.example.net/; sleep 1; done`;
    writeFileSync(join(cards, "web-agent.json"), JSON.stringify({ agent_id: "web-agent", workspace: join(dir, "ws"), kind: "command", command: ["sh", "-c", script], tools: ["sh", "coreutils", "curl"], allowed_hosts: ["example.org"], environment: { NOTE: HOSTILE_CARD } }));
    writeFileSync(join(cards, "sleeper.json"), JSON.stringify({ agent_id: "sleeper", workspace: join(dir, "ws"), kind: "command", command: ["sleep", "600"], tools: ["coreutils"] }));
    daemon = await startDaemon(env, ["--gateway", config, "--cards", cards, "--dashboard", "127.0.0.1:0"]);
    ({ url } = dashboardOf(daemon.output()));
    token = readFileSync(dashboardOf(daemon.output()).tokenFile, "utf8").trim();
    gatewayUrl = /gateway\s+(http:\/\/\S+)/.exec(daemon.output())![1]!;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (daemon) await stopDaemon(daemon.child);
    await upstream?.close();
    await eventually(async () => paddockCgroups().length === 0 || undefined, 60_000);
  });

  /** A logged-in page that records script errors and Content-Security-Policy refusals. */
  async function openPage(): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const problems: string[] = [];
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    await logIn(page, url, token);
    return { page, problems };
  }

  /** A session for calls made the way a script on another site, or a tool, would make them. */
  async function session(): Promise<{ cookie: string; csrf: string }> {
    const login = await fetch(`${url}login`, { method: "POST", body: new URLSearchParams({ token }), redirect: "manual" });
    assert.equal(login.status, 303);
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const { csrf } = (await (await fetch(`${url}api/session`, { headers: { cookie } })).json()) as { csrf: string };
    return { cookie, csrf };
  }

  it("refuses every page and call without the token, and never puts the token in a page, a URL or the cookie", async () => {
    const home = await fetch(url, { redirect: "manual" });
    assert.equal(home.status, 303);
    assert.equal(home.headers.get("location"), "/login");
    for (const path of ["api/agents", "api/events", "api/runs", "api/usage", "api/agents/x/log"]) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 401, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "unauthorized");
    }
    const forged = await fetch(`${url}api/agents`, { headers: { cookie: `${(await session()).cookie.split("=")[0]}=9999999999.AAAAAAAAAAAAAAAAAAAAAA.${"A".repeat(43)}` } });
    assert.equal(forged.status, 401, "a cookie not signed with the daemon's token is no session");
    const wrong = await fetch(`${url}login`, { method: "POST", body: new URLSearchParams({ token: "not-the-token" }) });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /not the daemon&#39;s token/);
    const login = await fetch(`${url}login`);
    assert.match(login.headers.get("content-security-policy")!, /script-src 'self'/);
    assert.doesNotMatch(await login.text(), /<script/, "the login page runs no script");

    const { page, problems } = await openPage();
    const [cookie] = await page.context().cookies();
    assert.ok(cookie!.httpOnly && cookie!.sameSite === "Strict", "the session cookie is HttpOnly and SameSite=Strict");
    assert.ok(!cookie!.value.includes(token) && !page.url().includes(token) && !(await page.content()).includes(token));
    assert.equal(await page.evaluate(() => document.cookie), "", "no script can read the session");
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("spawns an agent from the page, streams its log live, shows its denied request with the rule that would allow it, renders agent text as text, and stops it", async () => {
    const { page, problems } = await openPage();
    await page.selectOption("select[name=card]", "web-agent.json");
    await page.click("form.spawn button[type=submit]");
    await page.waitForURL(/\/agents\/web-agent$/);
    await page.waitForSelector("body[data-ready=agent]");
    await page.evaluate(() => ((window as unknown as { __sameLoad: boolean }).__sameLoad = true));
    // Lines written after the page opened arrive without a reload.
    await page.locator(".log-line", { hasText: "tick 2" }).waitFor({ timeout: 15_000 });
    await page.locator(".log-line", { hasText: "tick 5" }).waitFor({ timeout: 15_000 });

    const denied = page.locator('tr.denied[data-host="blocked.example.net"]');
    await denied.waitFor({ timeout: 15_000 });
    assert.match(await denied.innerText(), /not_allowed/);
    assert.match(await denied.innerText(), /allowed_hosts: \[blocked\.example\.net\]/);
    assert.ok(await page.locator(".log-line", { hasText: "curl got 403" }).count(), "the agent saw the proxy refuse it");

    // The agent's hostile line and the card's hostile field are on the page as text, and nothing of them ran.
    assert.ok((await page.locator(".log").innerText()).includes(HOSTILE_LINE));
    assert.ok((await page.locator(".card-json").innerText()).includes(HOSTILE_CARD));
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned), undefined);
    assert.equal(await page.locator("main img").count(), 0);

    await page.fill("input[type=search]", "onerror");
    assert.equal(await page.locator(".log-line").count(), 1, "the search keeps only the matching line");
    await page.fill("input[type=search]", "");
    await screenshot(page, "agent");

    await page.click("nav >> text=Agents");
    const row = page.locator('tr[data-agent="web-agent"]');
    await row.locator(".state-running").waitFor();
    // Two samples make a sparkline (one every two seconds).
    await row.locator("svg.spark polyline").first().waitFor({ timeout: 10_000 });
    assert.match(await row.innerText(), /paddock attach web-agent/);
    await screenshot(page, "agents");
    assert.equal(await page.evaluate(() => (window as unknown as { __sameLoad?: boolean }).__sameLoad), true, "no reload: pages change, and data arrives, without one");
    await row.locator("button", { hasText: "Stop" }).click();
    await row.locator(".state-stopped").waitFor({ timeout: 20_000 });
    const status = JSON.parse((await paddock(["status", "web-agent", "--json"], { env })).stdout) as { state: string };
    assert.equal(status.state, "stopped");
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("changes nothing for a request without the session's CSRF token, from another origin, or from a page on another site", async () => {
    const { cookie, csrf } = await session();
    const spawned = await fetch(`${url}api/agents`, { method: "POST", headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" }, body: JSON.stringify({ card: "sleeper.json" }) });
    assert.equal(spawned.status, 201, await spawned.clone().text());
    const stop = (headers: Record<string, string>) => fetch(`${url}api/agents/sleeper/stop`, { method: "POST", headers: { cookie, "content-type": "application/json", ...headers }, body: "{}" });
    const noToken = await stop({});
    assert.equal(noToken.status, 403);
    assert.equal(((await noToken.json()) as { error: { where: string } }).error.where, "X-CSRF-Token");
    const otherOrigin = await stop({ "x-csrf-token": csrf, origin: "http://evil.example" });
    assert.equal(otherOrigin.status, 403);
    assert.equal(((await otherOrigin.json()) as { error: { where: string } }).error.where, "Origin");
    const otherSession = await stop({ "x-csrf-token": (await session()).csrf });
    assert.equal(otherSession.status, 403, "a CSRF token is good for its own session only");

    // A logged-in browser visits a page on another site that posts to the dashboard, by form and by fetch.
    const dashboardPort = new URL(url).port;
    const attacker: Server = createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" }).end(`<form id=f method=post action="http://127.0.0.1:${dashboardPort}/api/agents/sleeper/stop" enctype="text/plain"><input name='{"grace_seconds":0,"x":"' value='"}'></form>
<script>fetch("http://127.0.0.1:${dashboardPort}/api/agents/sleeper/stop", { method: "POST", credentials: "include", mode: "no-cors", body: "{}" }).finally(() => document.getElementById("f").submit());</script>`);
    });
    const attackerPort = await freePort();
    await new Promise<void>((resolve) => attacker.listen(attackerPort, "127.0.0.1", resolve));
    const { page } = await openPage();
    const forged: string[] = [];
    page.on("response", (r) => r.url().endsWith("/stop") && forged.push(`form ${r.status()}`));
    // The fetch's answer is withheld from the other site by Cross-Origin-Resource-Policy; the request went out.
    page.on("requestfailed", (r) => r.url().endsWith("/stop") && forged.push(`fetch ${r.failure()?.errorText}`));
    await page.goto(`http://localhost:${attackerPort}/`);
    await eventually(async () => (forged.length >= 2 ? true : undefined), 10_000);
    // SameSite=Strict: the browser sent no session cookie with either, so the dashboard saw no one logged in.
    assert.deepEqual(forged.sort(), ["fetch net::ERR_BLOCKED_BY_RESPONSE.NotSameOrigin", "form 401"]);
    const status = JSON.parse((await paddock(["status", "sleeper", "--json"], { env })).stdout) as { state: string };
    assert.equal(status.state, "running", "the agent still runs");
    attacker.close();
    await page.close();
    assert.equal((await stop({ "x-csrf-token": csrf, origin: url.replace(/\/$/, "") })).status, 200, "the dashboard's own request works");
  });

  it("shows a scripted model run on the usage page (chart, key, budget) and the deployment on the models page", async () => {
    const created = await paddock(["keys", "create", "--alias", "dash-key", "--token-budget", "100000"], { env: { ...env, PADDOCK_GATEWAY_URL: gatewayUrl, PADDOCK_MASTER_KEY: MASTER } });
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gatewayUrl}/v1/chat/completions`, { method: "POST", headers: { Authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ model: "coder", messages: [{ role: "user", content: "hi" }] }) });
      assert.equal(res.status, 200);
    }
    const { page, problems } = await openPage();
    await page.click("nav >> text=Usage");
    await page.waitForSelector("body[data-ready=usage]");
    const chart = page.locator('.chart[aria-label="tokens per hour"]');
    await chart.waitFor({ timeout: 10_000 });
    assert.equal(await chart.getAttribute("data-series"), "1", "one model");
    assert.ok(await chart.locator("canvas").count(), "uPlot drew it");
    const keyRow = page.locator("section", { hasText: "Per key" }).locator("tr", { hasText: "dash-key" });
    assert.match(await keyRow.innerText(), /^dash-key\s+3\s/);
    const budget = /^key dash-key\s+([\d,]+) tokens of 100,000 tokens · ([\d,]+) tokens left$/.exec(await page.locator("tr.budget", { hasText: "dash-key" }).innerText());
    const [used, left] = [budget?.[1], budget?.[2]].map((n) => Number(n?.replace(/,/g, "")));
    assert.ok(used! > 0 && used! + left! === 100_000, `the key's token budget, used and left (${budget?.[0]})`);
    await screenshot(page, "usage");

    await page.click("nav >> text=Models");
    const deployment = page.locator('tr[data-deployment="coder#0"]');
    await deployment.waitFor();
    assert.match(await deployment.innerText(), /healthy/);
    assert.match(await deployment.innerText(), /0 of 2/);
    assert.match(await deployment.innerText(), /\(3 requests\)/);
    await screenshot(page, "models");
    await page.click("nav >> text=Egress");
    await page.waitForSelector("body[data-ready=egress]");
    assert.match(await page.locator('tr[data-agent="web-agent"]').innerText(), /blocked\.example\.net\s+\d+/, "the agent's denied host, counted");
    await screenshot(page, "egress");
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("lists runs with filters, and shows a run's attempts, contract and diff, as text", async () => {
    const store = openStore(paddockPaths(env));
    const base = { agent_id: "web-agent", state: "finished" as const, model: "coder", questions: [], recovered: false, error: null, input_tokens: 900, output_tokens: 40, requests: 2, duration_ms: 3100, conversation: "the agent's narrative", ended_at: new Date().toISOString() };
    const attempt = { started_at: new Date().toISOString(), duration_ms: 3000, exit: { code: 0 }, result: "parsed", stdout_bytes: 120 };
    await store.saveRun({ ...base, run_id: "run-dash-ok", prompt: "Fix the bug", outcome: "COMPLETE", summary: "fixed", attempts: [attempt], changed_files: [{ path: "src/a.js", status: "modified" }], created_at: new Date(Date.now() - 60_000).toISOString(), diff: { text: `--- a/src/a.js\n+++ b/src/a.js\n@@ -1 +1 @@\n-old\n+${HOSTILE_CARD}`, truncated: false } });
    await store.saveRun({ ...base, run_id: "run-dash-bad", prompt: "Break it", outcome: "ERROR", summary: null, attempts: [attempt], changed_files: [], created_at: new Date().toISOString() });
    await store.close();
    const { page, problems } = await openPage();
    await page.click("nav >> text=Runs");
    await page.waitForSelector("body[data-ready=runs]");
    await page.locator("tr[data-run]").first().waitFor();
    assert.deepEqual(await page.locator("tr[data-run]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run"))), ["run-dash-bad", "run-dash-ok"], "newest first");
    await page.selectOption('select[aria-label="outcome"]', "COMPLETE");
    await eventually(async () => ((await page.locator("tr[data-run]").count()) === 1 ? true : undefined));
    await screenshot(page, "runs");
    await page.click('tr[data-run="run-dash-ok"] a');
    await page.waitForSelector("body[data-ready=run]");
    assert.match(await page.locator("section", { hasText: "Attempts (1)" }).innerText(), /parsed/);
    assert.match(await page.locator("section", { hasText: "Contract" }).innerText(), /"summary": "fixed"/);
    assert.equal(await page.locator("pre.diff .add").innerText(), `+${HOSTILE_CARD}`, "the diff's added line, as text");
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned), undefined);
    await screenshot(page, "run");
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("ends a session at logout: its cookie opens nothing after", async () => {
    const { cookie, csrf } = await session();
    assert.equal((await fetch(`${url}api/agents`, { headers: { cookie } })).status, 200);
    assert.equal((await fetch(`${url}api/logout`, { method: "POST", headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" }, body: "{}" })).status, 200);
    assert.equal((await fetch(`${url}api/agents`, { headers: { cookie } })).status, 401);
    assert.equal((await fetch(url, { headers: { cookie }, redirect: "manual" })).headers.get("location"), "/login");
  });

  it("refuses a card it cannot read, and says where it is wrong", async () => {
    const { cookie, csrf } = await session();
    const res = await fetch(`${url}api/agents`, { method: "POST", headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" }, body: JSON.stringify({ upload: { filename: "bad.yaml", text: "agent_id: Bad Name\nkind: command\n" } }) });
    assert.equal(res.status, 400);
    const error = ((await res.json()) as { error: { problems: Array<{ field: string; line?: number }> } }).error;
    assert.ok(error.problems.some((p) => p.field === "agent_id" && p.line === 1), JSON.stringify(error));
    const traversal = await fetch(`${url}api/agents`, { method: "POST", headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" }, body: JSON.stringify({ card: "../paddock.yaml" }) });
    assert.equal(traversal.status, 400, "only cards of the cards folder, by name");
    const huge = await fetch(`${url}api/agents`, { method: "POST", headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" }, body: JSON.stringify({ upload: { filename: "big.yaml", text: "#".repeat(300_000) } }) });
    assert.equal(huge.status, 413);
  });

  it("slows down guessing: after ten wrong tokens in a minute, even the right one waits", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await fetch(`${url}login`, { method: "POST", body: new URLSearchParams({ token: `guess-${i}` }) })).status);
    // The first test's wrong token counts too: ten in all are answered, then none.
    assert.deepEqual(statuses, [...new Array<number>(9).fill(401), 429, 429]);
    const right = await fetch(`${url}login`, { method: "POST", body: new URLSearchParams({ token }), redirect: "manual" });
    assert.equal(right.status, 429);
  });
});
