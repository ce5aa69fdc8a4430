import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ScriptedModel } from "../src/scripted/index.js";
import { eventually } from "./egress-helpers.js";
import { paddockPaths } from "../src/paths/index.js";
import { CLI, freePort, paddock, scratch, testStore, waitForPort } from "./helpers.js";

describe("paddock keys and paddock usage, against a real gateway", () => {
  let model: ScriptedModel;
  let gateway: ChildProcess;
  let url: string;
  let env: NodeJS.ProcessEnv;
  // SQLite, or PostgreSQL when the store-backed suites run again against it.
  let database: string;
  const master = "sk-keys-cli-master";

  before(async () => {
    const scratchDir = scratch();
    model = await new ScriptedModel({ model: "coder", script: [{ content: "fine", repeat: true }] }).listen();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const config = join(scratchDir.dir, "gateway.yaml");
    database = testStore(paddockPaths(scratchDir.env));
    writeFileSync(
      config,
      `model_list:\n  - model_name: coder\n    litellm_params:\n      model: openai/coder\n      api_base: ${model.url}\n      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n  - model_name: other\n    litellm_params:\n      model: openai/coder\n      api_base: ${model.url}\ngeneral_settings:\n  master_key: os.environ/PADDOCK_MASTER_KEY\n  database_url: "${database}"\npaddock_settings:\n  listen: 127.0.0.1:${port}\n`,
    );
    env = { ...scratchDir.env, PADDOCK_MASTER_KEY: master, PADDOCK_GATEWAY_URL: url };
    gateway = spawn(process.execPath, [CLI, "gateway", "--config", config], { env, stdio: "ignore" });
    await waitForPort(port);
  });
  after(async () => {
    gateway.kill("SIGTERM");
    await model.close();
  });

  const chat = (key: string, model = "coder") =>
    fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { Authorization: `Bearer ${key}` }, body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }) });

  it("creates a key that is printed once and works, finds it by alias, changes its limits, and revokes it", async () => {
    const created = await paddock(["keys", "create", "--alias", "ci-bot", "--models", "coder", "--budget", "5", "--rpm", "100"], { env });
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^sk-[A-Za-z0-9_-]{20,}$/, "stdout is the key alone, for scripts");
    assert.match(created.stderr, /shown this once/);
    assert.equal((await chat(key)).status, 200);
    assert.equal((await chat(key, "other")).status, 403, "the key may call only the models it was given");

    const info = await paddock(["keys", "info", "ci-bot", "--json"], { env });
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(info.stdout) as { key_alias: string; models: string[]; max_budget: number; rpm_limit: number; token: string };
    assert.deepEqual([parsed.key_alias, parsed.models, parsed.max_budget, parsed.rpm_limit], ["ci-bot", ["coder"], 5, 100]);
    assert.ok(!info.stdout.includes(key), "the key itself is never shown again");

    const listed = await paddock(["keys", "list"], { env });
    assert.match(listed.stdout, /^ci-bot {2}sk-\S+ {2}models coder {2}spend \$0\.\d+ of \$5 {2}tokens \d+ {2}rpm 100/m);

    const updated = await paddock(["keys", "update", "ci-bot", "--rpm", "1", "--json"], { env });
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal((JSON.parse(updated.stdout) as { rpm_limit: number }).rpm_limit, 1);
    // The gateway caches a key for a few seconds; a fresh limit applies once the cache has it.
    const limited = await eventually(async () => ((await chat(key)).status === 429 ? true : undefined), 8000);
    assert.equal(limited, true);

    const blocked = await paddock(["keys", "update", key, "--block"], { env });
    assert.equal(blocked.code, 0, blocked.stderr);
    assert.match(blocked.stdout, /BLOCKED/);

    const revoked = await paddock(["keys", "revoke", "ci-bot"], { env });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked 1 key/);
    assert.equal((await chat(key)).status, 401);
    const gone = await paddock(["keys", "info", "ci-bot"], { env });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no key has the alias 'ci-bot'/);
  });

  it("enforces a token budget (local models cost 0 USD), per window: refused once used up, served again in the next window", async () => {
    const key = (await paddock(["keys", "create", "--alias", "tokens", "--token-budget", "1", "--budget-duration", "3s"], { env })).stdout.trim();
    assert.equal((await chat(key, "other")).status, 200, "the first request is within the budget");
    const refused = await chat(key, "other");
    assert.equal(refused.status, 400);
    const { error } = (await refused.json()) as { error: { type: string; message: string } };
    assert.equal(error.type, "budget_exceeded");
    assert.match(error.message, /^Token budget has been exceeded! Tokens used: \d+, Max tokens: 1 \(the budget resets at \d{4}-/);
    const info = JSON.parse((await paddock(["keys", "info", "tokens", "--json"], { env })).stdout) as { tokens_used: number; spend: number };
    assert.ok(info.tokens_used > 1, `the usage rows count the tokens: ${JSON.stringify(info)}`);
    assert.equal(info.spend, 0, "a model without prices (a local one) costs nothing");
    const again = await eventually(async () => ((await chat(key, "other")).status === 200 ? true : undefined), 8000);
    assert.equal(again, true, "the next window starts from 0");
  });

  it("lets a key read its own info (LiteLLM's /key/info without ?key=), and no other's", async () => {
    const mine = (await paddock(["keys", "create", "--alias", "self"], { env })).stdout.trim();
    const theirs = (await paddock(["keys", "create", "--alias", "neighbour"], { env })).stdout.trim();
    const own = await fetch(`${url}/key/info`, { headers: { Authorization: `Bearer ${mine}` } });
    assert.equal(own.status, 200);
    assert.equal(((await own.json()) as { info: { key_alias: string } }).info.key_alias, "self");
    const other = await fetch(`${url}/key/info?key=${theirs}`, { headers: { Authorization: `Bearer ${mine}` } });
    assert.equal(other.status, 403);
  });

  it("sums usage per key and day from the usage rows, and serves LiteLLM's spend logs and spend report", async () => {
    const key = (await paddock(["keys", "create", "--alias", "counted"], { env })).stdout.trim();
    for (let i = 0; i < 3; i++) assert.equal((await chat(key)).status, 200);
    const byKey = await eventually(async () => {
      const r = await paddock(["usage", "--by", "key", "--json", "--database", database], { env });
      const rows = (JSON.parse(r.stdout) as { rows: Array<{ group: string; requests: number; input_tokens: number; output_tokens: number; cost: number }> }).rows;
      const counted = rows.find((row) => row.group === "counted");
      return counted?.requests === 3 ? counted : undefined;
    }, 5000);
    assert.ok(byKey.input_tokens > 0 && byKey.output_tokens > 0, JSON.stringify(byKey));
    const priced = byKey.input_tokens * 0.000001 + byKey.output_tokens * 0.000002;
    assert.ok(Math.abs(byKey.cost - priced) < 1e-9, `cost ${byKey.cost} from the deployment's prices: ${priced}`);
    const admin = (path: string, as = master) => fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${as}` } });
    // LiteLLM's spend logs (the current, paginated /spend/logs/v2), in its field names.
    const hash = createHash("sha256").update(key).digest("hex");
    const first = (await (await admin(`/spend/logs/v2?api_key=${key}&page_size=2`)).json()) as { data: Array<Record<string, unknown>>; total: number; page: number; total_pages: number };
    assert.deepEqual([first.data.length, first.total, first.page, first.total_pages], [2, 3, 1, 2]);
    const log = first.data[0]!;
    assert.match(String(log.request_id), /^paddock-usage-\d+$/);
    assert.deepEqual([log.api_key, log.model_group, log.status, log.call_type], [hash, "coder", "success", "acompletion"]);
    assert.equal(log.total_tokens, Number(log.prompt_tokens) + Number(log.completion_tokens));
    assert.ok(Date.parse(String(log.startTime)) <= Date.parse(String(log.endTime)));
    const second = (await (await admin(`/spend/logs/v2?api_key=${hash}&page_size=2&page=2`)).json()) as { data: Array<{ request_id: string }> };
    assert.equal(second.data.length, 1);
    assert.ok(!first.data.some((r) => r.request_id === second.data[0]!.request_id), "pages do not overlap");
    // LiteLLM's /global/spend/report, grouped by api_key, with each model's share.
    const today = new Date().toISOString().slice(0, 10);
    const report = (await (await admin(`/global/spend/report?start_date=${today}&end_date=${today}&group_by=api_key&api_key=${key}`)).json()) as Array<{ api_key: string; total_input_tokens: number; total_cost: number; model_details: Array<{ model: string; total_output_tokens: number }> }>;
    assert.equal(report.length, 1);
    assert.deepEqual([report[0]!.api_key, report[0]!.total_input_tokens, report[0]!.model_details.map((m) => m.model)], [hash, byKey.input_tokens, ["coder"]]);
    assert.ok(Math.abs(report[0]!.total_cost - byKey.cost) < 1e-9);
    const undated = await admin("/global/spend/report");
    assert.equal(undated.status, 400);
    assert.match(((await undated.json()) as { error: { message: string } }).error.message, /Please provide start_date and end_date/);
    assert.equal((await admin("/spend/logs/v2?page_size=5000")).status, 400);
    assert.equal((await admin("/spend/logs/v2", key)).status, 403, "spend logs are the master key's");

    const byDay = await paddock(["usage", "--by", "day", "--since", "24h", "--database", database], { env });
    assert.equal(byDay.code, 0, byDay.stderr);
    assert.match(byDay.stdout, new RegExp(`^${new Date().toISOString().slice(0, 10)} +\\d+`, "m"));
    assert.match(byDay.stdout, /^total +\d+/m);
    const future = await paddock(["usage", "--since", "2999-01-01", "--database", database], { env });
    assert.equal(future.code, 0);
    assert.match(future.stderr, /no usage since 2999-01-01/);
  });

  it("refuses bad input with what is wrong, and says where the gateway or its master key is missing", async () => {
    const budget = await paddock(["keys", "create", "--budget", "-1"], { env });
    assert.equal(budget.code, 2);
    assert.match(budget.stderr, /--budget.*must be a number of at least 0/);
    const since = await paddock(["usage", "--since", "last week"], { env });
    assert.equal(since.code, 2);
    assert.match(since.stderr, /must be a span \(30m, 24h, 7d\) or a date/);
    const closed = await freePort();
    const nowhere = await paddock(["keys", "list", "--gateway", `http://127.0.0.1:${closed}`], { env });
    assert.equal(nowhere.code, 125);
    assert.match(nowhere.stderr, new RegExp(`http://127\\.0\\.0\\.1:${closed}: no gateway answers there \\(ECONNREFUSED\\)`));
    const { PADDOCK_MASTER_KEY: _, ...withoutKey } = env;
    const keyless = await paddock(["keys", "list"], { env: withoutKey });
    assert.equal(keyless.code, 125);
    assert.match(keyless.stderr, /no master key for the gateway\n {2}hint: set PADDOCK_MASTER_KEY/);
    const wrong = await paddock(["keys", "list"], { env: { ...env, PADDOCK_MASTER_KEY: "sk-wrong" } });
    assert.equal(wrong.code, 125);
    assert.match(wrong.stderr, /401: invalid API key/);
  });
});
