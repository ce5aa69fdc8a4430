import type { Card } from "../card/index.js";
import type { ModelLimits } from "../gateway/index.js";
import type { AgentSetup } from "../sandbox/index.js";

/**
 * How the agent runs: `task` does one prompt headless and exits; `serve`
 * keeps it up in the daemon (OpenCode's server, which a terminal UI attaches
 * to; a command agent's own command); `worker` keeps its sandbox up for tasks
 * that come over A2A (a command agent then runs nothing but an idle process);
 * `interactive` is its terminal UI on the user's terminal.
 */
export type AgentMode = "task" | "serve" | "worker" | "interactive";

export interface LaunchOptions {
  mode: AgentMode;
  /** The task's prompt (mode `task`). */
  prompt?: string;
  /** Overrides the card's model. */
  model?: string;
  /** The gateway's models with their limits; the first is the default model. */
  models: ModelLimits[];
  /** The agent's gateway key (Claude Code records the key as approved). */
  key?: string;
  /** A role's instructions, added to the agent's own system prompt. */
  systemPrompt?: string;
  /** The result's JSON Schema, for an agent that enforces it on the wire (a card with contract: schema; Claude Code). */
  resultSchema?: Record<string, unknown>;
}

/** What the sandbox needs to run an agent (argv, environment, extra tools, HOME files), and the model it was configured with. */
export interface AgentLaunch extends AgentSetup {
  model?: string;
}

export type Adapter = (card: Card, options: LaunchOptions) => AgentLaunch;

/** The port OpenCode's server listens on inside the sandbox (its default). */
export const OPENCODE_SERVE_PORT = 4096;
