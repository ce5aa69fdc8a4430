export { createMcpServer } from "./server.js";
export { mcpHttpHandler } from "./http.js";
