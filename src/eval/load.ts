import { basename, dirname, extname, resolve } from "node:path";
import { loadCard, type Card, type LoadedCard } from "../card/index.js";
import { readConfigFile, readText, parseText, formatOf } from "../configfile/index.js";
import { PaddockError } from "../errors/index.js";
import { CandidateSchema, EvalTaskSchema, type EvalTask } from "./schema.js";

/** A candidate as loaded: its name, its card (validated) and what it overrides. */
export interface Candidate {
  name: string;
  /** The file it came from (a candidate file or a card). */
  file: string;
  card: Card;
  model?: string;
  warnings: LoadedCard["warnings"];
}

/** The task file, with its workspace resolved against the file's folder. */
export async function loadEvalTask(file: string): Promise<EvalTask & { file: string }> {
  const path = resolve(file);
  const task = await readConfigFile(path, EvalTaskSchema, "eval_task");
  return { ...task, file: path, ...(task.workspace ? { workspace: resolve(dirname(path), task.workspace) } : {}) };
}

/**
 * A candidate file (`card:` and `model:`), or a card itself (it has an `agent_id`): then the candidate is that card
 * with its own model. Names must differ: reports and `runs compare` tell candidates apart by them.
 */
export async function loadCandidates(files: string[]): Promise<Candidate[]> {
  const candidates: Candidate[] = [];
  for (const file of files) {
    const path = resolve(file);
    const raw = await parseText(path, readText(path, "eval_candidate_unreadable", "cannot read the candidate"), formatOf(path) ?? "yaml", "eval_candidate_syntax");
    const isCard = typeof raw === "object" && raw !== null && "agent_id" in raw;
    const spec = isCard ? { card: path } : await readConfigFile(path, CandidateSchema, "eval_candidate");
    const loaded = await loadCard(resolve(dirname(path), spec.card));
    const overrides = isCard ? {} : { ...(spec.small_model ? { small_model: spec.small_model } : {}), ...(spec.contract ? { contract: spec.contract } : {}) };
    const card = { ...loaded.card, ...overrides };
    if (card.contract === "schema" && card.kind !== "claude-code") {
      throw new PaddockError("eval_candidate_invalid", `contract: schema needs Claude Code's --json-schema, and ${spec.card} is a ${card.kind} card`, `${file}: contract`, "use contract: prompt for it");
    }
    // Names run agents (eval-XXXXXX-NAME-N): at most 40 characters of an agent id's.
    const name = ("name" in spec && spec.name) || slug(isCard ? card.agent_id : basename(path, extname(path)));
    if (candidates.some((c) => c.name === name)) {
      throw new PaddockError("eval_candidate_duplicate", `two candidates are named ${name}`, `--candidates ${file}`, "give one of them another name: (name: in a candidate file)");
    }
    candidates.push({ name, file: path, card, ...("model" in spec && spec.model ? { model: spec.model } : {}), warnings: loaded.warnings });
  }
  if (candidates.length === 0) throw new PaddockError("eval_no_candidates", "no candidates", "--candidates", "give at least one candidate file or card: --candidates a.yaml,b.yaml");
  return candidates;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+/, "").slice(0, 40) || "candidate";
}
