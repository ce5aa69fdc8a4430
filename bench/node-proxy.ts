import http from "node:http";

/**
 * The floor of any proxy written on Node's HTTP stack, in a process of its own:
 * it forwards with a kept-alive pool and pipes, and checks nothing. An
 * absolute-form request (`GET http://host/...`) is forwarded there, as a forward
 * proxy does; any other goes to UPSTREAM (a base URL), as a reverse proxy does.
 * The benchmarks set paddock's gateway and egress proxy beside it, so what the
 * platform costs is told apart from what paddock's checks cost.
 */
const upstream = process.env.UPSTREAM ? new URL(process.env.UPSTREAM) : undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authorization", "proxy-connection", "transfer-encoding"]);

const server = http.createServer((req, res) => {
  const target = req.url?.startsWith("http://") ? new URL(req.url) : upstream ? new URL(req.url ?? "/", upstream) : undefined;
  if (!target) return void res.writeHead(400).end("no upstream for an origin-form request\n");
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
  const forwarded = http.request({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name))));
    answer.pipe(res);
  });
  forwarded.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
  req.pipe(forwarded);
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
