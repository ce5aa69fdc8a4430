import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { countChat, type ScriptedModel } from "../src/scripted/index.js";
import { deployment, scripted, startGateway, type GatewayFixture } from "./gateway-helpers.js";
import { ROOT, TEST_CHAT_TEMPLATES } from "./helpers.js";

const tools = [{ name: "read_file", description: "Read a file from the workspace", input_schema: { type: "object" as const, properties: { path: { type: "string" } }, required: ["path"] } }];

describe("gateway: Anthropic Messages API, translated to the OpenAI upstream", () => {
  let model: ScriptedModel;
  let fx: GatewayFixture;
  before(async () => {
    model = await scripted({ maxModelLen: 20480 });
    fx = await startGateway({ model_list: [deployment(model)] });
  });
  after(async () => {
    await fx.close();
    await model.close();
  });

  it("round-trips tool use: tool_use out, tool_result back in, with the system prompt", async () => {
    model.setScript([{ tool_calls: [{ name: "read_file", arguments: { path: "README.md" } }] }, { when: /# Title/, content: "The README has a title." }]);
    const client = fx.anthropic();
    const first = await client.messages.create({ model: "qwen-coder", max_tokens: 1000, system: "You are terse.", tools, messages: [{ role: "user", content: "What is in README.md?" }] });
    assert.equal(first.stop_reason, "tool_use");
    const use = first.content.find((b) => b.type === "tool_use");
    assert.ok(use && use.type === "tool_use");
    assert.equal(use.name, "read_file");
    assert.deepEqual(use.input, { path: "README.md" });
    const sent = model.requests.at(-1)!.body as { messages: Array<{ role: string; content: unknown }>; tools: Array<{ function: { name: string } }> };
    assert.deepEqual(sent.messages[0], { role: "system", content: "You are terse." });
    assert.equal(sent.tools[0]!.function.name, "read_file");

    const second = await client.messages.create({
      model: "qwen-coder",
      max_tokens: 1000,
      tools,
      messages: [
        { role: "user", content: "What is in README.md?" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "# Title\nbody" }] },
      ],
    });
    assert.equal(second.stop_reason, "end_turn");
    assert.deepEqual(second.content, [{ type: "text", text: "The README has a title." }]);
    const followUp = model.requests.at(-1)!.body as { messages: Array<Record<string, unknown>> };
    const toolCall = (followUp.messages[1]!.tool_calls as Array<{ id: string; function: { arguments: string } }>)[0]!;
    assert.equal(toolCall.id, use.id);
    assert.deepEqual(JSON.parse(toolCall.function.arguments), { path: "README.md" });
    assert.deepEqual(followUp.messages[2], { role: "tool", tool_call_id: use.id, content: "# Title\nbody" });
    assert.ok(second.usage.input_tokens > 0 && second.usage.output_tokens > 0);
  });

  it("streams Anthropic's event sequence, for text and for tool use", async () => {
    model.setScript([{ content: "Hello from the stream" }, { tool_calls: [{ name: "read_file", arguments: { path: "a.ts" } }] }]);
    const client = fx.anthropic();
    const events: string[] = [];
    const stream = client.messages.stream({ model: "qwen-coder", max_tokens: 500, messages: [{ role: "user", content: "hi" }] });
    for await (const e of stream) events.push(e.type);
    const text = await stream.finalMessage();
    assert.equal(text.content.length, 1);
    assert.ok(text.content[0]!.type === "text" && text.content[0]!.text === "Hello from the stream");
    assert.equal(events[0], "message_start");
    assert.equal(events[1], "content_block_start");
    assert.ok(events.includes("content_block_delta"));
    assert.deepEqual(events.slice(-3), ["content_block_stop", "message_delta", "message_stop"]);
    assert.equal(text.stop_reason, "end_turn");
    assert.equal(text.usage.output_tokens, 4);

    const toolStream = client.messages.stream({ model: "qwen-coder", max_tokens: 500, tools, messages: [{ role: "user", content: "read a.ts" }] });
    const tool = await toolStream.finalMessage();
    assert.equal(tool.stop_reason, "tool_use");
    const block = tool.content[0]!;
    assert.ok(block.type === "tool_use");
    assert.deepEqual(block.input, { path: "a.ts" });
  });

  it("counts tokens the way the cap counts them", async () => {
    const messages = [{ role: "user" as const, content: "count these words please" }];
    const counted = await fx.anthropic().messages.countTokens({ model: "qwen-coder", messages, system: "be brief" });
    assert.equal(counted.input_tokens, countChat({ messages: [{ role: "system", content: "be brief" }, ...messages] }));
  });

  it("caps Claude Code's large max_tokens to the window", async () => {
    model.setScript([{ content: "capped" }]);
    // Claude Code streams (the SDK refuses a non-streamed call this large).
    await fx.anthropic().messages.stream({ model: "qwen-coder", max_tokens: 64000, messages: [{ role: "user", content: "word ".repeat(5000) }] }).finalMessage();
    assert.ok((model.requests.at(-1)!.body.max_tokens as number) <= 20480 - 5000);
  });

  it("answers errors in Anthropic's format", async () => {
    await assert.rejects(fx.anthropic("sk-wrong").messages.create({ model: "qwen-coder", max_tokens: 10, messages: [{ role: "user", content: "x" }] }), (e: unknown) => e instanceof Anthropic.AuthenticationError && (e.error as { type: string }).type === "error");
    await assert.rejects(
      fx.anthropic().messages.create({ model: "qwen-coder", max_tokens: 10, messages: [{ role: "user", content: "word ".repeat(21000) }] }),
      (e: unknown) => e instanceof Anthropic.BadRequestError && ((e.error as { error: { type: string } }).error.type === "invalid_request_error") && /maximum context length/.test(e.message),
    );
    const raw = await fetch(`${fx.baseUrl}/v1/messages`, { method: "POST", headers: { "x-api-key": "sk-test-master", "content-type": "application/json" }, body: JSON.stringify({ model: "qwen-coder", messages: [] }) });
    assert.equal(raw.status, 400);
    assert.deepEqual(await raw.json(), { type: "error", error: { type: "invalid_request_error", message: "max_tokens: Field required" } });
  });
});

describe("gateway: Anthropic upstreams are passed through", () => {
  it("forwards /v1/messages as it is, streamed or not, and bills its usage", async () => {
    const native = await scripted({ model: "claude-local", script: [{ content: "native answer", repeat: true }] });
    const fx = await startGateway({ model_list: [{ model_name: "claude", litellm_params: { model: "anthropic/claude-local", api_base: native.url, api_key: "sk-upstream" } }] });
    try {
      const client = fx.anthropic();
      const message = await client.messages.create({ model: "claude", max_tokens: 100, messages: [{ role: "user", content: "hello" }] });
      assert.deepEqual(message.content, [{ type: "text", text: "native answer" }]);
      assert.equal(native.requests.at(-1)!.path, "/v1/messages");
      assert.equal(native.requests.at(-1)!.body.model, "claude-local");
      const streamed = await client.messages.stream({ model: "claude", max_tokens: 100, messages: [{ role: "user", content: "hello" }] }).finalMessage();
      assert.equal(streamed.content[0]!.type === "text" && streamed.content[0]!.text, "native answer");
      await fx.gateway.flushUsage();
      const rows = await fx.store.usage({});
      assert.deepEqual(rows.map((r) => [r.stream, r.output_tokens > 0, r.input_tokens > 0]), [[false, true, true], [true, true, true]]);
      await assert.rejects(fx.openai().chat.completions.create({ model: "claude", messages: [{ role: "user", content: "x" }] }), /served by an Anthropic upstream/);
    } finally {
      await fx.close();
      await native.close();
    }
  });
});

describe("gateway: system messages in the middle of a conversation (Claude Code sends them)", () => {
  let model: ScriptedModel;
  let fx: GatewayFixture;
  before(async () => {
    model = await scripted({ maxModelLen: 20480 });
    fx = await startGateway({
      model_list: [
        deployment(model, {}, "merged"),
        deployment(model, { litellm_params: { later_system_messages: "user" } }, "as-user"),
        deployment(model, { litellm_params: { later_system_messages: "keep" } }, "kept"),
        deployment(model, { litellm_params: { supports_system_message: false } }, "no-system"),
      ],
    });
  });
  after(async () => {
    await fx.close();
    await model.close();
  });

  const conversation = [
    { role: "user", content: "hi" },
    { role: "assistant", content: "hello" },
    { role: "system", content: [{ type: "text", text: "Reminder: be brief." }] },
    { role: "user", content: "and?" },
  ];
  const sent = async (name: string) => {
    model.setScript([{ content: "ok", repeat: true }]);
    const res = await fetch(`${fx.baseUrl}/v1/messages`, { method: "POST", headers: { "x-api-key": "sk-test-master", "content-type": "application/json" }, body: JSON.stringify({ model: name, max_tokens: 50, system: "You are terse.", messages: conversation }) });
    assert.equal(res.status, 200, await res.clone().text());
    return (model.requests.at(-1)!.body as { messages: Array<{ role: string; content: unknown }> }).messages;
  };

  it("by default merges them into the first system message, so the upstream sees one system message, first", async () => {
    assert.deepEqual(await sent("merged"), [
      { role: "system", content: "You are terse.\n\nReminder: be brief." },
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
      { role: "user", content: "and?" },
    ]);
  });

  it("what it sends is what a real chat template accepts: Qwen3.5's refuses a system message after the start", async () => {
    const template = readFileSync(join(TEST_CHAT_TEMPLATES, "Qwen3.5-4B.jinja"), "utf8");
    // Rendered as vLLM and transformers render it: jinja2's sandbox, with the template's own raise_exception.
    const render = (messages: unknown) => JSON.parse(execFileSync("python3", [join(ROOT, "test", "fixtures", "render-chat-template.py")], { input: JSON.stringify({ template, messages }), encoding: "utf8" })) as { prompt?: string; error?: string };
    assert.deepEqual(render(await sent("kept")), { error: "System message must be at the beginning." });
    const merged = render(await sent("merged"));
    assert.equal(merged.error, undefined);
    assert.match(merged.prompt!, /^<\|im_start\|>system\nYou are terse\.\n\nReminder: be brief\.<\|im_end\|>/);
  });

  it("sends them as user messages, keeps them, or (supports_system_message: false, as LiteLLM) sends every system message as a user's, per deployment", async () => {
    assert.deepEqual((await sent("as-user")).map((m) => m.role), ["system", "user", "assistant", "user", "user"]);
    assert.deepEqual((await sent("kept")).map((m) => m.role), ["system", "user", "assistant", "system", "user"]);
    assert.deepEqual((await sent("no-system")).map((m) => m.role), ["user", "user", "assistant", "user", "user"]);
  });
});
