import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { PaddockError } from "../errors/index.js";
import { ExecutorSettingsSchema, type ExecutorSettings } from "../executor/index.js";
import { parseGatewayConfig, type GatewayConfig } from "../gateway/index.js";

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

export function loadPaddockConfig(explicit?: string): PaddockConfig {
  const file = findConfig(explicit);
  if (!file) return { executor: ExecutorSettingsSchema.parse({}) };
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new PaddockError("config_unreadable", `cannot read ${file}: ${(err as Error).message}`, file);
  }
  const { executor, ...gateway } = (raw ?? {}) as Record<string, unknown>;
  const settings = ExecutorSettingsSchema.safeParse(executor ?? {});
  if (!settings.success) {
    throw new PaddockError("config_invalid", settings.error.issues.map((i) => `${file}: executor.${i.path.join(".")}: ${i.message}`).join("\n"), file);
  }
  return { file, gateway: parseGatewayConfig(gateway, file), executor: settings.data };
}
