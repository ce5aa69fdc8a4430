import { z } from "zod";
import { RoleNameSchema } from "../config/index.js";

/** A candidate's name also names its runs' agents, whose ids have no '_'. */
const candidateName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lower-case letters, digits and '-'").max(40);

/** `paddock eval --task FILE`: what every candidate is asked to do, and how its result is checked. */
export const EvalTaskSchema = z.strictObject({
  prompt: z.string().min(1).describe("The task, as for paddock run"),
  verify: z.string().min(1).optional().describe("A command that must pass for a candidate's COMPLETE to count (default: the role's)"),
  verify_retries: z.number().int().min(0).optional().describe("More attempts after a failed verification, each given its output (default: the role's, else 0)"),
  role: RoleNameSchema.optional().describe("A role of paddock.yaml: its instructions and sections for every candidate (its card and model only where a candidate names none)"),
  workspace: z.string().min(1).optional().describe("A folder in a git repository: every candidate starts from a clone of its HEAD (relative to this file; default: the current folder)"),
});

export type EvalTask = z.output<typeof EvalTaskSchema>;

/** One `--candidates` file: an agent card and the model (and small model) it runs with. */
export const CandidateSchema = z.strictObject({
  name: candidateName.optional().describe("How reports name it (default: the file's name)"),
  card: z.string().min(1).describe("Its agent card (relative to this file)"),
  model: z.string().min(1).optional().describe("The model, as the gateway names it (default: the role's, else the card's)"),
  small_model: z.string().min(1).optional().describe("The model for its small jobs (default: the card's)"),
  contract: z.enum(["prompt", "schema"]).optional().describe("How its result is obtained (default: the card's): prompt, or schema (Claude Code's --json-schema)"),
});

export type CandidateFile = z.output<typeof CandidateSchema>;
