import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import type { ScriptedModel } from "../src/scripted/index.js";
import { Gateway, parseGatewayConfig } from "../src/gateway/index.js";
import { eventually } from "./egress-helpers.js";
import { deployment, MASTER, post, scripted, startGateway, type GatewayFixture } from "./gateway-helpers.js";
import { openStoreAt } from "../src/store/index.js";
import { freePort } from "./helpers.js";

describe("gateway: virtual keys, budgets, rate limits", () => {
  let model: ScriptedModel;
  let fx: GatewayFixture;
  before(async () => {
    model = await scripted({ script: [{ content: "ok", repeat: true }] });
    fx = await startGateway({
      model_list: [deployment(model, { model_info: { input_cost_per_token: 0.01, output_cost_per_token: 0.01 } }), deployment(model, {}, "other-model")],
    });
  });
  after(async () => {
    await fx.close();
    await model.close();
  });

  const ask = (key: string, m = "qwen-coder") => fx.openai(key).chat.completions.create({ model: m, messages: [{ role: "user", content: "hi" }] });
  const generate = async (body: Record<string, unknown>) => {
    const r = await post(fx.baseUrl, "/key/generate", JSON.stringify(body));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as { key: string; token: string; expires: string | null };
  };

  it("generates keys the LiteLLM way and stores only their hash", async () => {
    const { key, token } = await generate({ models: ["qwen-coder"], user_id: "developer-alice", max_budget: 100, metadata: { team: "backend", agent_id: "alpha" } });
    assert.match(key, /^sk-/);
    assert.match(token, /^[0-9a-f]{64}$/);
    await ask(key);
    const stored = JSON.stringify(await fx.store.listKeys());
    assert.ok(stored.includes(token) && !stored.includes(key), "the store must hold the key's hash, never the key");
    const file = (fx.store as unknown as { path?: string }).path;
    if (file) assert.ok(!readFileSync(file).includes(Buffer.from(key)), "a raw key is in the SQLite file");
    const info = await fetch(`${fx.baseUrl}/key/info?key=${key}`, { headers: { Authorization: "Bearer sk-test-master" } });
    const body = (await info.json()) as { info: { user_id: string; spend: number; metadata: { team: string } } };
    assert.equal(body.info.user_id, "developer-alice");
    assert.equal(body.info.metadata.team, "backend");
    await fx.gateway.flushUsage();
    const usage = await fx.store.usage({ agentId: "alpha" });
    assert.equal(usage.length, 1, "the usage row carries the agent id from the key's metadata");
  });

  it("refuses an unknown key (401), a model the key may not call (403), and key endpoints without the master key", async () => {
    await assert.rejects(ask("sk-made-up"), (e: unknown) => e instanceof OpenAI.AuthenticationError);
    const { key } = await generate({ models: ["qwen-coder"] });
    await assert.rejects(ask(key, "other-model"), (e: unknown) => e instanceof OpenAI.PermissionDeniedError && /may not call 'other-model'/.test(e.message));
    assert.deepEqual((await fx.openai(key).models.list()).data.map((m) => m.id), ["qwen-coder"]);
    const forbidden = await post(fx.baseUrl, "/key/generate", "{}", key);
    assert.equal(forbidden.status, 403);
    const anonymous = await fetch(`${fx.baseUrl}/v1/models`);
    assert.equal(anonymous.status, 401);
  });

  it("enforces a budget before the call", async () => {
    const { key } = await generate({ max_budget: 0.05 });
    await ask(key);
    const before = model.requests.length;
    await assert.rejects(ask(key), (e: unknown) => e instanceof OpenAI.BadRequestError && /Budget has been exceeded/.test(e.message));
    assert.equal(model.requests.length, before, "the upstream was called over budget");
  });

  it("holds an agent's card budget over every key minted for it (a restart's, a task's), in any gateway on the store, over its sliding window", async () => {
    const budget = { max_tokens_budget: 1, budget_duration: "3s" };
    const overBudget = (err: unknown) => err instanceof OpenAI.APIError && err.status === 400 && /Token budget of agent budgeted has been exceeded! Tokens used in the last 3s: \d+, Max tokens: 1 \(max_tokens_budget in its card\)/.test(err.message);
    const first = await fx.gateway.mintAgentKey("budgeted", [], budget);
    await ask(first, "other-model");
    await assert.rejects(ask(first, "other-model"), overBudget);
    await fx.gateway.flushUsage();
    // A restarted agent gets a new key; a restarted daemon knows nothing but the usage rows: both still refuse.
    await fx.gateway.revokeAgentKeys("budgeted");
    const restarted = new Gateway(parseGatewayConfig({ general_settings: { master_key: MASTER }, model_list: [deployment(model, {}, "other-model")] }), fx.store, () => undefined);
    const { port } = await restarted.listen(0, "127.0.0.1");
    try {
      const second = await restarted.mintAgentKey("budgeted", [], budget);
      const viaRestarted = new OpenAI({ apiKey: second, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
      await assert.rejects(viaRestarted.chat.completions.create({ model: "other-model", messages: [{ role: "user", content: "hi" }] }), overBudget);
      const task = await restarted.mintTaskKey("budgeted", "run-1", [], budget);
      await assert.rejects(new OpenAI({ apiKey: task, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }).chat.completions.create({ model: "other-model", messages: [{ role: "user", content: "hi" }] }), overBudget);
      const neighbour = await restarted.mintAgentKey("neighbour", [], budget);
      await new OpenAI({ apiKey: neighbour, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }).chat.completions.create({ model: "other-model", messages: [{ role: "user", content: "hi" }] });
      // Once the window has slid past those tokens, the agent is served again.
      const served = await eventually(async () => (await viaRestarted.chat.completions.create({ model: "other-model", messages: [{ role: "user", content: "hi" }] }).then(() => true, () => undefined)), 12_000);
      assert.equal(served, true);
    } finally {
      await restarted.close();
    }
  });

  it("rate-limits with 429 and Retry-After", async () => {
    const { key } = await generate({ rpm_limit: 2 });
    await ask(key);
    await ask(key);
    const r = await fetch(`${fx.baseUrl}/v1/chat/completions`, { method: "POST", headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" }, body: JSON.stringify({ model: "qwen-coder", messages: [{ role: "user", content: "hi" }] }) });
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get("retry-after")) >= 1);
    const tpm = await generate({ tpm_limit: 5 });
    await ask(tpm.key);
    await fx.gateway.flushUsage();
    await assert.rejects(ask(tpm.key), (e: unknown) => e instanceof OpenAI.RateLimitError && /tpm_limit 5/.test(e.message));
  });

  it("updates, expires, lists and deletes keys", async () => {
    const { key, token } = await generate({ models: ["other-model"], duration: "1h" });
    const updated = await post(fx.baseUrl, "/key/update", JSON.stringify({ key, models: ["qwen-coder"] }));
    assert.deepEqual((updated.json as { models: string[] }).models, ["qwen-coder"]);
    await ask(key);
    const list = (await (await fetch(`${fx.baseUrl}/key/list`, { headers: { Authorization: "Bearer sk-test-master" } })).json()) as { keys: string[] };
    assert.ok(list.keys.includes(token));
    await post(fx.baseUrl, "/key/update", JSON.stringify({ key, duration: "0s" }));
    await assert.rejects(ask(key), (e: unknown) => e instanceof OpenAI.AuthenticationError && /expired/.test(e.message));
    const deleted = await post(fx.baseUrl, "/key/delete", JSON.stringify({ keys: [key] }));
    assert.deepEqual(deleted.json.deleted_keys, [token]);
    await assert.rejects(ask(key), (e: unknown) => e instanceof OpenAI.AuthenticationError && /invalid API key/.test(e.message));
    const bad = await post(fx.baseUrl, "/key/generate", JSON.stringify({ duration: "forever" }));
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /duration: must look like 30s/);
  });
});

describe("gateway: replicas on one store", () => {
  it("hold a key to one rpm and one tpm, and one budget, whichever replica takes each call", async () => {
    const model = await scripted({ script: [{ content: "ok", repeat: true }] });
    const first = await startGateway({ model_list: [deployment(model, { model_info: { input_cost_per_token: 0.01, output_cost_per_token: 0.01 } })] });
    // A second replica on the first one's store (its SQLite file, or its PostgreSQL schema), as paddock kube render deploys them.
    const location = (first.store as unknown as { path?: string }).path ?? (first.store as unknown as { url: string }).url;
    const store = openStoreAt(location);
    const second = new Gateway(parseGatewayConfig({ general_settings: { master_key: MASTER }, model_list: [deployment(model, { model_info: { input_cost_per_token: 0.01, output_cost_per_token: 0.01 } })] }), store, () => undefined);
    const { port } = await second.listen(0, "127.0.0.1");
    const replicas = [first.baseUrl, `http://127.0.0.1:${port}`];
    const call = (key: string, i: number) =>
      fetch(`${replicas[i % 2]}/v1/chat/completions`, { method: "POST", headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" }, body: JSON.stringify({ model: "qwen-coder", messages: [{ role: "user", content: "hi" }] }) }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    try {
      const generate = async (body: Record<string, unknown>) => ((await post(first.baseUrl, "/key/generate", JSON.stringify(body))).json as { key: string }).key;
      // Ten calls at once over both replicas: exactly the rpm gets through, whatever the interleaving.
      const rpm = await generate({ rpm_limit: 4 });
      const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => call(rpm, i)));
      assert.deepEqual([statuses.filter((s) => s === 200).length, statuses.filter((s) => s === 429).length], [4, 6]);
      // Tokens counted on one replica close the key on the other.
      const tpm = await generate({ tpm_limit: 5 });
      assert.equal(await call(tpm, 0), 200);
      await first.gateway.flushUsage();
      assert.equal(await call(tpm, 1), 429);
      // Spend recorded by one replica is the other's too.
      const budget = await generate({ max_budget: 0.05 });
      assert.equal(await call(budget, 0), 200);
      await first.gateway.flushUsage();
      const refused = await fetch(`${replicas[1]}/v1/chat/completions`, { method: "POST", headers: { Authorization: `Bearer ${budget}`, "Content-Type": "application/json" }, body: JSON.stringify({ model: "qwen-coder", messages: [{ role: "user", content: "hi" }] }) });
      assert.equal(refused.status, 400);
      assert.match(await refused.text(), /Budget has been exceeded/);
    } finally {
      await second.close();
      await store.close();
      await first.close();
      await model.close();
    }
  });
});

describe("gateway: routing and resilience", () => {
  it("falls back from a deployment that is down, rests it, and uses it again once it is back", async () => {
    const up = await scripted({ script: [{ content: "from the live one", repeat: true }] });
    const downPort = await freePort();
    const downUrl = `http://127.0.0.1:${downPort}/v1`;
    const fx = await startGateway({
      model_list: [
        { model_name: "qwen-coder", litellm_params: { model: "openai/qwen-coder", api_base: downUrl }, model_info: { max_input_tokens: 20480 } },
        deployment(up),
      ],
      router_settings: { allowed_fails: 1, cooldown_time: 1 },
    });
    try {
      const ask = () => fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "hi" }] });
      assert.equal((await ask()).choices[0]!.message.content, "from the live one");
      const down = fx.gateway.router.deployments.get("qwen-coder")![0]!;
      assert.ok(down.coolingUntil > Date.now(), "the failed deployment rests");
      assert.equal((await ask()).choices[0]!.message.content, "from the live one");
      const back = await scripted({ script: [{ content: "back again", repeat: true }] }, downPort);
      try {
        await new Promise((resolve) => setTimeout(resolve, 1100));
        const answers = new Set<string>();
        for (let i = 0; i < 6; i++) answers.add((await ask()).choices[0]!.message.content!);
        assert.ok(answers.has("back again"), "the deployment that came back is used again");
      } finally {
        await back.close();
      }
    } finally {
      await fx.close();
      await up.close();
    }
  });

  it("tries the configured fallback model when every deployment of a model fails", async () => {
    const broken = await scripted({ script: [{ fail: 503, repeat: true }] });
    const spare = await scripted({ model: "spare", script: [{ content: "from the fallback", repeat: true }] });
    const fx = await startGateway({
      model_list: [deployment(broken), { model_name: "spare", litellm_params: { model: "openai/spare", api_base: spare.url } }],
      litellm_settings: { fallbacks: [{ "qwen-coder": ["spare"] }], num_retries: 1 },
    });
    try {
      const r = await fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "hi" }] });
      assert.equal(r.choices[0]!.message.content, "from the fallback");
    } finally {
      await fx.close();
      await broken.close();
      await spare.close();
    }
  });

  it("answers 502 in OpenAI's format when no deployment can answer", async () => {
    const broken = await scripted({ script: [{ fail: 500, repeat: true }] });
    const fx = await startGateway({ model_list: [deployment(broken)] });
    try {
      await assert.rejects(fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "hi" }] }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 502 && /no deployment of 'qwen-coder' answered/.test(e.message));
    } finally {
      await fx.close();
      await broken.close();
    }
  });

  it("gives a one-slot server one request at a time, queueing the rest", async () => {
    const slow = await scripted({ script: [{ content: "done", delayMs: 150, repeat: true }] });
    const fx = await startGateway({ model_list: [deployment(slow, { litellm_params: { max_parallel_requests: 1 } })] });
    try {
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 3 }, () => fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "hi" }] })));
      assert.deepEqual(answers.map((a) => a.choices[0]!.message.content), ["done", "done", "done"]);
      assert.equal(slow.maxConcurrent, 1);
      assert.ok(Date.now() - started >= 450, "the requests overlapped");
    } finally {
      await fx.close();
      await slow.close();
    }
  });
});
