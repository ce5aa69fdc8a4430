import type { Permission } from "../card/index.js";
import { toolPathInside } from "../sandbox/index.js";
import { agentBinary } from "./binaries.js";
import { chooseModel } from "./model.js";
import type { Adapter } from "./types.js";

/** Claude Code's tool names for each of the card's permissions. */
const TOOLS: Record<keyof Permission, string[]> = { edit: ["Edit", "Write", "MultiEdit", "NotebookEdit"], bash: ["Bash"], webfetch: ["WebFetch", "WebSearch"] };

/**
 * Claude Code against the gateway's Anthropic endpoint: every model alias it
 * uses is the card's model, telemetry and non-essential traffic are off, and
 * the first-run state (onboarding done, the workspace trusted, the key
 * approved) is in ~/.claude.json so it starts headless.
 */
export const claudeCode: Adapter = (card, options) => {
  const binary = agentBinary("claude-code");
  const inside = toolPathInside(binary);
  const model = chooseModel(card, options);
  const rules = (action: Permission[keyof Permission]) => (Object.keys(TOOLS) as Array<keyof Permission>).filter((p) => card.permission[p] === action).flatMap((p) => TOOLS[p]);
  const unrestricted = rules("ask").length === 0 && rules("deny").length === 0;
  const state = {
    hasCompletedOnboarding: true,
    numStartups: 1,
    installMethod: "npm",
    autoUpdates: false,
    bypassPermissionsModeAccepted: true,
    ...(options.key ? { customApiKeyResponses: { approved: [options.key.slice(-20)], rejected: [] } } : {}),
    projects: { "/workspace": { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, allowedTools: [] } },
  };
  const settings = { permissions: { allow: rules("allow"), deny: rules("deny") }, includeCoAuthoredBy: false, cleanupPeriodDays: 30 };
  // With a result schema: Claude Code's StructuredOutput tool, checked against it, and its progress as JSON lines.
  const output = options.resultSchema ? ["--output-format", "stream-json", "--verbose", "--json-schema", JSON.stringify(options.resultSchema)] : ["--output-format", "text"];
  const headless = [...output, "--permission-mode", unrestricted ? "bypassPermissions" : "default"];
  return {
    command:
      options.mode === "task"
        ? [inside, "-p", options.prompt ?? "", ...headless, ...(options.systemPrompt ? ["--append-system-prompt", options.systemPrompt] : [])]
        : options.mode === "serve" || options.mode === "worker"
          ? // Claude Code has no server: its agent waits in its sandbox, where `paddock attach` starts the UI and tasks run.
            ["sh", "-c", "exec sleep infinity"]
          : [inside],
    model,
    // Its Bash tool wants bash (or zsh), named by SHELL.
    tools: [binary, "sh", "bash", "sleep"],
    homeFiles: { ".claude.json": `${JSON.stringify(state, null, 2)}\n`, ".claude/settings.json": `${JSON.stringify(settings, null, 2)}\n` },
    env: {
      ...(model ? { ANTHROPIC_MODEL: model, ANTHROPIC_SMALL_FAST_MODEL: model, ANTHROPIC_DEFAULT_OPUS_MODEL: model, ANTHROPIC_DEFAULT_SONNET_MODEL: model, ANTHROPIC_DEFAULT_HAIKU_MODEL: model } : {}),
      SHELL: "/bin/bash",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_BUG_COMMAND: "1",
    },
  };
};
