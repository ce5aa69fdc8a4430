import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";

/** A CA of the test's own and a certificate it signed for `names`, made by openssl (not by paddock's code). */
export interface TestPki {
  caCert: string;
  caFile: string;
  key: string;
  cert: string;
}

export function makePki(dir: string, names: string[], label = "origin"): TestPki {
  const at = (f: string) => join(dir, `${label}-${f}`);
  const ossl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  ossl("req", "-x509", ...ec, "-keyout", at("ca.key"), "-out", at("ca.crt"), "-days", "2", "-subj", `/CN=paddock test ${label} CA`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
  ossl("req", ...ec, "-keyout", at("leaf.key"), "-out", at("leaf.csr"), "-subj", `/CN=${names[0]}`);
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  writeFileSync(at("ext.cnf"), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  ossl("x509", "-req", "-in", at("leaf.csr"), "-CA", at("ca.crt"), "-CAkey", at("ca.key"), "-CAcreateserial", "-out", at("leaf.crt"), "-days", "2", "-extfile", at("ext.cnf"));
  return { caCert: readFileSync(at("ca.crt"), "utf8"), caFile: at("ca.crt"), key: readFileSync(at("leaf.key"), "utf8"), cert: readFileSync(at("leaf.crt"), "utf8") };
}

/** What an HTTPS origin was sent. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** An HTTPS origin on 127.0.0.1 that records each request and answers with it as JSON. */
export async function startHttpsOrigin(pki: TestPki): Promise<{ server: Server; port: number; seen: Seen[]; handshakes: () => number }> {
  const seen: Seen[] = [];
  let handshakes = 0;
  const server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const entry = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(entry);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(entry));
    });
  });
  server.on("secureConnection", () => handshakes++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, seen, handshakes: () => handshakes };
}

/**
 * git's smart HTTP protocol over HTTPS: the real git-http-backend (CGI) behind
 * a small HTTPS server that, like a forge, wants `Basic x-access-token:TOKEN`
 * on every request (so a push works only with the token).
 */
export async function startGitServer(pki: TestPki, projectRoot: string, token: () => string): Promise<{ server: Server; port: number; refused: () => number }> {
  let refused = 0;
  const backend = execFileSync("git", ["--exec-path"], { encoding: "utf8" }).trim() + "/git-http-backend";
  const server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    const expected = `Basic ${Buffer.from(`x-access-token:${token()}`).toString("base64")}`;
    if (req.headers.authorization !== expected) {
      refused++;
      return void res.writeHead(401, { "WWW-Authenticate": 'Basic realm="test forge"' }).end("token required\n");
    }
    const url = new URL(req.url!, "https://x");
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      REMOTE_USER: "x-access-token",
      REMOTE_ADDR: "127.0.0.1",
      REQUEST_METHOD: req.method,
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      ...(req.headers["content-length"] ? { CONTENT_LENGTH: req.headers["content-length"] } : {}),
      ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] } : {}),
      ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: req.headers["git-protocol"] as string } : {}),
    };
    const cgi = spawn(backend, [], { env, stdio: ["pipe", "pipe", "inherit"] });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headed = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headed) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      headed = true;
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.subarray(0, end).toString().split("\r\n")) {
        const [name, ...rest] = line.split(":");
        if (name!.toLowerCase() === "status") status = Number.parseInt(rest.join(":").trim(), 10);
        else headers[name!] = rest.join(":").trim();
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on("end", () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, refused: () => refused };
}

/**
 * A CONNECT through the proxy (an agent's unix socket, or the standalone proxy's TCP port with `extraHead` naming the
 * agent); resolves with the raw socket once the proxy answered 200, or rejects with its answer.
 */
export function connectThrough(proxy: string | number, authority: string, extraHead = ""): Promise<import("node:net").Socket> {
  return new Promise((resolve, reject) => {
    const socket = typeof proxy === "number" ? connect(proxy, "127.0.0.1") : connect(proxy);
    let answer = "";
    const onData = (d: Buffer) => {
      answer += d.toString("latin1");
      const end = answer.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      if (/^HTTP\/1\.1 200 /.test(answer)) resolve(socket);
      else reject(new Error(answer));
    };
    socket.on("data", onData);
    socket.on("error", reject);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${extraHead}\r\n`);
  });
}

/** TLS through a CONNECT tunnel, trusting only `ca`; resolves once the handshake is done. */
export async function tlsThrough(proxy: string | number, host: string, port: number, ca: string, extraHead = ""): Promise<TLSSocket> {
  const raw = await connectThrough(proxy, `${host}:${port}`, extraHead);
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({ socket: raw, servername: host, ca: [ca], ALPNProtocols: ["http/1.1"] }, () => resolve(secure));
    secure.once("error", reject);
  });
}

/** One HTTP/1.1 request on an open (TLS) connection; the whole answer as text, once the server closes. */
export function requestOn(socket: TLSSocket, head: string, body = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    socket.on("data", (d: Buffer) => (out += d.toString()));
    socket.on("end", () => resolve(out));
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
    socket.write(`${head}\r\n${body}`);
  });
}
