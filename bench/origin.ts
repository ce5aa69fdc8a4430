import { createServer } from "node:http";

/** The origin every proxy in a benchmark forwards to: a small fixed response, in a process of its own. */
const body = Buffer.from("x".repeat(Number(process.env.BODY_BYTES ?? 64)));
const server = createServer((_req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
