import type { Adapter } from "./types.js";
import { OPENCODE_SERVE_PORT } from "./types.js";
import { toolPathInside } from "../sandbox/index.js";
import { agentBinary } from "./binaries.js";
import { chooseModel } from "./model.js";

/** The provider id paddock's gateway has in OpenCode's config: models are "paddock/NAME". */
const PROVIDER = "paddock";

/**
 * OpenCode, configured in its HOME (~/.config/opencode/opencode.json) to know
 * one provider: the gateway, through the OpenAI-compatible AI SDK package, with
 * the agent's key read from the environment, each model's window and output
 * limit from the gateway's discovery, and the card's permissions. The project's
 * AGENTS.md and opencode.json are read by OpenCode itself, as always.
 */
export const opencode: Adapter = (card, options) => {
  const binary = agentBinary("opencode");
  const inside = toolPathInside(binary);
  const model = chooseModel(card, options);
  const small = card.small_model ?? model;
  // OpenCode keeps limit.output free in the window and compacts the conversation beyond the rest: a quarter of the window at most keeps room for the work.
  const models = Object.fromEntries(
    options.models.map((m) => [m.model, { name: m.model, ...(m.context ? { limit: { context: m.context, output: Math.min(m.output ?? 8192, Math.floor(m.context / 4)) } } : {}) }]),
  );
  const config = {
    $schema: "https://opencode.ai/config.json",
    provider: { [PROVIDER]: { npm: "@ai-sdk/openai-compatible", name: "paddock gateway", options: { baseURL: "{env:OPENAI_BASE_URL}", apiKey: "{env:OPENAI_API_KEY}" }, models } },
    enabled_providers: [PROVIDER],
    ...(model ? { model: `${PROVIDER}/${model}` } : {}),
    ...(small ? { small_model: `${PROVIDER}/${small}` } : {}),
    permission: card.permission,
    autoupdate: false,
    share: "disabled",
  };
  const command =
    options.mode === "task"
      ? [inside, "run", "--print-logs", "--log-level", "WARN", options.prompt ?? ""]
      : options.mode === "serve" || options.mode === "worker"
        ? [inside, "serve", "--hostname", "127.0.0.1", "--port", String(OPENCODE_SERVE_PORT)]
        : [inside];
  return {
    command,
    model,
    tools: [binary],
    homeFiles: {
      ".config/opencode/opencode.json": `${JSON.stringify(config, null, 2)}\n`,
      // OpenCode installs its plugin package into each config folder on every start, with npm's own installer, which reads
      // this folder's .npmrc: offline, it makes no request (and downloads nothing into HOME even where a card allows the registry).
      ".config/opencode/.npmrc": "offline=true\n",
      // OpenCode's global rules, read into its system prompt: a role's instructions, written (empty without one) on
      // every launch so that no earlier role's stay in the agent's HOME.
      ".config/opencode/AGENTS.md": options.systemPrompt ?? "",
    },
    // Nothing OpenCode would fetch on its own is reachable (or wanted): model catalogues, updates, LSP servers, plugins.
    env: {
      OPENCODE_DISABLE_MODELS_FETCH: "1",
      OPENCODE_DISABLE_AUTOUPDATE: "1",
      OPENCODE_DISABLE_SHARE: "1",
      OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
      OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
      OPENCODE_DISABLE_CLAUDE_CODE: "1",
    },
  };
};
