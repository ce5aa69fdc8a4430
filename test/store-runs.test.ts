import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { paddockPaths } from "../src/paths/index.js";
import { openStoreAt, type RunRecord } from "../src/store/index.js";
import { scratch, testStore } from "./helpers.js";

function run(id: string, fields: Partial<RunRecord> = {}): RunRecord {
  return {
    run_id: id, agent_id: "a1", state: "finished", prompt: "p".repeat(400), model: "coder", outcome: "COMPLETE", summary: "done", questions: [], recovered: false,
    attempts: [], error: null, changed_files: [{ path: "a", status: "modified" }, { path: "b", status: "added" }], input_tokens: 1200, output_tokens: 30, requests: 3,
    duration_ms: 4200, conversation: "c".repeat(200_000), created_at: "2026-12-01T10:00:00.000Z", ended_at: "2026-12-01T10:01:00.000Z", ...fields,
  };
}

/** Puts a store back to before its run summaries (as a store of the previous paddock), with the runs it has. */
async function rewindSummaries(location: string): Promise<void> {
  const undo = "ALTER TABLE runs DROP COLUMN summary; DROP INDEX runs_created;";
  if (!location.startsWith("postgres")) {
    const db = new Database(location);
    db.exec(undo);
    db.pragma(`user_version = ${(db.pragma("user_version", { simple: true }) as number) - 1}`);
    return void db.close();
  }
  const url = new URL(location);
  const schema = url.searchParams.get("schema")!;
  url.searchParams.delete("schema");
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query(`SET search_path TO ${schema}; ${undo} DELETE FROM paddock_migrations WHERE version = (SELECT max(version) FROM paddock_migrations)`);
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
