import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Role, TaskState, type SendMessageRequest, type Task } from "@a2a-js/sdk";
import type { Client } from "@a2a-js/sdk/client";
import { startWorkerServer, textPart, workerClient, type WorkerServer } from "../src/a2a/index.js";
import { startAgentStack, type AgentStack } from "./agent-helpers.js";
import { hostProcessesWith } from "./helpers.js";

const request = (text: string): SendMessageRequest => ({
  tenant: "",
  metadata: {},
  message: { messageId: randomUUID(), role: Role.ROLE_USER, parts: [textPart(text)], taskId: "", contextId: "", extensions: [], metadata: {}, referenceTaskIds: [] },
  configuration: undefined,
});

describe("A2A: a paddock agent as an A2A worker, driven by the SDK's own client", () => {
  let stack: AgentStack;
  let worker: WorkerServer;
  let client: Client;

  before(async () => {
    stack = await startAgentStack();
    const card = stack.card({
      kind: "command",
      command: ["sh", "-c", `case "$PADDOCK_PROMPT" in
        *sleepy*) echo started; sleep 30.2718;;
        *unclear*) echo '{"outcome":"NEEDS_INFO","summary":"which file?","questions":["Which file should change?"]}';;
        *) echo "working on it"; sleep 0.3; echo "step two"; echo new > new.txt; echo changed >> base.txt; echo '{"outcome":"COMPLETE","summary":"wrote new.txt"}';;
      esac`],
    });
    const git = (...args: string[]) => execFileSync("git", ["-C", card.workspace, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    git("init", "-q");
    writeFileSync(join(card.workspace, "base.txt"), "base\n");
    git("add", ".");
    git("commit", "-qm", "base");
    worker = await startWorkerServer({ card, executor: stack.executor });
    client = await workerClient(worker.url, worker.token);
  });
  after(async () => {
    await worker?.close();
    await stack?.close();
  });

  it("publishes an agent card at the well-known path: skills, streaming, the bearer scheme", async () => {
    const res = await fetch(new URL(".well-known/agent-card.json", worker.url), { headers: { "A2A-Version": "1.0" } });
    assert.equal(res.status, 200);
    const card = (await res.json()) as Record<string, any>;
    assert.equal(card.name, "agent-1");
    assert.equal(card.capabilities.streaming, true);
    assert.equal(card.supportedInterfaces[0].url, worker.url);
    assert.equal(card.supportedInterfaces[0].protocolBinding, "JSONRPC");
    assert.ok(card.skills[0].id);
    assert.equal(JSON.stringify(card.securitySchemes).includes("Bearer"), true);
  });

  it("runs a task to completion: the contract, the changed files as file parts, the diff", async () => {
    const task = (await client.sendMessage(request("write a file"))) as Task;
    assert.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED);
    const byName = Object.fromEntries(task.artifacts.map((a) => [a.name, a]));
    const result = byName.result!.parts[0]!.content;
    assert.equal(result?.$case, "data");
    assert.equal((result as { value: { outcome: string } }).value.outcome, "COMPLETE");
    const files = byName["changed-files"]!.parts.map((p) => [p.filename, p.content?.$case === "raw" ? Buffer.from(p.content.value).toString() : undefined]);
    assert.deepEqual(files, [["base.txt", "base\nchanged\n"], ["new.txt", "new\n"]]);
    const diff = byName.diff!.parts[0]!.content;
    assert.match(diff?.$case === "text" ? diff.value : "", /\+changed/);
    const fetched = await client.getTask({ tenant: "", id: task.id, historyLength: undefined });
    assert.equal(fetched.status?.state, TaskState.TASK_STATE_COMPLETED);
  });

  it("streams the task, its progress, its artifacts and its end, in order", async () => {
    const kinds: string[] = [];
    const progress: string[] = [];
    for await (const event of client.sendMessageStream(request("write a file"))) {
      const payload = event.payload!;
      if (payload.$case === "statusUpdate") {
        kinds.push(`status:${TaskState[payload.value.status!.state]}`);
        const text = payload.value.status?.message?.parts[0]?.content;
        if (text?.$case === "text") progress.push(text.value);
      } else kinds.push(payload.$case);
    }
    assert.equal(kinds[0], "task");
    assert.equal(kinds.at(-1), "status:TASK_STATE_COMPLETED");
    const firstArtifact = kinds.indexOf("artifactUpdate");
    assert.ok(firstArtifact > 0 && kinds.slice(1, firstArtifact).every((k) => k === "status:TASK_STATE_WORKING"), kinds.join(" "));
    assert.ok(kinds.slice(firstArtifact, -1).every((k) => k === "artifactUpdate"), kinds.join(" "));
    assert.match(progress.join(""), /working on it[\s\S]*step two/);
  });

  it("lets a second client resubscribe to a running task and follow it to its end", async () => {
    const stream = client.sendMessageStream(request("write a file"));
    const first = await stream.next();
    assert.equal(first.value?.payload?.$case, "task");
    const taskId = first.value!.payload!.$case === "task" ? first.value!.payload!.value.id : "";
    const drained = (async () => {
      for await (const _ of stream) void _;
    })();
    const other = await workerClient(worker.url, worker.token);
    const states: string[] = [];
    for await (const event of other.resubscribeTask({ tenant: "", id: taskId })) {
      const payload = event.payload!;
      if (payload.$case === "statusUpdate") states.push(TaskState[payload.value.status!.state]);
    }
    await drained;
    assert.equal(states.at(-1), "TASK_STATE_COMPLETED", states.join(" "));
  });

  it("reports NEEDS_INFO as input-required, with the questions", async () => {
    const task = (await client.sendMessage(request("something unclear"))) as Task;
    assert.equal(task.status?.state, TaskState.TASK_STATE_INPUT_REQUIRED);
    const text = task.status?.message?.parts[0]?.content;
    assert.match(text?.$case === "text" ? text.value : "", /Which file should change\?/);
  });

  it("cancels a running task and ends its whole process tree", async () => {
    let taskId = "";
    const states: string[] = [];
    for await (const event of client.sendMessageStream(request("a sleepy task"))) {
      const payload = event.payload!;
      if (payload.$case === "task") taskId = payload.value.id;
      if (payload.$case === "statusUpdate") {
        states.push(TaskState[payload.value.status!.state]);
        const text = payload.value.status?.message?.parts[0]?.content;
        if (text?.$case === "text" && text.value.includes("started")) {
          assert.deepEqual(hostProcessesWith("30.2718").length > 0, true, "the task runs before the cancel");
          await client.cancelTask({ tenant: "", id: taskId, metadata: {} });
        }
      }
    }
    assert.equal(states.at(-1), "TASK_STATE_CANCELED");
    assert.deepEqual(hostProcessesWith("30.2718"), []);
    assert.equal((await client.getTask({ tenant: "", id: taskId, historyLength: undefined })).status?.state, TaskState.TASK_STATE_CANCELED);
  });

  it("serves A2A 0.3 clients too, driven by the 0.3 SDK's own client: the 0.3 card, a task streamed to its end, NEEDS_INFO as input-required", async () => {
    const v03 = await import("a2a-sdk-v03/client");
    const withToken: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), authorization: `Bearer ${worker.token}` } });
    // No A2A-Version header: a 0.3 client, as the 1.0 specification tells servers to assume.
    const card = (await (await fetch(new URL(".well-known/agent-card.json", worker.url))).json()) as Record<string, unknown>;
    assert.match(String(card.protocolVersion), /^0\.3/);
    assert.equal(card.url, worker.url);
    assert.equal(card.preferredTransport, "JSONRPC");
    const factory = new v03.ClientFactory(v03.ClientFactoryOptions.createFrom(v03.ClientFactoryOptions.default, { transports: [new v03.JsonRpcTransportFactory({ fetchImpl: withToken })] }));
    const old = await factory.createFromUrl(worker.url);
    const message = (text: string) => ({ message: { kind: "message" as const, messageId: randomUUID(), role: "user" as const, parts: [{ kind: "text" as const, text }] } });
    const kinds: string[] = [];
    let final: string | undefined;
    for await (const event of old.sendMessageStream(message("write a file"))) {
      kinds.push(event.kind === "status-update" ? `status:${event.status.state}` : event.kind === "artifact-update" ? `artifact:${event.artifact.name}` : event.kind);
      if (event.kind === "status-update" && event.final) final = event.status.state;
    }
    assert.equal(kinds[0], "task");
    assert.ok(kinds.includes("status:working"), kinds.join(" "));
    assert.ok(kinds.includes("artifact:diff") && kinds.includes("artifact:result"), kinds.join(" "));
    assert.equal(final, "completed");
    const asked = await old.sendMessage({ ...message("something unclear"), configuration: { blocking: true } });
    assert.equal(asked.kind, "task");
    assert.equal(asked.kind === "task" ? asked.status.state : "", "input-required");
    const anonymous = await new v03.ClientFactory().createFromAgentCard(card as never);
    await assert.rejects(anonymous.sendMessage(message("hi")), /401/, "the token is needed in 0.3 as in 1.0");
  });

  it("answers an unknown task id with the spec's TaskNotFoundError (-32001)", async () => {
    const raw = await fetch(worker.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${worker.token}`, "A2A-Version": "1.0" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "no-such-task" } }),
    });
    const body = (await raw.json()) as { error?: { code: number } };
    assert.equal(body.error?.code, -32001);
    await assert.rejects(client.getTask({ tenant: "", id: "no-such-task", historyLength: undefined }), /not found/i);
  });

  it("refuses calls without the worker's token, or with another", async () => {
    const call = (auth?: string) =>
      fetch(worker.url, { method: "POST", headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "x" } }) });
    const missing = await call();
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer realm="paddock"/);
    const wrong = await call("Bearer not-the-token");
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get("www-authenticate") ?? "", /invalid_token/);
    const stranger = await workerClient(worker.url, "not-the-token");
    await assert.rejects(stranger.sendMessage(request("write a file")));
  });
});
