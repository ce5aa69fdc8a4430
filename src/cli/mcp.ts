import type { Command } from "commander";
import { paddockPaths } from "../paths/index.js";
import { report } from "./fail.js";

export function registerMcp(program: Command): void {
  program
    .command("mcp")
    .description("paddock's MCP server on stdio (tools: spawn_worker, send_task, get_worker_status, terminate_worker, list_workers), for OpenCode, Claude Code or any MCP client; needs the daemon with a gateway")
    .addHelpText("after", "\nThe same server is on the daemon over Streamable HTTP at /mcp (with --listen: http://HOST:PORT/mcp and the daemon's token).")
    .action(async () => {
      try {
        const { StdioServerTransport } = await import("@modelcontextprotocol/sdk/server/stdio.js");
        const { createMcpServer } = await import("../mcp/index.js");
        const { daemonApi } = await import("../supervisor/index.js");
        await createMcpServer(daemonApi(paddockPaths())).connect(new StdioServerTransport());
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}
