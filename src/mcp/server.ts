import { setTimeout as sleep } from "node:timers/promises";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { sendTask, workerClient } from "../a2a/index.js";
import { isPaddockError } from "../errors/index.js";
import type { DaemonApi } from "../supervisor/index.js";

/** How long the result of a task waits behind its last progress notification, so that clients read them apart. */
const PROGRESS_FLUSH_MS = 50;

const agentId = z.string().regex(/^[a-z0-9-]+$/).describe("The worker's id, as spawn_worker returned it");

interface WorkerView {
  agent_id: string;
  kind: string;
  state: string;
  pid: number | null;
  uptime_ms: number | null;
  memory_bytes: number | null;
  ttl_left_s: number | null;
  a2a: { url: string; token: string } | null;
  exit: unknown;
  error: string | null;
}

/** What a worker looks like to the model: no token, no card. */
function describe(w: WorkerView) {
  return { agent_id: w.agent_id, kind: w.kind, state: w.state, pid: w.pid, uptime_ms: w.uptime_ms, memory_bytes: w.memory_bytes, ttl_left_s: w.ttl_left_s, a2a_url: w.a2a?.url ?? null, exit: w.exit, error: w.error };
}

function result(value: unknown, isError = false): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(value, null, 2) }], structuredContent: value as Record<string, unknown>, isError };
}

/** A tool's failure as the model should see it: what went wrong and what to do, not a protocol error. */
async function attempt(fn: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await fn();
  } catch (err) {
    return { content: [{ type: "text", text: isPaddockError(err) ? err.describe() : (err as Error).message }], isError: true };
  }
}

/**
 * paddock's MCP server: an interactive agent (OpenCode, Claude Code) gets the
 * captain's powers as tools: spawn sandboxed workers, send them tasks (with
 * progress notifications while they run), watch, list and terminate them.
 * Everything goes through the daemon's API; tasks go over A2A.
 */
export function createMcpServer(api: DaemonApi): McpServer {
  const server = new McpServer({ name: "paddock", version: "0.1.0" }, { capabilities: { tools: {} } });

  server.registerTool(
    "spawn_worker",
    {
      title: "Spawn a sandboxed worker",
      description: "Start a coding agent from a paddock agent card, in its own sandbox (its workspace, its tools, only paddock's gateway and allowlisted hosts), served as an A2A worker. Returns its id; send it tasks with send_task, and terminate it when done.",
      inputSchema: {
        card_path: z.string().min(1).describe("Absolute path of the agent card (YAML, JSON or TOML) on the paddock host"),
        name: z.string().regex(/^[a-z0-9-]+$/).max(63).optional().describe("Id for this worker (default: the card's agent_id); lower-case letters, digits, dashes"),
        ttl_seconds: z.number().int().min(1).optional().describe("End the worker after this many seconds (default: the card's ttl_seconds)"),
      },
    },
    ({ card_path, name, ttl_seconds }) => attempt(async () => result(describe((await api("POST", "/v1/agents", { card_path, name, a2a: true, ttl_seconds })) as WorkerView))),
  );

  server.registerTool(
    "send_task",
    {
      title: "Send a task to a worker",
      description: "Give a worker one coding task and wait for it to finish. Progress notifications report what the worker prints while it works. Returns the outcome (completed, input-required with its questions, failed, canceled), a summary, and the files the task changed.",
      inputSchema: { agent_id: agentId, prompt: z.string().min(1).describe("The complete task: the worker sees nothing else") },
    },
    ({ agent_id, prompt }, extra) =>
      attempt(async () => {
        const worker = (await api("GET", `/v1/agents/${agent_id}`)) as WorkerView;
        if (!worker.a2a) return result({ error: `${agent_id} is not an A2A worker (or is not running): spawn it with spawn_worker` }, true);
        const client = await workerClient(worker.a2a.url, worker.a2a.token);
        const progressToken = extra._meta?.progressToken;
        let progress = 0;
        // Notifications go out in order, and all of them before the result.
        let notified = Promise.resolve();
        const outcome = await sendTask(client, prompt, {
          signal: extra.signal,
          onEvent: (e) => {
            if (progressToken === undefined) return;
            const params = { progressToken, progress: ++progress, message: `${e.state}${e.text ? `: ${e.text.trim().slice(-500)}` : ""}` };
            notified = notified.then(() => extra.sendNotification({ method: "notifications/progress", params })).catch(() => undefined);
          },
        });
        await notified;
        // The TypeScript SDK's client handles a notification a microtask late but a response at once, and forgets the
        // request's progress handler with it: a last progress read in the same chunk as the result would be dropped.
        if (progress > 0) await sleep(PROGRESS_FLUSH_MS);
        return result({ agent_id, ...outcome }, outcome.state === "failed");
      }),
  );

  server.registerTool(
    "get_worker_status",
    { title: "A worker's status", description: "A worker's state (running, stopped, failed...), pid, uptime, memory, TTL left, last exit and A2A URL.", inputSchema: { agent_id: agentId } },
    ({ agent_id }) => attempt(async () => result(describe((await api("GET", `/v1/agents/${agent_id}`)) as WorkerView))),
  );

  server.registerTool(
    "terminate_worker",
    {
      title: "Terminate a worker",
      description: "Stop a worker: SIGTERM inside its sandbox, SIGKILL to its whole process tree after the grace period; its A2A server, gateway key and egress identity go with it.",
      inputSchema: { agent_id: agentId, grace_seconds: z.number().min(0).max(300).default(5).describe("Seconds between SIGTERM and SIGKILL") },
    },
    ({ agent_id, grace_seconds }) => attempt(async () => result(describe((await api("POST", `/v1/agents/${agent_id}/stop`, { grace_seconds })) as WorkerView))),
  );

  server.registerTool(
    "list_workers",
    { title: "List workers", description: "Every agent the paddock daemon knows: id, kind, state, uptime, memory, TTL left, A2A URL.", inputSchema: {} },
    () => attempt(async () => result({ workers: ((await api("GET", "/v1/agents")) as WorkerView[]).map(describe) })),
  );

  return server;
}
