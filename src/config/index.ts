import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { readConfigFile } from "../configfile/index.js";
import { PaddockError } from "../errors/index.js";
import { ExecutorSettingsSchema, type ExecutorSettings } from "../executor/index.js";
import { GatewayConfigSchema, type GatewayConfig } from "../gateway/index.js";

/**
 * paddock.yaml: the gateway's config in LiteLLM's format (model_list and the
 * rest), plus an `executor:` section for one-shot tasks. Without a file,
 * paddock runs on its built-in scripted model: a smoke test.
 */
export interface PaddockConfig {
  /** The file read, or undefined for the built-in smoke-test setup. */
  file?: string;
  gateway?: GatewayConfig;
  executor: ExecutorSettings;
  roles: Record<string, Role>;
}

/** A role (implementer, reviewer, gate checker, ...): the card and model that do it, its instructions, and what its result must hold. */
export const RoleSchema = z.strictObject({
  card: z.string().min(1).describe("The role's agent card (relative to paddock.yaml's folder)"),
  description: z.string().min(1).optional().describe("What the role is for, in a sentence: the captain's planner reads it to give subtasks roles"),
  model: z.string().min(1).optional().describe("The model, as the gateway names it (default: the card's); think/no-think variants are just models"),
  small_model: z.string().min(1).optional().describe("The model for the agent's small jobs (compaction, titles); default: the card's"),
  system_prompt_file: z.string().min(1).optional().describe("Instructions added to the agent's system prompt (relative to paddock.yaml's folder)"),
  sections: z.array(z.string().min(1)).default([]).describe("Named parts the result must contain (keys of the contract's `sections`); a result without them is asked for again"),
  verify: z.string().min(1).optional().describe("A command that must pass after a COMPLETE (as paddock run --verify)"),
  verify_retries: z.number().int().min(0).default(0).describe("More attempts after a failed verification, each given its output"),
});

export type Role = z.output<typeof RoleSchema>;

/** The file given, else ./paddock.yaml, else $XDG_CONFIG_HOME/paddock/paddock.yaml; none of them: the built-in setup. */
export function findConfig(explicit?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (explicit) {
    if (!existsSync(explicit)) throw new PaddockError("config_missing", `${explicit} does not exist`, "--config", "give the path of a paddock.yaml (see examples/paddock.yaml)");
    return resolve(explicit);
  }
  const candidates = [resolve("paddock.yaml"), join(env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), ".config"), "paddock", "paddock.yaml")];
  return candidates.find((file) => existsSync(file));
}

/** paddock.yaml as one schema: the gateway's sections and `executor:`, so every problem is located alike. */
/** A role's name, as paddock.yaml's `roles:` keys and whatever names a role (a task file's `role`). */
export const RoleNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "a role's name is lower-case letters, digits, '-' and '_'");

const PaddockFileSchema = GatewayConfigSchema.extend({
  executor: ExecutorSettingsSchema.default(ExecutorSettingsSchema.parse({})),
  roles: z.record(RoleNameSchema, RoleSchema).default({}),
});

export async function loadPaddockConfig(explicit?: string): Promise<PaddockConfig> {
  const file = findConfig(explicit);
  if (!file) return { executor: ExecutorSettingsSchema.parse({}), roles: {} };
  const { executor, roles, ...gateway } = await readConfigFile(file, PaddockFileSchema);
  // A role's files are where paddock.yaml says, whatever folder paddock runs in.
  const at = (path: string) => resolve(dirname(file), path);
  const resolved = Object.fromEntries(Object.entries(roles).map(([name, role]) => [name, { ...role, card: at(role.card), ...(role.system_prompt_file ? { system_prompt_file: at(role.system_prompt_file) } : {}) }]));
  return { file, gateway, executor, roles: resolved };
}

/** A role of the config by name, with its instructions read; an unknown name says which roles there are. */
export async function resolveRole(config: PaddockConfig, name: string): Promise<Role & { name: string; systemPrompt?: string }> {
  const role = config.roles[name];
  if (!role) {
    const known = Object.keys(config.roles);
    throw new PaddockError("role_unknown", `no role '${name}' in ${config.file ?? "the built-in setup (no paddock.yaml)"}`, "--role", known.length ? `roles there: ${known.join(", ")}` : "add a roles: section to paddock.yaml (see examples/paddock.yaml)");
  }
  let systemPrompt: string | undefined;
  if (role.system_prompt_file) {
    try {
      systemPrompt = await readFile(role.system_prompt_file, "utf8");
    } catch (err) {
      throw new PaddockError("role_prompt_missing", `cannot read ${role.system_prompt_file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, `roles.${name}.system_prompt_file`, "create the file, or fix the path (relative to paddock.yaml's folder)");
    }
  }
  return { ...role, name, ...(systemPrompt !== undefined ? { systemPrompt } : {}) };
}
