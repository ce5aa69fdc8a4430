import { randomBytes } from "node:crypto";
import { sendTask, workerClient, type TaskOutcome } from "../a2a/index.js";
import type { DaemonApi } from "../supervisor/index.js";
import { PlanSchema, type Plan } from "./plan.js";

/** What the captain reports while it works: one line's worth per event. */
export interface CaptainEvent {
  worker: string;
  subtask: string;
  state: string;
  text?: string;
}

export interface SubtaskResult extends TaskOutcome {
  title: string;
  prompt: string;
  worker: string;
  /** The worker's own git worktree and branch, where its changes are (null: it worked in the shared workspace). */
  worktree: { path: string; branch: string } | null;
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
 * each with a TTL, each in a git worktree and branch of its own when the
 * workspace is a repository), subtasks dispatched over A2A with bounded parallelism and
 * streamed progress, results gathered into one report, and every worker
 * stopped at the end: also on failure and on cancellation.
 */
export async function runCaptain(options: {
  api: DaemonApi;
  task: string;
  workers: number;
  cardPath: string;
  model?: string;
  ttlSeconds: number;
  /** All workers in the template's workspace, instead of a git worktree each (when it is a repository). */
  sharedWorkspace?: boolean;
  signal?: AbortSignal;
  onEvent?: (event: CaptainEvent) => void;
}): Promise<CaptainReport> {
  const started = performance.now();
  const { api, onEvent = () => undefined } = options;
  const plan = PlanSchema.parse(await api("POST", "/v1/plan", { task: options.task, workers: options.workers, model: options.model }));
  const count = Math.min(options.workers, plan.subtasks.length);
  const crew = `captain-${randomBytes(3).toString("hex")}`;
  const names = Array.from({ length: count }, (_, i) => `${crew}-w${i + 1}`);
  const spawned: string[] = [];
  const results: SubtaskResult[] = [];
  try {
    // Every spawn is waited for, failed or not, so that the `finally` stops each worker that did start.
    const spawns = await Promise.allSettled(
      names.map(async (name) => {
        const agent = (await api("POST", "/v1/agents", { card_path: options.cardPath, name, a2a: true, ttl_seconds: options.ttlSeconds, worktree: !options.sharedWorkspace })) as {
          agent_id: string;
          a2a: { url: string; token: string };
          worktree: { path: string; branch: string } | null;
        };
        spawned.push(agent.agent_id);
        onEvent({ worker: agent.agent_id, subtask: "", state: "spawned", text: agent.worktree ? `${agent.a2a.url} on branch ${agent.worktree.branch}` : agent.a2a.url });
        return { id: agent.agent_id, worktree: agent.worktree ? { path: agent.worktree.path, branch: agent.worktree.branch } : null, client: await workerClient(agent.a2a.url, agent.a2a.token) };
      }),
    );
    const failed = spawns.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    const workers = spawns.map((s) => (s as PromiseFulfilledResult<{ id: string; worktree: SubtaskResult["worktree"]; client: Awaited<ReturnType<typeof workerClient>> }>).value);
    const queue = plan.subtasks.map((subtask, index) => ({ ...subtask, index }));
    await Promise.all(
      workers.map(async (worker) => {
        for (let next = queue.shift(); next && !options.signal?.aborted; next = queue.shift()) {
          const outcome = await sendTask(worker.client, next.prompt, { signal: options.signal, onEvent: (e) => onEvent({ worker: worker.id, subtask: next.title, ...e }) });
          results[next.index] = { title: next.title, prompt: next.prompt, worker: worker.id, worktree: worker.worktree, ...outcome };
        }
      }),
    );
  } finally {
    await Promise.all(spawned.map((id) => api("POST", `/v1/agents/${id}/stop`, { grace_seconds: 2 }).catch(() => undefined)));
  }
  const done = plan.subtasks.map((s, i) => results[i] ?? { title: s.title, prompt: s.prompt, worker: "", worktree: null, state: "canceled", summary: "not dispatched", changed_files: [], run_id: null });
  return { task: options.task, plan, results: done, ok: done.every((r) => r.state === "completed"), duration_ms: Math.round(performance.now() - started) };
}
