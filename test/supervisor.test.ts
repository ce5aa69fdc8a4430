import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadCard } from "../src/card/index.js";
import { EgressService } from "../src/egress/index.js";
import { PaddockError } from "../src/errors/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { openStoreAt, type Store } from "../src/store/index.js";
import { Supervisor } from "../src/supervisor/index.js";
import { eventually } from "./egress-helpers.js";
import { hostProcessesWith, paddockCgroups, scratch, testStore, writeCard } from "./helpers.js";

describe("supervisor: agents spawned and stopped at run time", () => {
  const { dir, env } = scratch("paddock-supervisor-");
  const paths = paddockPaths(env);
  const workspace = join(dir, "ws");
  let store: Store;
  let egress: EgressService;
  let supervisor: Supervisor;
  const cardFile = (name: string, extra: Record<string, unknown>) =>
    writeCard(dir, `${name}.json`, { agent_id: name, workspace, kind: "command", tools: ["sh", "coreutils"], resource_limits: { memory_mb: 128, max_processes: 16 }, ...extra });
  const card = async (name: string, extra: Record<string, unknown>) => (await loadCard(cardFile(name, extra))).card;

  before(() => {
    mkdirSync(workspace, { recursive: true });
    store = openStoreAt(testStore(paths));
    egress = new EgressService(paths);
    supervisor = new Supervisor({ store, paths, egress, logMaxBytes: 64 * 1024 });
  });
  after(async () => {
    await supervisor.close(500);
    await egress.close();
    await store.close();
  });

  it("runs several agents, lists them with their pids, and keeps each one's output in its log", async () => {
    for (const name of ["one", "two", "three"]) await supervisor.spawn(await card(name, { command: ["sh", "-c", `echo "hello from $AGENT_ID"; sleep 30`] }));
    const listed = await supervisor.list();
    const running = listed.filter((a) => ["one", "two", "three"].includes(a.agent_id));
    assert.deepEqual(running.map((a) => a.state), ["running", "running", "running"]);
    for (const a of running) {
      assert.ok(a.pid && existsSync(`/proc/${a.pid}`), `${a.agent_id} has no live pid`);
      assert.ok((a.uptime_ms ?? -1) >= 0);
      assert.ok((a.memory_bytes ?? 0) > 0, "memory is read from the agent's cgroup");
    }
    await eventually(async () => (readFileSync(running[1]!.log_path, "utf8").includes("hello from two") ? true : undefined));
    for (const name of ["one", "two", "three"]) assert.equal((await supervisor.stop(name, 1000)).state, "stopped");
    assert.deepEqual(hostProcessesWith("sleep 30").filter((pid) => readFileSync(`/proc/${pid}/environ`, "latin1").includes("AGENT_ID=")), []);
  });

  it("refuses a second spawn of a live agent id, and allows it once the first has ended", async () => {
    const c = await card("solo", { command: ["sleep", "30"] });
    await supervisor.spawn(c);
    await assert.rejects(supervisor.spawn(c), (e: unknown) => e instanceof PaddockError && e.code === "agent_exists" && /already running/.test(e.message));
    // Stopped at once after its start, before the runtime has forked the command: SIGTERM must still reach it.
    const started = Date.now();
    await supervisor.stop("solo", 3000);
    assert.ok(Date.now() - started < 1500, `the stop waited out its grace (${Date.now() - started} ms)`);
    const again = await supervisor.spawn(c);
    assert.equal(again.state, "running");
    await supervisor.stop("solo", 1000);
  });

  it("stops with grace (SIGTERM reaches the agent), then kills one that ignores it", async () => {
    await supervisor.spawn(await card("polite", { command: ["sh", "-c", 'trap "echo cleaning up; exit 0" TERM; while true; do sleep 1; done'] }));
    await supervisor.spawn(await card("stubborn", { command: ["sh", "-c", 'trap "" TERM; while true; do sleep 1; done'] }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const polite = await supervisor.stop("polite", 5000);
    assert.equal(polite.state, "stopped");
    assert.match(readFileSync(polite.log_path, "utf8"), /cleaning up/);
    const started = Date.now();
    const stubborn = await supervisor.stop("stubborn", 700);
    assert.equal(stubborn.state, "stopped");
    assert.ok(Date.now() - started >= 700, "killed before its grace ran out");
  });

  it("ends an agent at its ttl_seconds", async () => {
    await supervisor.spawn(await card("brief", { command: ["sleep", "30"], ttl_seconds: 1 }));
    assert.ok(((await supervisor.status("brief")).ttl_left_s ?? 99) <= 1);
    const ended = await eventually(async () => {
      const a = await supervisor.status("brief");
      return a.state === "stopped" ? a : undefined;
    }, 5000);
    assert.equal((ended.exit as { cause: string }).cause, "ttl");
  });

  it("restarts on failure with growing backoff, up to max_restarts, with the card as it was at spawn", async () => {
    const file = cardFile("flaky", { command: ["sh", "-c", "echo attempt v1; exit 3"], restart: { policy: "on-failure", max_restarts: 2, backoff_seconds: 0.2 } });
    const started = Date.now();
    await supervisor.spawn((await loadCard(file)).card, { cardPath: file });
    // A change of the card on disk must not reach the running agent.
    writeFileSync(file, readFileSync(file, "utf8").replace("attempt v1", "attempt v2"));
    const failed = await eventually(async () => {
      const a = await supervisor.status("flaky");
      return a.state === "failed" ? a : undefined;
    }, 5000);
    assert.equal(failed.restarts, 2);
    assert.ok(Date.now() - started >= 600, "restarted without waiting 0.2 s then 0.4 s");
    const log = readFileSync(failed.log_path, "utf8");
    assert.equal(log.match(/attempt v1/g)?.length, 3);
    assert.doesNotMatch(log, /attempt v2/);
    assert.equal((failed.exit as { code: number }).code, 3);
  });

  it("gives an agent with allowed_hosts its egress identity and revokes it when the agent ends", async () => {
    await supervisor.spawn(await card("netted", { command: ["sleep", "30"], allowed_hosts: ["example.com"] }));
    assert.ok(egress.proxy.agentIds().includes("netted"));
    await supervisor.stop("netted", 1000);
    assert.ok(!egress.proxy.agentIds().includes("netted"));
  });

  it("rotates a log that outgrows its cap", async () => {
    await supervisor.spawn(await card("chatty", { command: ["sh", "-c", "while true; do echo 0123456789012345678901234567890123456789; done"] }));
    const log = (await supervisor.status("chatty")).log_path;
    await eventually(async () => (existsSync(`${log}.1`) ? true : undefined), 8000);
    await supervisor.stop("chatty", 500);
    assert.ok(statSync(`${log}.1`).size >= 64 * 1024);
  });

  it("refuses an agent that needs a model when it runs no gateway, and says how to give it one", async () => {
    await assert.rejects(supervisor.spawn(await card("coder", { kind: "opencode" })), (e: unknown) => e instanceof PaddockError && e.code === "gateway_unavailable" && /--gateway/.test(e.hint ?? ""));
    await assert.rejects(supervisor.status("coder"), (e: unknown) => e instanceof PaddockError && e.code === "agent_unknown", "a refused card leaves no record");
  });

  it("refuses more agents than the host's limit", async () => {
    const small = new Supervisor({ store, paths, maxAgents: 1 });
    try {
      await small.spawn(await card("first", { command: ["sleep", "30"] }));
      await assert.rejects(small.spawn(await card("second", { command: ["sleep", "30"] })), (e: unknown) => e instanceof PaddockError && e.code === "agent_limit" && /limit is 1/.test(e.message));
    } finally {
      await small.close(500);
    }
  });

  it("leaves no cgroup behind", async () => {
    await eventually(async () => (paddockCgroups().length === 0 ? true : undefined));
  });
});
