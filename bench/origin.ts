import { createServer } from "node:http";

/**
 * The origin every proxy in a benchmark forwards to, in a process of its own:
 * a small fixed response, or /bulk/N: N bytes streamed from a 1 MiB buffer.
 */
const body = Buffer.from("x".repeat(Number(process.env.BODY_BYTES ?? 64)));
const chunk = Buffer.alloc(1 << 20, "x");
const server = createServer((req, res) => {
  const bulk = /^\/bulk\/(\d+)$/.exec(req.url ?? "");
  if (!bulk) {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
    res.end(body);
    return;
  }
  let left = Number(bulk[1]);
  res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": left });
  const pump = () => {
    while (left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) return void res.once("drain", pump);
    }
    res.end();
  };
  pump();
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
