import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ScriptedModel } from "../src/scripted/index.js";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { CLI, freePort, hostProcessesWith, paddockCgroups, scratch } from "./helpers.js";

const TOOLS = ["get_worker_status", "list_workers", "send_task", "spawn_worker", "terminate_worker"];
type ToolResult = { isError?: boolean; structuredContent?: Record<string, any>; content: Array<{ type: string; text?: string }> };

describe("paddock's MCP server, through the SDK's own client", () => {
  const { dir, env } = scratch("paddock-mcp-");
  const workspace = join(dir, "ws");
  mkdirSync(workspace);
  const token = "mcp-test-daemon-token-0123456789";
  let upstream: ScriptedModel;
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  let port = 0;
  const card = join(dir, "worker.json");

  before(async () => {
    upstream = await new ScriptedModel({ model: "qwen-coder" }).listen();
    const config = join(dir, "paddock.yaml");
    writeFileSync(config, `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${upstream.url}" }\npaddock_settings: { listen: "127.0.0.1:0" }\n`);
    const script = `echo "step one"; sleep 0.5; echo "step two"; echo "$PADDOCK_PROMPT" > task.txt; echo '{"outcome":"COMPLETE","summary":"noted the task"}'`;
    writeFileSync(card, JSON.stringify({ agent_id: "helper", workspace, kind: "command", command: ["sh", "-c", script], tools: ["sh", "coreutils"] }));
    writeFileSync(join(dir, "token"), token);
    port = await freePort();
    daemon = await startDaemon(env, ["--gateway", config, "--listen", `127.0.0.1:${port}`, "--token-file", join(dir, "token")]);
  });
  after(async () => {
    if (daemon) await stopDaemon(daemon.child);
    await upstream?.close();
    await eventually(async () => paddockCgroups().length === 0 || undefined, 60_000);
  });

  it("over stdio: lists its tools, spawns a worker, sends it a task with progress, and terminates it", async () => {
    const client = new Client({ name: "paddock-test", version: "1.0.0" });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, "mcp"], env: env as Record<string, string>, stderr: "pipe" }));
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
      const send = tools.find((t) => t.name === "send_task")!;
      assert.deepEqual(send.inputSchema.required, ["agent_id", "prompt"]);
      assert.ok((send.description ?? "").length > 50);

      const spawned = (await client.callTool({ name: "spawn_worker", arguments: { card_path: card, name: "mcp-worker", ttl_seconds: 300 } })) as ToolResult;
      assert.notEqual(spawned.isError, true, JSON.stringify(spawned));
      assert.equal(spawned.structuredContent?.state, "running");
      assert.match(spawned.structuredContent?.a2a_url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.doesNotMatch(JSON.stringify(spawned), /token/);

      const progress: string[] = [];
      const done = (await client.callTool({ name: "send_task", arguments: { agent_id: "mcp-worker", prompt: "note this" } }, undefined, { onprogress: (p) => progress.push(String(p.message)), timeout: 60_000 })) as ToolResult;
      assert.equal(done.structuredContent?.state, "completed", JSON.stringify(done));
      assert.equal(done.structuredContent?.summary, "noted the task");
      assert.deepEqual(done.structuredContent?.changed_files, [{ path: "task.txt", status: "added" }]);
      assert.match(readFileSync(join(workspace, "task.txt"), "utf8"), /^note this/);
      assert.ok(progress.some((p) => /step one/.test(p)), progress.join(" | "));
      assert.equal(progress.at(-1), "completed: noted the task");

      const status = (await client.callTool({ name: "get_worker_status", arguments: { agent_id: "mcp-worker" } })) as ToolResult;
      assert.equal(status.structuredContent?.state, "running");
      const listed = (await client.callTool({ name: "list_workers", arguments: {} })) as ToolResult;
      assert.ok(listed.structuredContent?.workers.some((w: { agent_id: string }) => w.agent_id === "mcp-worker"));

      const stopped = (await client.callTool({ name: "terminate_worker", arguments: { agent_id: "mcp-worker", grace_seconds: 1 } })) as ToolResult;
      assert.equal(stopped.structuredContent?.state, "stopped");
      assert.deepEqual(hostProcessesWith("sleep infinity"), []);

      const unknown = (await client.callTool({ name: "get_worker_status", arguments: { agent_id: "nobody" } })) as ToolResult;
      assert.equal(unknown.isError, true);
      assert.match(unknown.content[0]!.text!, /no agent nobody/);
      const badInput = (await client.callTool({ name: "send_task", arguments: { agent_id: "Not Valid" } })) as ToolResult;
      assert.equal(badInput.isError, true);
    } finally {
      await client.close();
    }
  });

  it("over Streamable HTTP on the daemon, with the daemon's token", async () => {
    const url = new URL(`http://127.0.0.1:${port}/mcp`);
    const client = new Client({ name: "paddock-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
    } finally {
      await client.close();
    }
    const refused = await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: "{}" });
    assert.equal(refused.status, 401);
  });
});
