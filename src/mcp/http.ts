import type { IncomingMessage, ServerResponse } from "node:http";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { DaemonApi } from "../supervisor/index.js";
import { createMcpServer } from "./server.js";

/** The MCP server over Streamable HTTP, stateless: a server and transport per request (the daemon's state is in the daemon). */
export function mcpHttpHandler(api: DaemonApi): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const server = createMcpServer(api);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };
}
