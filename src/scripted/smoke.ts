import type { ScriptedTurn } from "./server.js";

/** The model name the built-in smoke-test model is served as. */
export const SMOKE_MODEL = "paddock-smoke-test";

/**
 * What the built-in model replays when no model server is configured: the
 * tool calls of a small real task (read a file, write one, run a command),
 * in OpenCode's or Claude Code's tool names, then the result contract. It proves the chain
 * (sandbox, agent, gateway, tools, workspace) on any machine; it does not think.
 */
export function smokeTestScript(): ScriptedTurn[] {
  const summary = "Read README.md, wrote SMOKE-TEST.md and counted lines in the sandbox (scripted smoke test, not a real model).";
  const note = "# paddock smoke test\n\nWritten by a coding agent in its paddock sandbox, driven by paddock's built-in scripted model.\n";
  const command = "wc -l README.md SMOKE-TEST.md";
  // OpenCode's tools are read/write/bash; Claude Code's Read/Write/Bash: the tools a request offers tell whose turn it is.
  const opencode = /(^|,)write(,|$)/;
  const claude = /(^|,)Write(,|$)/;
  return [
    { system: /title generator/i, content: "paddock smoke test", repeat: true },
    { tools: opencode, toolResults: 0, repeat: true, tool_calls: [{ name: "read", arguments: { filePath: "/workspace/README.md" } }] },
    { tools: opencode, toolResults: 1, repeat: true, tool_calls: [{ name: "write", arguments: { filePath: "/workspace/SMOKE-TEST.md", content: note } }] },
    { tools: opencode, toolResults: 2, repeat: true, tool_calls: [{ name: "bash", arguments: { command, description: "Count the lines of both files" } }] },
    { tools: claude, toolResults: 0, repeat: true, tool_calls: [{ name: "Read", arguments: { file_path: "/workspace/README.md" } }] },
    { tools: claude, toolResults: 1, repeat: true, tool_calls: [{ name: "Write", arguments: { file_path: "/workspace/SMOKE-TEST.md", content: note } }] },
    { tools: claude, toolResults: 2, repeat: true, tool_calls: [{ name: "Bash", arguments: { command, description: "Count the lines of both files" } }] },
    { content: `I read README.md, wrote SMOKE-TEST.md and counted the lines.\n\n\`\`\`json\n${JSON.stringify({ outcome: "COMPLETE", summary })}\n\`\`\`\n`, repeat: true },
  ];
}
