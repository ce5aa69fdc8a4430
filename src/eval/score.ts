import type { RunSummary } from "../store/index.js";

/** How one candidate did over its runs in an evaluation (or, in `runs compare`, one group over many). */
export interface CandidateScore {
  name: string;
  card: string;
  model: string | null;
  contract: "prompt" | "schema";
  runs: number;
  /** Runs that ended COMPLETE (with a verification: that passed it). */
  passed: number;
  pass_rate: number;
  /** The 95% Wilson score interval of the pass rate: honest about few runs. */
  pass_interval: [number, number];
  /** Runs whose verification passed (0 when the task had none). */
  verified: number;
  outcomes: Record<string, number>;
  median_ms: number | null;
  /** Input and output tokens, per run on average. */
  tokens: number;
  /** USD, all runs together. */
  cost: number;
  /** Lines added and removed, per run on average. */
  changed_lines: number;
  run_ids: string[];
}

const Z95 = 1.959964;

/** The 95% Wilson score interval of `successes` out of `n` (the whole [0, 1] when n is 0). */
export function wilson(successes: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const p = successes / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return [round(Math.max(0, centre - half)), round(Math.min(1, centre + half))];
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

const mean = (values: number[]) => (values.length ? Math.round(values.reduce((a, b) => a + b, 0) / values.length) : 0);

/** The score of a set of runs, named `name`. */
export function scoreRuns(name: string, runs: RunSummary[]): CandidateScore {
  const passed = runs.filter((r) => r.outcome === "COMPLETE").length;
  const outcomes: Record<string, number> = {};
  for (const r of runs) outcomes[r.outcome ?? r.state] = (outcomes[r.outcome ?? r.state] ?? 0) + 1;
  return {
    name,
    card: runs[0]?.candidate?.card ?? runs[0]?.agent_id ?? "",
    model: runs[0]?.model ?? null,
    contract: runs[0]?.candidate?.contract ?? "prompt",
    runs: runs.length,
    passed,
    pass_rate: runs.length ? round(passed / runs.length) : 0,
    pass_interval: wilson(passed, runs.length),
    verified: runs.filter((r) => r.verified).length,
    outcomes,
    median_ms: median(runs.flatMap((r) => (r.duration_ms === null ? [] : [r.duration_ms]))),
    tokens: mean(runs.map((r) => r.input_tokens + r.output_tokens)),
    cost: runs.reduce((sum, r) => sum + (r.cost ?? 0), 0),
    changed_lines: mean(runs.map((r) => r.changed_lines ?? 0)),
    run_ids: runs.map((r) => r.run_id),
  };
}

/** Each candidate's score in one evaluation, in the order the runs name them first. */
export function scoreEvaluation(runs: RunSummary[]): CandidateScore[] {
  const byName = new Map<string, RunSummary[]>();
  for (const run of runs) if (run.candidate) byName.set(run.candidate.name, [...(byName.get(run.candidate.name) ?? []), run]);
  return [...byName].map(([name, of]) => scoreRuns(name, of));
}

/**
 * The evaluation's winner: the most passed runs; between equals, the shorter median wall time, then fewer tokens.
 * No winner when no run passed.
 */
export function winnerOf(scores: CandidateScore[]): CandidateScore | undefined {
  const ranked = scores.filter((s) => s.passed > 0).sort((a, b) => b.passed - a.passed || (a.median_ms ?? Infinity) - (b.median_ms ?? Infinity) || a.tokens - b.tokens);
  return ranked[0];
}

/** One (role, card, model, contract) over every recorded evaluation it took part in. */
export interface ComparisonRow extends Omit<CandidateScore, "name" | "run_ids"> {
  role: string | null;
  evaluations: number;
  wins: number;
  win_rate: number;
  win_interval: [number, number];
}

/**
 * `paddock runs compare`: candidate runs grouped into their evaluations, each evaluation's winner found as
 * `paddock eval` found it, then every (role, card, model, contract) with its win rate and pass rate, best first.
 */
export function compareCandidates(runs: RunSummary[]): ComparisonRow[] {
  const evaluations = new Map<string, RunSummary[]>();
  for (const run of runs) if (run.candidate && run.state === "finished") evaluations.set(run.candidate.eval_id, [...(evaluations.get(run.candidate.eval_id) ?? []), run]);
  const groups = new Map<string, { runs: RunSummary[]; evaluations: Set<string>; wins: number }>();
  const keyOf = (r: RunSummary) => JSON.stringify([r.role ?? null, r.candidate!.card, r.model, r.candidate!.contract ?? "prompt"]);
  for (const [evalId, of] of evaluations) {
    const winner = winnerOf(scoreEvaluation(of));
    const winnerRun = winner && of.find((r) => r.candidate!.name === winner.name);
    for (const run of of) {
      const group = groups.get(keyOf(run)) ?? { runs: [], evaluations: new Set(), wins: 0 };
      groups.set(keyOf(run), group);
      group.runs.push(run);
      group.evaluations.add(evalId);
    }
    if (winnerRun) groups.get(keyOf(winnerRun))!.wins++;
  }
  return [...groups.values()]
    .map(({ runs: of, evaluations: entered, wins }) => {
      const { name: _, run_ids: __, ...score } = scoreRuns("", of);
      return { role: of[0]!.role ?? null, ...score, evaluations: entered.size, wins, win_rate: round(wins / entered.size), win_interval: wilson(wins, entered.size) };
    })
    .sort((a, b) => b.win_rate - a.win_rate || b.pass_rate - a.pass_rate || b.evaluations - a.evaluations);
}
