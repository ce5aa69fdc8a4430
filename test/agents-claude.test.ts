import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
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
