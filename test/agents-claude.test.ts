import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ScriptedTurn } from "../src/scripted/index.js";
import { markerScript, startAgentStack, type AgentStack } from "./agent-helpers.js";


describe("Claude Code, for real, in a bwrap sandbox through the gateway's Anthropic API", () => {
  let stack: AgentStack;
  const marker = `paddock-${randomBytes(4).toString("hex")}`;
  const fileName = `${marker}.txt`;

  before(async () => {
    stack = await startAgentStack({
      // Claude Code asks for 32,000 output tokens on a ~20K-token prompt: in a 32K window the gateway must cap it.
      model: {
        maxModelLen: 32768,
        script: markerScript("claude-code", marker),
      },
    });
  });
  after(async () => stack?.close());

  it("writes the file through its tools, with every request through the gateway on the run's key", async () => {
    const card = stack.card({ kind: "claude-code", allowed_hosts: ["allowed.example.org"] });
    const run = await stack.executor.run({ card, prompt: "Write the marker file, fetch the secrets page, and show the file.", role: { name: "implementer", systemPrompt: `You are the implementer. Always mention ${marker}-role.`, sections: [] } });

    assert.equal(run.outcome, "COMPLETE", run.conversation);
    assert.equal(readFileSync(join(card.workspace, fileName), "utf8"), `${marker}\n`);
    assert.deepEqual(run.changed_files, [{ path: fileName, status: "added" }]);
    const chats = stack.model.requests.filter((r) => r.path === "/v1/chat/completions");
    // The Bash tool's output (the file and the unprivileged uid) came back to the model as a tool result.
    assert.ok(chats.some((r) => new RegExp(`${marker}\\\\n1000`).test(JSON.stringify(r.body.messages))), "the Bash result reached the model");
    // The role's instructions reached the model in the system prompt (--append-system-prompt, through the translation to OpenAI's format).
    assert.ok(chats.some((r) => (r.body.messages as Array<{ role: string; content: unknown }>).some((m) => m.role === "system" && JSON.stringify(m.content).includes(`${marker}-role`))), "the role's instructions are in the system prompt");
    const usage = await stack.store.usage({ agentId: card.agent_id });
    assert.ok(usage.length >= 4, `${usage.length} usage rows`);
    assert.equal(new Set(usage.map((u) => u.token_hash)).size, 1);
    assert.ok(usage.some((u) => u.capped), "the token cap acted on Claude Code's 32,000-token requests");
    assert.ok(usage.filter((u) => u.status === 200).length >= chats.length);
    for (const r of chats) assert.ok(Number(r.body.max_tokens) < 32000, `max_tokens ${String(r.body.max_tokens)} was capped to the window`);
    const denied = await stack.store.egressLog({ agentId: card.agent_id, deniedOnly: true });
    // Claude Code's WebFetch first asks api.anthropic.com whether the domain is safe: the proxy refused that.
    assert.ok(denied.some((e) => ["api.anthropic.com", "denied.example.org"].includes(e.host) && e.reason === "not_allowed"), JSON.stringify(denied));
  });
});

describe("Claude Code with the result's JSON Schema enforced on the wire (contract: schema)", () => {
  let stack: AgentStack;
  const marker = `paddock-${randomBytes(4).toString("hex")}`;
  // Claude Code's --json-schema offers the model a StructuredOutput tool: the script answers through it.
  const tools = /(^|,)StructuredOutput(,|$)/;
  const structured = (args: Record<string, unknown>): ScriptedTurn => ({ tools, tool_calls: [{ name: "StructuredOutput", arguments: args }] });

  before(async () => {
    stack = await startAgentStack({
      model: {
        maxModelLen: 32768,
        script: [
          { system: /title generator/i, content: "A test title", repeat: true },
          { tools, toolResults: 0, tool_calls: [{ name: "Write", arguments: { file_path: `/workspace/${marker}.txt`, content: `${marker}\n` } }] },
          // A result that breaks the schema (no such outcome, no Risks section): Claude Code itself must refuse it.
          { ...structured({ outcome: "DONE", summary: "wrote it" }), toolResults: 1 },
          { ...structured({ outcome: "COMPLETE", summary: `wrote ${marker}.txt`, sections: { Risks: "none" } }), when: /does not match required schema/ },
          { content: "Done.", repeat: true },
        ],
      },
    });
  });
  after(async () => stack?.close());

  it("gets the schema to the model as a tool through the Anthropic-to-OpenAI translation, and its result from Claude Code's own check", async () => {
    const card = stack.card({ kind: "claude-code", contract: "schema" });
    const shown: string[] = [];
    const run = await stack.executor.run({ card, prompt: "Write the marker file.", role: { name: "implementer", sections: ["Risks"] } }, (event) => {
      if (event.type === "output" && event.stream === "stdout") shown.push(event.text);
    });

    assert.equal(run.outcome, "COMPLETE", run.conversation);
    assert.deepEqual([run.summary, run.sections], [`wrote ${marker}.txt`, { Risks: "none" }]);
    assert.equal(run.recovered, false, "read from the structured output, not the structurer");
    assert.equal(run.attempts.length, 1);
    const chats = stack.model.requests.filter((r) => r.path === "/v1/chat/completions" && JSON.stringify(r.body.tools ?? []).includes("StructuredOutput"));
    const tool = (chats[0]!.body.tools as Array<{ type: string; function: { name: string; parameters: Record<string, unknown> } }>).find((t) => t.function.name === "StructuredOutput")!;
    // The contract's schema, as paddock gave it to --json-schema, arrived as the tool's parameters.
    assert.equal(tool.type, "function");
    assert.deepEqual((tool.function.parameters.properties as Record<string, { enum?: string[] }>).outcome?.enum, ["COMPLETE", "NEEDS_INFO", "ERROR"]);
    assert.deepEqual(tool.function.parameters.required, ["outcome", "summary", "sections"]);
    assert.deepEqual((tool.function.parameters.properties as Record<string, { required?: string[] }>).sections?.required, ["Risks"]);
    // Claude Code refused the result that broke the schema and told the model why, as a tool result.
    const refusal = chats.flatMap((r) => r.body.messages as Array<{ role: string; content: unknown }>).find((m) => m.role === "tool" && /does not match required schema/.test(JSON.stringify(m.content)));
    assert.ok(refusal, "the invalid StructuredOutput call came back as an error");
    assert.match(JSON.stringify(refusal.content), /outcome|sections/);
    // The prompt did not ask for a JSON block: the schema does that job.
    assert.doesNotMatch(JSON.stringify(chats[0]!.body.messages), /fenced block/);
    // Progress came as readable lines, not raw stream-json.
    const progress = shown.join("");
    assert.match(progress, /→ Write /);
    assert.match(progress, /✗ .*does not match required schema/);
    assert.doesNotMatch(progress, /"type":"assistant"/);
    assert.equal(readFileSync(join(card.workspace, `${marker}.txt`), "utf8"), `${marker}\n`);
  });
});
