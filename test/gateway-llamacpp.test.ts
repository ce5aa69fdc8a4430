import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { planTask } from "../src/captain/index.js";
import { gatewayAccess } from "../src/gateway/index.js";
import type { UsageRecord } from "../src/store/index.js";
import { eventually } from "./egress-helpers.js";
import { startGateway, type GatewayFixture } from "./gateway-helpers.js";
import { paddock, scratch } from "./helpers.js";
import { startLlamaServer, tokenCount, type LlamaServer } from "./llama-helpers.js";

/** Each slot's window: small, so that prompts near it are quick for a 135M model on 2 cores. */
const WINDOW = 512;
const BUFFER = 16;

describe("the gateway in front of a real llama.cpp server with a real model (SmolLM2-135M-Instruct)", () => {
  let llama: LlamaServer;
  let fx: GatewayFixture;

  before(async () => {
    llama = await startLlamaServer({ context: WINDOW, parallel: 1 });
    fx = await startGateway({
      model_list: [{ model_name: "smol", litellm_params: { model: "openai/smollm2", api_base: llama.url, api_key: "none", max_parallel_requests: 1 } }],
      paddock_settings: { cap_buffer_tokens: BUFFER },
    });
  });
  after(async () => {
    await fx?.close();
    await llama?.close();
  });

  /** The usage row of a request that just ended, the first after `before` rows that `matches` (rows are written once an answer is complete). */
  const usageAfter = async (before: number, matches: (row: UsageRecord) => boolean): Promise<UsageRecord> =>
    eventually(async () => (await fx.store.usage({})).slice(before).find(matches));
  const rowCount = async () => (await fx.store.usage({})).length;

  /** A user message of about `tokens` tokens of llama.cpp's own tokenizer. */
  const promptOf = async (tokens: number) => {
    const unit = "The quick brown fox jumps over the lazy dog. ";
    const per = await tokenCount(llama, unit);
    return unit.repeat(Math.floor(tokens / per));
  };

  it("passes /v1/embeddings through to a server that runs the model for embeddings, and bills the server's own token count", async () => {
    const embedder = await startLlamaServer({ context: WINDOW, alias: "smollm2-embed", embeddings: true });
    const gateway = await startGateway({ model_list: [{ model_name: "embed", litellm_params: { model: "openai/smollm2-embed", api_base: embedder.url, api_key: "none" } }] });
    try {
      const inputs = ["The quick brown fox jumps over the lazy dog.", "A sandbox whose only exits paddock owns."];
      const r = await gateway.openai().embeddings.create({ model: "embed", input: inputs, encoding_format: "float" });
      assert.equal(r.data.length, 2);
      // SmolLM2-135M's hidden size: the vectors are the real model's, not a stand-in's.
      assert.deepEqual(r.data.map((e) => e.embedding.length), [576, 576]);
      assert.ok(r.data.every((e) => e.embedding.every(Number.isFinite)));
      assert.notDeepEqual(r.data[0]!.embedding, r.data[1]!.embedding);
      const tokens = (await tokenCount(embedder, inputs[0]!)) + (await tokenCount(embedder, inputs[1]!));
      assert.ok(Math.abs(r.usage.prompt_tokens - tokens) <= 2, `usage ${r.usage.prompt_tokens} against llama.cpp's own count ${tokens}`);
      const row = await eventually(async () => (await gateway.store.usage({})).find((u) => u.model === "embed"));
      assert.equal(row.input_tokens, r.usage.prompt_tokens);
      // A server that runs no embedding model: llama.cpp's own 501 and its words reach the client, not a 502 after retries.
      const refused = await fx.openai().embeddings.create({ model: "smol", input: "hello" }).then(
        () => assert.fail("a chat-only server gave embeddings"),
        (err: { status: number; message: string }) => err,
      );
      assert.equal(refused.status, 501);
      assert.match(refused.message, /--embeddings/);
    } finally {
      await gateway.close();
      await embedder.close();
    }
  });

  it("discovers the real n_ctx from /props and counts with llama.cpp's own template and tokenizer: the cap fills the window exactly", async () => {
    const content = await promptOf(WINDOW - 120);
    const before = await rowCount();
    // ignore_eos (llama.cpp's own parameter, passed through): the reply runs to its cap, which shows where the cap was.
    const r = await fx.openai().chat.completions.create({ model: "smol", messages: [{ role: "user", content }], max_tokens: 100_000, ignore_eos: true } as never);
    const d = fx.gateway.router.all()[0]!;
    assert.equal(d.contextWindow, WINDOW);
    assert.equal(d.tokenizer, "llamacpp");
    assert.equal(r.choices[0]!.finish_reason, "length");
    // The server's own count of the prompt, plus the capped reply, leaves exactly the buffer free.
    assert.equal(r.usage!.prompt_tokens + r.usage!.completion_tokens, WINDOW - BUFFER, JSON.stringify(r.usage));
    const row = await usageAfter(before, (r) => r.status === 200);
    assert.equal(row.capped, true);
    assert.equal(row.input_tokens, r.usage!.prompt_tokens);
  });

  it("refuses a prompt that cannot fit with a 400 naming the numbers, by its own count and by the real server's error", async () => {
    const content = await promptOf(WINDOW + 200);
    const counted = await fx.openai().chat.completions.create({ model: "smol", messages: [{ role: "user", content }], max_tokens: 10 }).then(
      () => assert.fail("a prompt longer than the window was accepted"),
      (err: { status: number; code: string; message: string }) => err,
    );
    assert.equal(counted.status, 400);
    assert.equal(counted.code, "context_length_exceeded");
    assert.match(counted.message, new RegExp(`maximum context length is ${WINDOW} tokens`));
    // Without a count of its own (no tokenizer, no known window), the gateway learns the window from llama.cpp's real error.
    const blind = await startGateway({ model_list: [{ model_name: "smol", litellm_params: { model: "openai/smollm2", api_base: llama.url, api_key: "none" }, model_info: { max_input_tokens: 100_000 } }] });
    try {
      blind.gateway.router.all()[0]!.tokenizer = "none";
      const upstream = await blind.openai().chat.completions.create({ model: "smol", messages: [{ role: "user", content }], max_tokens: 10 }).then(
        () => assert.fail("accepted"),
        (err: { status: number; code: string; message: string }) => err,
      );
      assert.equal(upstream.status, 400);
      assert.equal(upstream.code, "context_length_exceeded");
      assert.match(upstream.message, new RegExp(`${WINDOW}`), upstream.message);
      assert.equal(blind.gateway.router.all()[0]!.contextWindow, WINDOW, "the window read out of llama.cpp's error");
    } finally {
      await blind.close();
    }
  });

  it("streams through the OpenAI endpoint chunk by chunk, with usage recorded", async () => {
    const before = await rowCount();
    const stream = await fx.openai().chat.completions.create({ model: "smol", messages: [{ role: "user", content: "Say hello." }], max_tokens: 24, stream: true });
    const arrivals: number[] = [];
    let text = "";
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) (text += delta), arrivals.push(performance.now());
    }
    assert.ok(arrivals.length >= 3, `only ${arrivals.length} content chunks`);
    assert.ok(arrivals.at(-1)! - arrivals[0]! > 5, "the chunks came as the model made them, not at once");
    assert.ok(text.length > 0);
    const row = await usageAfter(before, (r) => r.stream);
    assert.ok(row.output_tokens > 0 && row.input_tokens > 0, JSON.stringify(row));
  });

  it("streams through the Anthropic endpoint (Claude Code's wire format), translated to and from llama.cpp", async () => {
    const events: string[] = [];
    const stream = fx.anthropic().messages.stream({ model: "smol", max_tokens: 24, system: "You are terse.", messages: [{ role: "user", content: "Say hello." }] });
    stream.on("streamEvent", (e) => events.push(e.type));
    const message = await stream.finalMessage();
    assert.deepEqual([events[0], events.at(-1)], ["message_start", "message_stop"]);
    assert.ok(events.filter((e) => e === "content_block_delta").length >= 2, events.join(","));
    assert.ok(message.content[0]?.type === "text" && message.content[0].text.length > 0);
    assert.ok(message.usage.input_tokens > 0 && message.usage.output_tokens > 0);
  });

  it("turns Anthropic's structured outputs (output_config.format, and the older output_format) into response_format: llama.cpp's grammar holds the reply to the schema", async () => {
    const schema = { type: "object", properties: { verdict: { type: "string", enum: ["approve", "reject"] }, reasons: { type: "array", items: { type: "string", maxLength: 30 }, minItems: 1, maxItems: 2 } }, required: ["verdict", "reasons"], additionalProperties: false };
    // max_tokens covers the longest reply the grammar allows (two 30-character reasons, and llama.cpp's grammar lets up to 22 whitespace characters stand between tokens), so the JSON always closes

    for (const shape of [{ output_config: { format: { type: "json_schema", schema } } }, { output_format: { type: "json_schema", schema } }]) {
      const message = await fx.anthropic().messages.create({ model: "smol", max_tokens: 512, messages: [{ role: "user", content: "Review this change: it adds a README." }], ...shape } as never);
      const block = (message as { content: Array<{ type: string; text?: string }> }).content[0]!;
      assert.equal(block.type, "text");
      const reply = JSON.parse(block.text!) as { verdict: string; reasons: string[] };
      assert.deepEqual(Object.keys(reply).sort(), ["reasons", "verdict"], block.text);
      assert.ok(["approve", "reject"].includes(reply.verdict) && reply.reasons.length >= 1 && reply.reasons.length <= 2, block.text);
    }
  });

  it("the captain's planner gets a valid plan from a 135M model: its JSON Schema goes through as response_format and llama.cpp's grammar enforces it", async () => {
    const { dir } = scratch("paddock-plan-llama-");
    const socket = join(dir, "gateway.sock");
    await fx.gateway.listenSocket(socket);
    const plan = await planTask({ gateway: gatewayAccess(fx.gateway, socket), task: "Add a README and a LICENSE to the repository.", workers: 2 });
    assert.ok(plan.subtasks.length >= 1 && plan.subtasks.length <= 20, JSON.stringify(plan));
    assert.ok(plan.subtasks.every((t) => t.title.length > 0 && t.prompt.length > 0), JSON.stringify(plan));
  });

  it("queues two agents' requests for a one-slot server in the gateway (max_parallel_requests: 1), and serves both", async () => {
    const [a, b] = await Promise.all([fx.gateway.mintAgentKey("agent-a"), fx.gateway.mintAgentKey("agent-b")]);
    const d = fx.gateway.router.all()[0]!;
    let queued = 0;
    const watch = setInterval(() => (queued = Math.max(queued, d.waitingCount)), 2);
    const ask = (key: string) => fx.openai(key).chat.completions.create({ model: "smol", messages: [{ role: "user", content: "Count to five." }], max_tokens: 32, ignore_eos: true } as never);
    const started = performance.now();
    const ends: number[] = [];
    await Promise.all([ask(a), ask(b)].map((p) => p.then(() => ends.push(performance.now() - started))));
    clearInterval(watch);
    assert.equal(queued, 1, "the second request waited in the gateway's queue");
    assert.equal(ends.length, 2);
    const slots = (await (await fetch(`${llama.root}/slots`)).json()) as Array<{ id: number }>;
    assert.equal(slots.length, 1);
  });

  it("paddock doctor reports the server: llama.cpp, the model, its window and its slots", async () => {
    const { dir, env } = scratch("paddock-doctor-llama-");
    const config = join(dir, "paddock.yaml");
    writeFileSync(config, `model_list:\n  - model_name: smol\n    litellm_params: { model: openai/smollm2, api_base: "${llama.url}", api_key: none }\n`);
    const r = await paddock(["doctor", "--config", config, "--json"], { env });
    const checks = JSON.parse(r.stdout) as Array<{ name: string; ok: boolean; detail: string; fix?: string }>;
    const servers = checks.find((c) => c.name === "model servers")!;
    assert.equal(servers.ok, true, servers.detail);
    assert.match(servers.detail, new RegExp(`smol at ${llama.url.replace(/[.]/g, "\\.")}: llama\\.cpp serving smollm2, context ${WINDOW}, 1 slot`));
    assert.match(servers.fix ?? "", /set max_parallel_requests: 1 for smol/);
  });
});

describe("the gateway when a real llama.cpp server fails", () => {
  it("asks a server that is still loading its model (503) again after a wait, and answers once it has loaded", async () => {
    const llama = await startLlamaServer({ context: WINDOW, until: "loading" });
    // Five rounds, each wait twice the last (0.5 s up to 5 s): time enough for the model to load on a busy machine.
    const fx = await startGateway({ model_list: [{ model_name: "smol", litellm_params: { model: "openai/smollm2", api_base: llama.url, api_key: "none" }, model_info: { max_input_tokens: WINDOW } }], litellm_settings: { num_retries: 5 } });
    try {
      const r = await fx.openai().chat.completions.create({ model: "smol", messages: [{ role: "user", content: "Say hello." }], max_tokens: 8 });
      assert.ok(r.choices[0]!.message.content, JSON.stringify(r));
      const busy = fx.logs.filter((l) => l.msg === "model server busy; asking it again");
      assert.ok(busy.length >= 1, "the first answer was llama.cpp's 503 while loading");
      assert.match(String(busy[0]!.error), /answered 503: .*Loading model/);
      const waits = busy.map((l) => l.wait_ms);
      assert.deepEqual(waits, [500, 1000, 2000, 4000, 5000].slice(0, waits.length), "each wait twice the last, up to 5 s");
    } finally {
      await fx.close();
      await llama.close();
    }
  });

  it("ends a stream whose server was killed mid-answer with an error event, on both wire APIs, and records it", async () => {
    for (const api of ["openai", "anthropic"] as const) {
      const llama = await startLlamaServer({ context: WINDOW });
      const fx = await startGateway({ model_list: [{ model_name: "smol", litellm_params: { model: "openai/smollm2", api_base: llama.url, api_key: "none" } }] });
      try {
        let chunks = 0;
        const consume = async () => {
          if (api === "openai") {
            const stream = await fx.openai().chat.completions.create({ model: "smol", messages: [{ role: "user", content: "Tell a long story." }], max_tokens: 400, stream: true, ignore_eos: true } as never);
            for await (const _ of stream as unknown as AsyncIterable<unknown>) if (++chunks === 3) llama.child.kill("SIGKILL");
          } else {
            const stream = fx.anthropic().messages.stream({ model: "smol", max_tokens: 400, messages: [{ role: "user", content: "Tell a long story." }] });
            for await (const e of stream) if (e.type === "content_block_delta" && ++chunks === 3) llama.child.kill("SIGKILL");
          }
        };
        const started = performance.now();
        const err = await consume().then(() => assert.fail(`${api}: the stream ended as if complete`), (e: Error) => e);
        assert.ok(performance.now() - started < 15_000, `${api}: the client waited ${performance.now() - started} ms`);
        assert.match(err.message, /model server .*ended|ended the stream|connection/i, `${api}: ${err.message}`);
        const rows = await eventually(async () => {
          const all = await fx.store.usage({});
          return all.length > 0 ? all : undefined;
        });
        assert.equal(rows.at(-1)!.status, 502, `${api}: ${JSON.stringify(rows.at(-1))}`);
      } finally {
        await fx.close();
        await llama.close();
      }
    }
  });
});
