import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { markerScript, startAgentStack, type AgentStack } from "./agent-helpers.js";


for (const backend of ["bwrap", "gvisor"] as const) describe(`OpenCode, for real, in a ${backend} sandbox through the gateway and the egress proxy`, () => {
  let stack: AgentStack;
  const marker = `paddock-${randomBytes(4).toString("hex")}`;
  const fileName = `${marker}.txt`;

  before(async () => {
    stack = await startAgentStack({
      // A 16K window: OpenCode is told a quarter of it for its replies (it keeps that free before compacting); the gateway's cap stays on guard.
      model: {
        maxModelLen: 16384,
        script: markerScript("opencode", marker),
      },
      deployment: { model_info: { max_output_tokens: 12000 } },
    });
  });
  after(async () => stack?.close());

  it("writes the file in the workspace and nowhere else, bills its key, and is denied the web", async () => {
    const card = stack.card({ kind: "opencode", backend, allowed_hosts: ["allowed.example.org"] });
    writeFileSync(join(card.workspace, "AGENTS.md"), `# Rules of this project\nAlways mention ${marker}-rules.\n`);
    execFileSync("git", ["init", "-q", card.workspace]);
    const role = { name: "implementer", systemPrompt: `You are the implementer. Always mention ${marker}-role.`, sections: [] };
    const run = await stack.executor.run({ card, prompt: "Write the marker file, fetch the secrets page, and show the file.", role }, (e) => process.env.DEBUG && console.error(JSON.stringify(e).slice(0, 300)));

    assert.equal(run.outcome, "COMPLETE", run.conversation);
    assert.equal(run.attempts.length, 1);
    assert.equal(readFileSync(join(card.workspace, fileName), "utf8"), `${marker}\n`);
    assert.deepEqual(run.changed_files, [{ path: fileName, status: "added" }]);
    // Nowhere else: not in the agent's HOME, paddock's folders, the host's /tmp or /root.
    const found = execFileSync("find", [stack.dir, "/tmp", "/root", "-name", fileName], { encoding: "utf8" }).trim().split("\n");
    assert.deepEqual([...new Set(found)], [join(card.workspace, fileName)]);
    // The bash tool ran inside, as the sandbox's unprivileged user.
    assert.match(run.conversation, new RegExp(`${marker}\\s+1000`));

    // The project's AGENTS.md reached the model, as OpenCode does it.
    const chats = stack.model.requests.filter((r) => r.path === "/v1/chat/completions");
    assert.ok(chats.some((r) => JSON.stringify(r.body.messages).includes(`${marker}-rules`)), "AGENTS.md is in the prompt");
    // The role's instructions reached the model in the system prompt (OpenCode's global rules), beside the project's.
    assert.ok(chats.some((r) => (r.body.messages as Array<{ role: string; content: unknown }>).some((m) => m.role === "system" && JSON.stringify(m.content).includes(`${marker}-role`))), "the role's instructions are in the system prompt");
    assert.equal(run.role, "implementer");

    // Every model request went through the gateway with the run's own key, and the cap kept them inside the window.
    const usage = await stack.store.usage({ agentId: card.agent_id });
    assert.equal(usage.length, chats.length);
    assert.equal(new Set(usage.map((u) => u.token_hash)).size, 1);
    assert.ok(usage.every((u) => u.status === 200), JSON.stringify(usage));
    assert.equal(run.requests, usage.length);
    assert.ok(run.input_tokens > 5_000, String(run.input_tokens));
    for (const r of chats) assert.ok(Number(r.body.max_tokens) <= 4096, `max_tokens ${String(r.body.max_tokens)} is OpenCode's configured limit.output`);

    // The web fetch was tried, through the proxy, and refused there.
    const denied = await stack.store.egressLog({ agentId: card.agent_id, deniedOnly: true });
    assert.ok(denied.some((e) => e.host === "denied.example.org" && e.reason === "not_allowed"), JSON.stringify(denied));
    // OpenCode made no request of its own (a plugin install from the npm registry, a model catalogue): only the task's fetch went out.
    const egress = await stack.store.egressLog({ agentId: card.agent_id });
    assert.deepEqual([...new Set(egress.map((e) => e.host))], ["denied.example.org"], JSON.stringify(egress));
    const record = await stack.store.getRun(run.run_id);
    assert.equal(record?.outcome, "COMPLETE");
  });
});
