import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT, run } from "./helpers.js";

/** The suites that exercise the store, run again with PostgreSQL behind them. */
const STORE_SUITES = /^(gateway-.*|egress-proxy|store-summaries)\.test\.js$/;

describe("the same store-backed suites against a real PostgreSQL", () => {
  const url = process.env.PADDOCK_TEST_POSTGRES_URL;
  it("pass with database_url pointing at PostgreSQL", { skip: url ? false : "set PADDOCK_TEST_POSTGRES_URL (.ci/run starts a PostgreSQL and sets it)" }, async () => {
    const dir = join(ROOT, "dist", "test");
    const files = readdirSync(dir).filter((f) => STORE_SUITES.test(f)).map((f) => join(dir, f));
    assert.ok(files.length >= 4, `found only ${files.join(", ")}`);
    // NODE_TEST_CONTEXT would make the nested runner report to this one instead of printing its own results.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = await run([process.execPath, "--test", "--test-reporter=tap", "--test-concurrency=1", ...files], { env: { ...env, PADDOCK_TEST_STORE: url, PADDOCK_TEST_POSTGRES_URL: "" } });
    const passed = Number(/^# pass (\d+)$/m.exec(r.stdout)?.[1] ?? 0);
    assert.equal(r.code, 0, `the PostgreSQL run failed:\n${r.stdout.split("\n").filter((l) => /not ok|error|Error|expected|actual/.test(l)).slice(0, 40).join("\n")}`);
    assert.ok(passed >= 40, `only ${passed} tests ran against PostgreSQL`);
    assert.match(r.stdout, /^# fail 0$/m);
  });
});
