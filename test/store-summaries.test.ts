import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { paddockPaths } from "../src/paths/index.js";
import { openStoreAt, type EgressRecord, type RunRecord } from "../src/store/index.js";
import { scratch, testStore } from "./helpers.js";

function run(id: string, fields: Partial<RunRecord> = {}): RunRecord {
  return {
    run_id: id, agent_id: "a1", state: "finished", prompt: "p".repeat(400), model: "coder", outcome: "COMPLETE", summary: "done", questions: [], recovered: false,
    attempts: [], error: null, changed_files: [{ path: "a", status: "modified" }, { path: "b", status: "added" }], input_tokens: 1200, output_tokens: 30, requests: 3,
    duration_ms: 4200, conversation: "c".repeat(200_000), created_at: "2026-12-01T10:00:00.000Z", ended_at: "2026-12-01T10:01:00.000Z", ...fields,
  };
}

/** Puts a store back to before its run summaries (as a store of the previous paddock), with the runs it has. */
/** Back to the schema before run summaries: their migration and the one after it (the gateway's call windows) undone. */
async function rewindSummaries(location: string): Promise<void> {
  const undo = "DROP TABLE gateway_calls; ALTER TABLE runs DROP COLUMN summary; DROP INDEX runs_created;";
  if (!location.startsWith("postgres")) {
    const db = new Database(location);
    db.exec(undo);
    db.pragma(`user_version = ${(db.pragma("user_version", { simple: true }) as number) - 2}`);
    return void db.close();
  }
  const url = new URL(location);
  const schema = url.searchParams.get("schema")!;
  url.searchParams.delete("schema");
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query(`SET search_path TO ${schema}; ${undo} DELETE FROM paddock_migrations WHERE version >= (SELECT max(version) - 1 FROM paddock_migrations)`);
  await client.end();
}

describe("run summaries: a list of runs that never reads a conversation", () => {
  const location = testStore(paddockPaths(scratch().env));
  const store = openStoreAt(location);
  after(() => store.close());

  it("lists newest first with the fields a list shows, the prompt cut and the changed files counted, and filters by agent, outcome and time", async () => {
    await store.saveRun(run("r1"));
    await store.saveRun(run("r2", { agent_id: "a2", outcome: "ERROR", created_at: "2026-12-02T10:00:00.000Z" }));
    await store.saveRun(run("r3", { state: "running", outcome: null, duration_ms: null, ended_at: null, created_at: "2026-12-03T10:00:00.000Z" }));
    const all = await store.runSummaries({ limit: 10 });
    assert.deepEqual(all.map((r) => r.run_id), ["r3", "r2", "r1"]);
    assert.deepEqual(all[2], {
      run_id: "r1", agent_id: "a1", created_at: "2026-12-01T10:00:00.000Z", state: "finished", outcome: "COMPLETE", model: "coder", input_tokens: 1200, output_tokens: 30,
      requests: 3, duration_ms: 4200, ended_at: "2026-12-01T10:01:00.000Z", prompt: "p".repeat(160), changed_files: 2,
    });
    assert.deepEqual((await store.runSummaries({ agentId: "a2", limit: 10 })).map((r) => r.run_id), ["r2"]);
    assert.deepEqual((await store.runSummaries({ outcome: "running", limit: 10 })).map((r) => r.run_id), ["r3"], "an unfinished run matches its state");
    assert.deepEqual((await store.runSummaries({ outcome: "COMPLETE", limit: 10 })).map((r) => r.run_id), ["r1"]);
    assert.deepEqual((await store.runSummaries({ since: "2026-12-02T00:00:00.000Z", limit: 1 })).map((r) => r.run_id), ["r3"]);
    // Saved again (finished), its summary follows.
    await store.saveRun(run("r3", { created_at: "2026-12-03T10:00:00.000Z", outcome: "NEEDS_INFO" }));
    assert.equal((await store.runSummaries({ limit: 1 }))[0]!.outcome, "NEEDS_INFO");
  });

  it("keeps a candidate run's evaluation, role, verification, cost and changed lines in its summary, and lists candidate runs alone", async () => {
    const candidate = { eval_id: "eval-1", name: "fast", card: "coder-card", repeat: 2 };
    const verifications = [{ command: "npm test", passed: false, exit_code: 1, output_tail: "", duration_ms: 5, timed_out: false }, { command: "npm test", passed: true, exit_code: 0, output_tail: "", duration_ms: 5, timed_out: false }];
    await store.saveRun(run("c1", { candidate, role: "implementer", cost: 0.25, verifications, diff: { text: "--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n-old\n+new\n+more\n", truncated: false }, created_at: "2026-12-04T10:00:00.000Z" }));
    const [summary, ...others] = await store.runSummaries({ candidates: true, limit: 10 });
    assert.deepEqual(others, [], "runs of no evaluation are left out");
    assert.deepEqual([summary!.run_id, summary!.candidate, summary!.role, summary!.cost, summary!.verified, summary!.changed_lines], ["c1", candidate, "implementer", 0.25, true, 3]);
    assert.ok((await store.runSummaries({ limit: 10 })).some((r) => r.run_id === "r1"));
  });

  it("gives the runs a store had before summaries existed their summaries when it is opened", async () => {
    const older = testStore(paddockPaths(scratch().env));
    const first = openStoreAt(older);
    await first.saveRun(run("old", { outcome: "NEEDS_INFO" }));
    await first.close();
    await rewindSummaries(older);
    const reopened = openStoreAt(older);
    try {
      const [summary] = await reopened.runSummaries({ limit: 10 });
      assert.deepEqual(summary, {
        run_id: "old", agent_id: "a1", created_at: "2026-12-01T10:00:00.000Z", state: "finished", outcome: "NEEDS_INFO", model: "coder", input_tokens: 1200, output_tokens: 30,
        requests: 3, duration_ms: 4200, ended_at: "2026-12-01T10:01:00.000Z", prompt: "p".repeat(160), changed_files: 2,
      });
    } finally {
      await reopened.close();
    }
  });
});

describe("egress summaries: decisions counted by the database", () => {
  const store = openStoreAt(testStore(paddockPaths(scratch().env)));
  after(() => store.close());
  const decision = (time: string, agent: string, host: string, allowed: boolean, extra: Partial<EgressRecord> = {}): EgressRecord => ({
    time, agent_id: agent, method: "CONNECT", host, port: 443, address: allowed ? "93.184.215.14" : null, decision: allowed ? "allowed" : "denied", rule: allowed ? host : null,
    reason: allowed ? "allowed" : "not_allowed", status: allowed ? 200 : 403, bytes_up: 10, bytes_down: allowed ? 1000 : 0, duration_ms: 3, credential: null, ...extra,
  });

  it("counts per time bucket and decision, per agent and host, and the largest groups first", async () => {
    await store.recordEgress([
      decision("2026-12-03T10:00:05.000Z", "a1", "example.org", true),
      decision("2026-12-03T10:00:55.500Z", "a1", "evil.example", false),
      decision("2026-12-03T10:01:10.000Z", "a1", "evil.example", false),
      decision("2026-12-03T10:01:20.000Z", "a2", "evil.example", false),
      decision("2026-12-03T10:02:00.000Z", "a2", "10.0.0.5", false, { reason: "blocked_address", address: "10.0.0.5", port: 80 }),
      decision("2026-12-03T09:00:00.000Z", "a1", "old.example", false),
    ]);
    const since = "2026-12-03T10:00:00.000Z";
    const buckets = await store.egressSummary({ by: ["bucket", "decision"], since, bucketSeconds: 60 });
    const minute = Date.parse(since) / 1000;
    assert.deepEqual(buckets.map((b) => [b.bucket, b.decision, b.requests]), [[minute, "allowed", 1], [minute, "denied", 1], [minute + 60, "denied", 2], [minute + 120, "denied", 1]]);
    const hosts = await store.egressSummary({ by: ["agent_id", "host"], decision: "denied", since });
    assert.deepEqual(hosts.map((h) => [h.agent_id, h.host, h.requests]), [["a1", "evil.example", 2], ["a2", "10.0.0.5", 1], ["a2", "evil.example", 1]]);
    const top = await store.egressSummary({ by: ["host"], top: 1 });
    assert.deepEqual(top.map((h) => [h.host, h.requests]), [["evil.example", 3]]);
    const groups = await store.egressSummary({ by: ["decision", "host", "port", "reason"], agentId: "a2" });
    assert.deepEqual(groups.map((g) => [g.decision, g.host, g.port, g.reason, g.requests, g.address, g.last]), [
      ["denied", "10.0.0.5", 80, "blocked_address", 1, "10.0.0.5", "2026-12-03T10:02:00.000Z"],
      ["denied", "evil.example", 443, "not_allowed", 1, null, "2026-12-03T10:01:20.000Z"],
    ]);
    const allowed = await store.egressSummary({ by: ["agent_id"], decision: "allowed" });
    assert.deepEqual(allowed.map((a) => [a.agent_id, a.requests, a.bytes_down, a.rule]), [["a1", 1, 1000, "example.org"]]);
  });
});
