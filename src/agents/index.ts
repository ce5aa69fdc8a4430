import type { Card } from "../card/index.js";
import { claudeCode } from "./claude.js";
import { chooseModel } from "./model.js";
import { opencode } from "./opencode.js";
import type { Adapter, AgentLaunch, LaunchOptions } from "./types.js";

export { agentBinary } from "./binaries.js";
export { chooseModel } from "./model.js";
export { OPENCODE_SERVE_PORT, type AgentLaunch, type AgentMode, type LaunchOptions } from "./types.js";

/** A plain command: the card's argv; a task's prompt is in $PADDOCK_PROMPT, a role's instructions in $PADDOCK_SYSTEM_PROMPT. */
const command: Adapter = (card, options) => ({
  command: options.mode === "worker" ? ["sh", "-c", "exec sleep infinity"] : (card.command ?? ["sh"]),
  env: {
    ...(options.prompt === undefined ? {} : { PADDOCK_PROMPT: options.prompt }),
    ...(options.systemPrompt === undefined ? {} : { PADDOCK_SYSTEM_PROMPT: options.systemPrompt }),
  },
  tools: options.mode === "worker" ? ["sh", "sleep"] : [],
  homeFiles: {},
  model: chooseModel(card, options),
});

const ADAPTERS: Record<Card["kind"], Adapter> = { opencode, "claude-code": claudeCode, command };

/** How to run the card's agent in the given mode: argv, environment, tools and HOME files, all configured for paddock's gateway. */
export function agentLaunch(card: Card, options: LaunchOptions): AgentLaunch {
  return ADAPTERS[card.kind](card, options);
}
