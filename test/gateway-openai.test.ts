import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { countChat, countText } from "../src/scripted/index.js";
import { eventually } from "./egress-helpers.js";
import { deployment, post, scripted, startGateway, type GatewayFixture } from "./gateway-helpers.js";
import type { ScriptedModel } from "../src/scripted/index.js";

describe("gateway: OpenAI API with the token cap", () => {
  let model: ScriptedModel;
  let fx: GatewayFixture;
  before(async () => {
    model = await scripted({ maxModelLen: 20480 });
    fx = await startGateway({ model_list: [deployment(model, { model_info: { input_cost_per_token: 0.000001, output_cost_per_token: 0.000002 } })] });
  });
  after(async () => {
    await fx.close();
    await model.close();
  });

  it("the seeds' failing case succeeds: 20K window, 10.5K input, max_tokens 32000", async () => {
    model.setScript([{ content: "fits now" }]);
    const messages = [{ role: "user" as const, content: "word ".repeat(10500).trim() }];
    const r = await fx.openai().chat.completions.create({ model: "qwen-coder", messages, max_tokens: 32000 });
    assert.equal(r.choices[0]!.message.content, "fits now");
    const input = countChat({ messages });
    const sent = model.requests.at(-1)!.body.max_tokens as number;
    assert.equal(sent, 20480 - input - 256, "max_tokens must be the window less the exact input and the buffer");
    await fx.gateway.flushUsage();
    const [row] = (await fx.store.usage({})).slice(-1);
    assert.equal(row!.capped, true);
    assert.equal(row!.input_tokens, input);
    assert.ok(row!.cost > 0);
    const metrics = await fx.gateway.metrics.registry.metrics();
    assert.match(metrics, /paddock_gateway_max_tokens_capped_total\{model="qwen-coder"\} 1/);
    assert.ok(fx.logs.some((l) => l.msg === "max_tokens capped"));
  });

  it("counts with the upstream's tokenizer, tools included", async () => {
    const tools = [{ type: "function" as const, function: { name: "read_file", description: "Read a file", parameters: { type: "object", properties: { path: { type: "string" } } } } }];
    const messages = [{ role: "user" as const, content: "hello" }];
    await fx.openai().chat.completions.create({ model: "qwen-coder", messages, tools, max_tokens: 20400 });
    const tokenize = model.requests.filter((r) => r.path === "/tokenize").at(-1)!;
    assert.deepEqual(tokenize.body.tools, tools);
    assert.equal(tokenize.body.add_generation_prompt, true);
    assert.equal(model.requests.at(-1)!.body.max_tokens, 20480 - countChat({ messages, tools }) - 256);
  });

  it("does not count at all when even an upper bound of the input leaves room for max_tokens", async () => {
    const before = model.requests.filter((r) => r.path === "/tokenize").length;
    await fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "a short question" }], max_tokens: 4000 });
    assert.equal(model.requests.filter((r) => r.path === "/tokenize").length, before);
    assert.equal(model.requests.at(-1)!.body.max_tokens, 4000);
  });

  it("never asks for more than max_output_tokens, also when the input fits without counting and when the client names no max_tokens", async () => {
    const capped = await scripted({ maxModelLen: 20480, script: [{ content: "ok", repeat: true }] });
    const gw = await startGateway({ model_list: [deployment(capped, { model_info: { max_output_tokens: 64 } })] });
    try {
      await gw.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "a short question" }], max_tokens: 4000 });
      assert.equal(capped.requests.at(-1)!.body.max_tokens, 64);
      await gw.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "a short question" }] });
      assert.equal(capped.requests.at(-1)!.body.max_tokens, 64);
      await gw.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "a short question" }], max_tokens: 10 });
      assert.equal(capped.requests.at(-1)!.body.max_tokens, 10);
    } finally {
      await gw.close();
      await capped.close();
    }
  });

  it("without the upstream's tokenizer, counts with the bundled one and still fits the seeds' case", async () => {
    const plain = await scripted({ maxModelLen: 20480, tokenizeEndpoint: false, script: [{ content: "fits by the bundled count" }] });
    const fx2 = await startGateway({ model_list: [deployment(plain)] });
    try {
      const r = await fx2.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "word ".repeat(10500).trim() }], max_tokens: 32000 });
      assert.equal(r.choices[0]!.message.content, "fits by the bundled count");
      assert.equal(fx2.gateway.router.all()[0]!.tokenizer, "none");
      assert.ok((plain.requests.at(-1)!.body.max_tokens as number) < 20480 - 10500);
    } finally {
      await fx2.close();
      await plain.close();
    }
  });

  it("a tokenizer slower than its timeout: that request counts with the bundled one, and the next ones do not wait for it again", async () => {
    const slow = await scripted({ maxModelLen: 20480, tokenizeDelayMs: 6_500, script: [{ content: "counted without it", repeat: true }] });
    const fx2 = await startGateway({ model_list: [deployment(slow)] });
    try {
      const ask = async () => {
        const started = performance.now();
        const r = await fx2.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "word ".repeat(10500).trim() }], max_tokens: 32000 });
        assert.equal(r.choices[0]!.message.content, "counted without it");
        assert.ok((slow.requests.at(-1)!.body.max_tokens as number) < 20480 - 10500, "the cap still holds, by the bundled count");
        return performance.now() - started;
      };
      const first = await ask();
      assert.ok(first >= 4_900 && first < 6_400, `the first request waited ${first.toFixed(0)} ms: the tokenizer's timeout, not its answer`);
      const tokenizeCalls = slow.requests.filter((q) => q.path === "/tokenize").length;
      const second = await ask();
      assert.ok(second < 2_000, `the second request took ${second.toFixed(0)} ms`);
      assert.equal(slow.requests.filter((q) => q.path === "/tokenize").length, tokenizeCalls, "the paused tokenizer was asked again");
      assert.notEqual(fx2.gateway.router.all()[0]!.tokenizer, "none", "a slow tokenizer is paused, not written off");
    } finally {
      await fx2.close();
      await slow.close();
    }
  });

  it("recovers once from the upstream's context-length error, using its numbers", async () => {
    const wrong = await startGateway({ model_list: [deployment(model, { model_info: { max_input_tokens: 60000 } })] });
    try {
      model.setScript([{ content: "second try" }]);
      const before = model.requests.length;
      const r = await wrong.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "word ".repeat(10500) }], max_tokens: 32000 });
      assert.equal(r.choices[0]!.message.content, "second try");
      const chats = model.requests.slice(before).filter((q) => q.path === "/v1/chat/completions");
      assert.equal(chats.length, 2);
      assert.ok((chats[0]!.body.max_tokens as number) > (chats[1]!.body.max_tokens as number));
      assert.ok(wrong.logs.some((l) => String(l.msg).startsWith("context length error")));
    } finally {
      await wrong.close();
    }
  });

  it("answers 400 with the numbers when the input alone cannot fit", async () => {
    await assert.rejects(
      fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "word ".repeat(21000) }], max_tokens: 10 }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.code === "context_length_exceeded" && /maximum context length is 20480 tokens/.test(err.message),
    );
  });

  it("streams, with usage recorded although the client did not ask for it", async () => {
    model.setScript([{ content: "a streamed answer in several chunks" }]);
    const stream = await fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "stream please" }], stream: true });
    let text = "";
    let sawUsage = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) sawUsage = true;
    }
    assert.equal(text, "a streamed answer in several chunks");
    assert.equal(sawUsage, false, "the client did not ask for usage");
    assert.equal((model.requests.at(-1)!.body.stream_options as { include_usage: boolean }).include_usage, true);
    await fx.gateway.flushUsage();
    const row = (await fx.store.usage({})).at(-1)!;
    assert.equal(row.stream, true);
    assert.equal(row.output_tokens, 6);
  });

  it("streams tool calls as OpenAI deltas", async () => {
    model.setScript([{ tool_calls: [{ name: "write_file", arguments: { path: "a.txt", content: "hi" } }] }]);
    const stream = await fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "write it" }], stream: true, tools: [{ type: "function", function: { name: "write_file", parameters: { type: "object" } } }] });
    let args = "";
    let name = "";
    let finish = "";
    for await (const chunk of stream) {
      const call = chunk.choices[0]?.delta?.tool_calls?.[0];
      if (call?.function?.name) name = call.function.name;
      args += call?.function?.arguments ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(name, "write_file");
    assert.deepEqual(JSON.parse(args), { path: "a.txt", content: "hi" });
    assert.equal(finish, "tool_calls");
  });

  it("cancels the upstream request when the client aborts mid-stream", async () => {
    model.setScript([{ content: "x".repeat(400), chunkDelayMs: 20 }]);
    const controller = new AbortController();
    const stream = await fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "long" }], stream: true }, { signal: controller.signal });
    let chunks = 0;
    try {
      for await (const _ of stream) {
        chunks++;
        controller.abort();
      }
    } catch {
      // some SDK versions end an aborted stream with an error, others quietly
    }
    assert.ok(chunks < 10, `the stream went on after the abort (${chunks} chunks)`);
    const upstream = model.requests.at(-1)!;
    await eventually(async () => (upstream.aborted ? true : undefined));
  });

  it("serves /v1/models, /v1/completions (streamed too, for editors) and /v1/embeddings", async () => {
    const client = fx.openai();
    assert.deepEqual((await client.models.list()).data.map((m) => m.id), ["qwen-coder"]);
    model.setScript([{ content: "return a + b" }]);
    const fim = await client.completions.create({ model: "qwen-coder", prompt: "def add(a, b):\n    ", suffix: "\n", max_tokens: 99999 });
    assert.equal(fim.choices[0]!.text, "return a + b");
    assert.ok((model.requests.at(-1)!.body.max_tokens as number) < 20480);
    model.setScript([{ content: "return a * b" }]);
    const streamed = await client.completions.create({ model: "qwen-coder", prompt: "def mul(a, b):\n    ", suffix: "\n", max_tokens: 99999, stream: true });
    let text = "";
    for await (const chunk of streamed) text += chunk.choices[0]?.text ?? "";
    assert.equal(text, "return a * b");
    assert.ok((model.requests.at(-1)!.body.max_tokens as number) < 20480);
    const emb = await client.embeddings.create({ model: "qwen-coder", input: ["one two", "three"] });
    assert.equal(emb.data.length, 2);
  });

  it("refuses malformed JSON, an oversized body and a request without messages, in OpenAI's format", async () => {
    const bad = await post(fx.baseUrl, "/v1/chat/completions", "{not json");
    assert.equal(bad.status, 400);
    assert.equal((bad.json.error as { type: string }).type, "invalid_request_error");
    const huge = await post(fx.baseUrl, "/v1/chat/completions", JSON.stringify({ model: "qwen-coder", messages: [{ role: "user", content: "x".repeat(17 * 1024 * 1024) }] }));
    assert.equal(huge.status, 413);
    await assert.rejects(fx.openai().chat.completions.create({ model: "qwen-coder", messages: [] }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === "messages");
    await assert.rejects(fx.openai().chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  it("answers health checks and exposes Prometheus metrics", async () => {
    assert.equal(await (await fetch(`${fx.baseUrl}/health/liveliness`)).json(), "I'm alive!");
    const ready = await fetch(`${fx.baseUrl}/health/readiness`);
    assert.equal(ready.status, 200);
    assert.match(await (await fetch(`${fx.baseUrl}/metrics`)).text(), /paddock_gateway_requests_total\{model="qwen-coder",status="200"\}/);
  });
});

describe("gateway: in front of llama.cpp's server", () => {
  it("discovers n_ctx from /props, counts with /apply-template and /tokenize, and fits the seeds' case", async () => {
    const llama = await scripted({ dialect: "llamacpp", maxModelLen: 20480, script: [{ content: "from llama" }] });
    const fx = await startGateway({ model_list: [deployment(llama, { litellm_params: { max_parallel_requests: 1 } })] });
    try {
      const messages = [{ role: "user" as const, content: "word ".repeat(10500).trim() }];
      const r = await fx.openai().chat.completions.create({ model: "qwen-coder", messages, max_tokens: 32000 });
      assert.equal(r.choices[0]!.message.content, "from llama");
      const d = fx.gateway.router.all()[0]!;
      assert.equal(d.contextWindow, 20480);
      assert.equal(d.tokenizer, "llamacpp");
      assert.ok(llama.requests.some((q) => q.path === "/apply-template"));
      const templated = `<|im_start|>user\n${messages[0]!.content}<|im_end|>\n<|im_start|>assistant\n`;
      assert.equal(llama.requests.at(-1)!.body.max_tokens, 20480 - countText(templated) - 256);
    } finally {
      await fx.close();
      await llama.close();
    }
  });

  it("recovers from llama.cpp's context-size error with its n_ctx and n_prompt_tokens", async () => {
    const llama = await scripted({ dialect: "llamacpp", maxModelLen: 8192, tokenizeEndpoint: true, script: [{ content: "second try", repeat: true }] });
    const fx = await startGateway({ model_list: [deployment(llama, { model_info: { max_input_tokens: 100000 } })] });
    try {
      fx.gateway.router.all()[0]!.tokenizer = "none";
      const r = await fx.openai().chat.completions.create({ model: "qwen-coder", messages: [{ role: "user", content: "word ".repeat(4000) }], max_tokens: 50000 });
      assert.equal(r.choices[0]!.message.content, "second try");
      assert.ok(fx.logs.some((l) => String(l.msg).startsWith("context length error") && l.window === 8192));
    } finally {
      await fx.close();
      await llama.close();
    }
  });
});
