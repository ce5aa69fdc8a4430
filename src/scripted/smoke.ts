import type { ScriptedTurn } from "./server.js";

/** The model name the built-in smoke-test model is served as. */
export const SMOKE_MODEL = "paddock-smoke-test";

/**
 * What the built-in model replays when no model server is configured: the
 * tool calls of a small real task (read a file, write one, run a command),
 * in OpenCode's tool names, then the result contract. It proves the chain
 * (sandbox, agent, gateway, tools, workspace) on any machine; it does not think.
 */
export function smokeTestScript(): ScriptedTurn[] {
  const summary = "Read README.md, wrote SMOKE-TEST.md with its line count, and ran wc in the sandbox (scripted smoke test, not a real model).";
  return [
    { system: /title/i, content: "paddock smoke test", repeat: true },
    { tool_calls: [{ name: "read", arguments: { filePath: "/workspace/README.md" } }] },
    {
      tool_calls: [
        {
          name: "write",
          arguments: {
            filePath: "/workspace/SMOKE-TEST.md",
            content: "# paddock smoke test\n\nWritten by OpenCode in its paddock sandbox, driven by paddock's built-in scripted model.\n",
          },
        },
      ],
    },
    { tool_calls: [{ name: "bash", arguments: { command: "wc -l README.md SMOKE-TEST.md", description: "Count the lines of both files" } }] },
    { content: `I read README.md, wrote SMOKE-TEST.md and counted the lines.\n\n\`\`\`json\n${JSON.stringify({ outcome: "COMPLETE", summary })}\n\`\`\`\n`, repeat: true },
  ];
}
