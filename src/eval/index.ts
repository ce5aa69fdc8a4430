/** Candidate evaluation: one task on several (card, model) candidates side by side, verified, scored, compared. */
export { evaluate, type EvalEvent, type EvalReport, type EvalRequest } from "./evaluate.js";
export { loadCandidates, loadEvalTask, type Candidate } from "./load.js";
export { compareCandidates, scoreEvaluation, winnerOf, wilson, type CandidateScore, type ComparisonRow } from "./score.js";
export { CandidateSchema, EvalTaskSchema, type EvalTask } from "./schema.js";
