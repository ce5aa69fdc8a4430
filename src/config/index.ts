import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
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
}

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
const PaddockFileSchema = GatewayConfigSchema.extend({ executor: ExecutorSettingsSchema.default(ExecutorSettingsSchema.parse({})) });

export async function loadPaddockConfig(explicit?: string): Promise<PaddockConfig> {
  const file = findConfig(explicit);
  if (!file) return { executor: ExecutorSettingsSchema.parse({}) };
  const { executor, ...gateway } = await readConfigFile(file, PaddockFileSchema);
  return { file, gateway, executor };
}
