import { randomBytes, randomUUID } from "node:crypto";
import { Role, TaskState } from "@a2a-js/sdk";
import type { Client } from "@a2a-js/sdk/client";
import { textPart, workerClient } from "../a2a/index.js";
import type { DaemonApi } from "../supervisor/index.js";
import { PlanSchema, type Plan } from "./plan.js";

/** What the captain reports while it works: one line's worth per event. */
export interface CaptainEvent {
  worker: string;
  subtask: string;
  state: string;
  text?: string;
}

export interface SubtaskResult {
  title: string;
  prompt: string;
  worker: string;
  /** The A2A task's final state: completed, input-required, failed, canceled. */
  state: string;
  summary: string;
  changed_files: Array<{ path: string; status: string }>;
  run_id: string | null;
}

export interface CaptainReport {
  task: string;
  plan: Plan;
  results: SubtaskResult[];
  ok: boolean;
  duration_ms: number;
}

/**
 * The captain: a plan from the model (through the daemon's gateway), workers
 * spawned through the supervisor from a template card (each an A2A server,
 * each with a TTL), subtasks dispatched over A2A with bounded parallelism and
 * streamed progress, results gathered into one report, and every worker
 * stopped at the end: also on failure and on cancellation.
 */
export async function runCaptain(options: { api: DaemonApi; task: string; workers: number; cardPath: string; model?: string; ttlSeconds: number; signal?: AbortSignal; onEvent?: (event: CaptainEvent) => void }): Promise<CaptainReport> {
  const started = performance.now();
  const { api, onEvent = () => undefined } = options;
  const plan = PlanSchema.parse(await api("POST", "/v1/plan", { task: options.task, workers: options.workers, model: options.model }));
  const count = Math.min(options.workers, plan.subtasks.length);
  const crew = `captain-${randomBytes(3).toString("hex")}`;
  const names = Array.from({ length: count }, (_, i) => `${crew}-w${i + 1}`);
  const spawned: string[] = [];
  const results: SubtaskResult[] = [];
  try {
    const workers = await Promise.all(
      names.map(async (name) => {
        const agent = (await api("POST", "/v1/agents", { card_path: options.cardPath, name, a2a: true, ttl_seconds: options.ttlSeconds })) as { agent_id: string; a2a: { url: string; token: string } };
        spawned.push(agent.agent_id);
        onEvent({ worker: agent.agent_id, subtask: "", state: "spawned", text: agent.a2a.url });
        return { id: agent.agent_id, client: await workerClient(agent.a2a.url, agent.a2a.token) };
      }),
    );
    const queue = plan.subtasks.map((subtask, index) => ({ ...subtask, index }));
    await Promise.all(
      workers.map(async (worker) => {
        for (let next = queue.shift(); next && !options.signal?.aborted; next = queue.shift()) {
          results[next.index] = await dispatch(worker.client, worker.id, next, onEvent, options.signal);
        }
      }),
    );
  } finally {
    await Promise.all(spawned.map((id) => api("POST", `/v1/agents/${id}/stop`, { grace_seconds: 2 }).catch(() => undefined)));
  }
  const done = plan.subtasks.map((s, i) => results[i] ?? { title: s.title, prompt: s.prompt, worker: "", state: "canceled", summary: "not dispatched", changed_files: [], run_id: null });
  return { task: options.task, plan, results: done, ok: done.every((r) => r.state === "completed"), duration_ms: Math.round(performance.now() - started) };
}

/** One subtask on one worker over A2A (streaming); cancelling the signal cancels the task on the worker. */
async function dispatch(client: Client, worker: string, subtask: { title: string; prompt: string }, onEvent: (event: CaptainEvent) => void, signal?: AbortSignal): Promise<SubtaskResult> {
  let taskId = "";
  let state = "submitted";
  let summary = "";
  let result: { summary?: string; changed_files?: SubtaskResult["changed_files"]; run_id?: string } = {};
  const onAbort = () => void (taskId && client.cancelTask({ tenant: "", id: taskId, metadata: {} }).catch(() => undefined));
  signal?.addEventListener("abort", onAbort);
  try {
    const stream = client.sendMessageStream({
      tenant: "",
      metadata: {},
      message: { messageId: randomUUID(), role: Role.ROLE_USER, parts: [textPart(subtask.prompt)], taskId: "", contextId: "", extensions: [], metadata: {}, referenceTaskIds: [] },
      configuration: undefined,
    });
    for await (const event of stream) {
      const payload = event.payload;
      if (payload?.$case === "task") {
        taskId = payload.value.id;
        onEvent({ worker, subtask: subtask.title, state: "submitted" });
      } else if (payload?.$case === "statusUpdate") {
        state = stateName(payload.value.status?.state);
        const part = payload.value.status?.message?.parts[0]?.content;
        const text = part?.$case === "text" ? part.value : undefined;
        if (state !== "working") summary = text ?? summary;
        onEvent({ worker, subtask: subtask.title, state, text });
      } else if (payload?.$case === "artifactUpdate" && payload.value.artifact?.name === "result") {
        const data = payload.value.artifact.parts[0]?.content;
        if (data?.$case === "data") result = data.value as typeof result;
      }
    }
  } catch (err) {
    state = "failed";
    summary = `the worker could not be reached: ${(err as Error).message}`;
    onEvent({ worker, subtask: subtask.title, state, text: summary });
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  return { title: subtask.title, prompt: subtask.prompt, worker, state, summary: result.summary ?? summary, changed_files: result.changed_files ?? [], run_id: result.run_id ?? null };
}

/** completed, failed, canceled, input-required, working, submitted: A2A's state names. */
function stateName(state: TaskState | undefined): string {
  return state === undefined ? "unknown" : TaskState[state].replace(/^TASK_STATE_/, "").toLowerCase().replace(/_/g, "-");
}
