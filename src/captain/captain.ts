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
  /** The role of paddock.yaml it was done in (null: the template card). */
  role: string | null;
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
  /** Let the planner give subtasks the daemon's roles (default: yes); a role's workers are spawned in it. */
  roles?: boolean;
  signal?: AbortSignal;
  onEvent?: (event: CaptainEvent) => void;
}): Promise<CaptainReport> {
  const started = performance.now();
  const { api, onEvent = () => undefined } = options;
  const plan = PlanSchema.parse(await api("POST", "/v1/plan", { task: options.task, workers: options.workers, model: options.model, roles: options.roles !== false }));
  const crew = `captain-${randomBytes(3).toString("hex")}`;
  const roles = crewRoles(plan, options.workers);
  const names = roles.map((_, i) => `${crew}-w${i + 1}`);
  const spawned: string[] = [];
  const results: SubtaskResult[] = [];
  try {
    // Every spawn is waited for, failed or not, so that the `finally` stops each worker that did start.
    const spawns = await Promise.allSettled(
      names.map(async (name, i) => {
        const role = roles[i]!;
        const agent = (await api("POST", "/v1/agents", { ...(role ? { role } : { card_path: options.cardPath }), name, a2a: true, ttl_seconds: options.ttlSeconds, worktree: !options.sharedWorkspace })) as {
          agent_id: string;
          a2a: { url: string; token: string };
          worktree: { path: string; branch: string } | null;
        };
        spawned.push(agent.agent_id);
        onEvent({ worker: agent.agent_id, subtask: "", state: "spawned", text: `${role ? `as ${role}: ` : ""}${agent.worktree ? `${agent.a2a.url} on branch ${agent.worktree.branch}` : agent.a2a.url}` });
        return { id: agent.agent_id, role, worktree: agent.worktree ? { path: agent.worktree.path, branch: agent.worktree.branch } : null, client: await workerClient(agent.a2a.url, agent.a2a.token) };
      }),
    );
    const failed = spawns.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    const workers = spawns.map((s) => (s as PromiseFulfilledResult<{ id: string; role: string | null; worktree: SubtaskResult["worktree"]; client: Awaited<ReturnType<typeof workerClient>> }>).value);
    // One queue per role: a role's workers take its subtasks, in the plan's order.
    const queues = new Map<string | null, Array<Plan["subtasks"][number] & { index: number }>>();
    plan.subtasks.forEach((subtask, index) => queues.set(subtask.role ?? null, [...(queues.get(subtask.role ?? null) ?? []), { ...subtask, index }]));
    await Promise.all(
      workers.map(async (worker) => {
        const queue = queues.get(worker.role)!;
        for (let next = queue.shift(); next && !options.signal?.aborted; next = queue.shift()) {
          const outcome = await sendTask(worker.client, next.prompt, { signal: options.signal, onEvent: (e) => onEvent({ worker: worker.id, subtask: next.title, ...e }) });
          results[next.index] = { title: next.title, prompt: next.prompt, role: worker.role, worker: worker.id, worktree: worker.worktree, ...outcome };
        }
      }),
    );
  } finally {
    await Promise.all(spawned.map((id) => api("POST", `/v1/agents/${id}/stop`, { grace_seconds: 2 }).catch(() => undefined)));
  }
  const done = plan.subtasks.map((s, i) => results[i] ?? { title: s.title, prompt: s.prompt, role: s.role ?? null, worker: "", worktree: null, state: "canceled", summary: "not dispatched", changed_files: [], run_id: null });
  return { task: options.task, plan, results: done, ok: done.every((r) => r.state === "completed"), duration_ms: Math.round(performance.now() - started) };
}

/**
 * The role of each worker to spawn (null: the template card): one per role the plan uses, then the rest of the
 * `workers` (no more than there are subtasks) each to the role with the most subtasks per worker.
 */
export function crewRoles(plan: Plan, workers: number): Array<string | null> {
  const counts = new Map<string | null, number>();
  for (const s of plan.subtasks) counts.set(s.role ?? null, (counts.get(s.role ?? null) ?? 0) + 1);
  const crew = [...counts.keys()];
  const assigned = new Map(crew.map((role) => [role, 1]));
  for (let n = crew.length; n < Math.min(workers, plan.subtasks.length); n++) {
    const [busiest] = [...counts].sort(([a, x], [b, y]) => y / assigned.get(b)! - x / assigned.get(a)!)[0]!;
    assigned.set(busiest, assigned.get(busiest)! + 1);
    crew.push(busiest);
  }
  return crew;
}
