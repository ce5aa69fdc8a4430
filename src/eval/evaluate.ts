import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { PaddockError } from "../errors/index.js";
import type { Executor, TaskEvent, TaskRequest } from "../executor/index.js";
import { removeAgentState } from "../sandbox/index.js";
import { runSummaryOf, type RunRecord } from "../store/index.js";
import { cloneWorkspace, type WorkspaceClone } from "../workspace/index.js";
import type { Candidate } from "./load.js";
import { scoreEvaluation, winnerOf, type CandidateScore } from "./score.js";

export interface EvalRequest {
  executor: Executor;
  prompt: string;
  /** A folder in a git repository: each run starts from a clone of its HEAD. */
  workspace: string;
  candidates: Candidate[];
  /** Runs per candidate. */
  repeat: number;
  /** Runs at once (the deployments' pools still bound each model server). */
  parallel: number;
  verify?: TaskRequest["verify"];
  role?: TaskRequest["role"] & { model?: string };
  signal?: AbortSignal;
  allowUnconfinedSeccomp?: boolean;
}

/** What an evaluation reports while it runs: each run's own events, named by candidate and repeat. */
export type EvalEvent = { type: "cloned"; eval_id: string; base: string; clones: number } | { type: "run"; candidate: string; repeat: number; event: TaskEvent };

export interface EvalReport {
  eval_id: string;
  repository: string;
  /** The commit every candidate started from. */
  base: string;
  repeat: number;
  candidates: Array<CandidateScore & { workspaces: string[] }>;
  /** The candidate with the most passed runs (then the shortest median time, then the fewest tokens); null when none passed. */
  winner: string | null;
  duration_ms: number;
}

/**
 * Runs the task on every candidate `repeat` times, each run in its own clone of the workspace's repository at one
 * commit (so no candidate sees another's work), `parallel` at a time, alternating candidates; every run is recorded
 * with its candidate, verified when the task says how, and scored.
 */
export async function evaluate(request: EvalRequest, onEvent: (event: EvalEvent) => void = () => undefined): Promise<EvalReport> {
  const started = performance.now();
  const stamp = randomBytes(3).toString("hex");
  const evalId = `eval-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}-${stamp}`;
  const root = join(request.executor.paths.data, "evals", evalId);
  const jobs = Array.from({ length: request.repeat }, (_, i) => request.candidates.map((candidate) => ({ candidate, repeat: i + 1 }))).flat();
  const clones = await cloneAll(request.workspace, root, evalId, jobs.map((j) => `${j.candidate.name}-${j.repeat}`), request.executor);
  onEvent({ type: "cloned", eval_id: evalId, base: clones[0]!.base, clones: clones.length });
  const runs: RunRecord[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < jobs.length; i = next++) {
      const { candidate, repeat } = jobs[i]!;
      const clone = clones[i]!;
      const agentId = `eval-${stamp}-${candidate.name}-${repeat}`;
      const card = { ...candidate.card, agent_id: agentId, workspace: clone.workspace, ...(clone.workdir ? { workdir: clone.workdir } : {}) };
      try {
        runs[i] = await request.executor.run(
          {
            card,
            prompt: request.prompt,
            model: candidate.model ?? request.role?.model,
            workspace: clone.workspace,
            signal: request.signal,
            allowUnconfinedSeccomp: request.allowUnconfinedSeccomp,
            ...(request.verify ? { verify: request.verify } : {}),
            ...(request.role ? { role: request.role } : {}),
            candidate: { eval_id: evalId, name: candidate.name, card: candidate.card.agent_id, repeat, contract: candidate.card.contract },
          },
          (event) => onEvent({ type: "run", candidate: candidate.name, repeat, event }),
        );
      } finally {
        removeAgentState(request.executor.paths.data, agentId);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(request.parallel, jobs.length) }, worker));
  const scores = scoreEvaluation(runs.map(runSummaryOf));
  return {
    eval_id: evalId,
    repository: clones[0]!.repository,
    base: clones[0]!.base,
    repeat: request.repeat,
    candidates: scores.map((score) => ({ ...score, workspaces: jobs.flatMap((j, i) => (j.candidate.name === score.name ? [clones[i]!.path] : [])) })),
    winner: winnerOf(scores)?.name ?? null,
    duration_ms: Math.round(performance.now() - started),
  };
}

/**
 * One clone per run under `root`, all at once at the repository's HEAD; should HEAD move meanwhile (a commit in
 * between), those that got another commit are cloned again at the first one's.
 */
async function cloneAll(workspace: string, root: string, evalId: string, names: string[], executor: Executor): Promise<WorkspaceClone[]> {
  const cloneOne = (name: string, commit?: string) => cloneWorkspace(workspace, join(root, name), `paddock/${evalId}/${name}`, { commit, paths: executor.paths, field: "workspace" });
  const clones = await Promise.all(names.map((name) => cloneOne(name)));
  const first = clones[0];
  if (!first) throw new PaddockError("eval_no_repository", `${workspace} is in no git repository`, "workspace", "candidates start from clones of one commit: run paddock eval in a git repository (or give the task file a workspace: in one)");
  return Promise.all(
    clones.map(async (clone, i) => {
      if (clone!.base === first.base) return clone!;
      rmSync(clone!.path, { recursive: true, force: true });
      return (await cloneOne(names[i]!, first.base))!;
    }),
  );
}
