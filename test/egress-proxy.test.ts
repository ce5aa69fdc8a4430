import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { eventually, get, raw, startEcho, startOrigin, startProxy, type ProxyFixture } from "./egress-helpers.js";

describe("egress proxy: allowed traffic", () => {
  let fx: ProxyFixture;
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let sock: string;
  before(async () => {
    origin = await startOrigin();
    echo = await startEcho();
    fx = await startProxy({ "origin.test": ["127.0.0.1"] });
    sock = await fx.proxy.addAgent("alpha", [`origin.test:${origin.port}`, `127.0.0.1:${origin.port}`, `127.0.0.1:${echo.port}`], fx.socketFor("alpha"));
  });
  after(async () => {
    await fx.close();
    origin.server.close();
    echo.close();
  });

  it("forwards an absolute-form GET to an allowed origin, by address and by name", async () => {
    const byAddress = await raw(sock, get(`http://127.0.0.1:${origin.port}/a?x=1`));
    assert.match(byAddress, /^HTTP\/1\.1 200 OK/);
    assert.match(byAddress, /origin saw GET \/a\?x=1/);
    const byName = await raw(sock, get(`http://origin.test:${origin.port}/b`));
    assert.match(byName, /origin saw GET \/b/);
    assert.ok(origin.hits.includes(`GET /b host=origin.test:${origin.port}`), "the origin must see the name the agent asked for");
  });

  it("forwards a request body and strips hop-by-hop headers", async () => {
    const body = "hello=world";
    const res = await raw(sock, `POST http://127.0.0.1:${origin.port}/p HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nContent-Length: ${body.length}\r\nProxy-Authorization: Basic c2VjcmV0\r\nConnection: close\r\n\r\n${body}`);
    assert.match(res, /origin saw POST \/p body=hello=world/);
  });

  it("opens a CONNECT tunnel to an allowed port", async () => {
    const res = await raw(sock, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\n\r\nping-through-tunnel`, 500);
    assert.match(res, /^HTTP\/1\.1 200 Connection Established\r\n\r\nping-through-tunnel$/);
  });

  it("records every decision, with bytes, in the store, and counts them in metrics", async () => {
    // A tunnel is recorded when it closes, a moment after the client hangs up.
    const log = await eventually(async () => {
      await fx.audit.flush();
      const rows = await fx.store.egressLog({ agentId: "alpha" });
      return rows.some((r) => r.method === "CONNECT") ? rows : undefined;
    });
    const allowed = log.filter((r) => r.decision === "allowed");
    assert.ok(allowed.length >= 4, JSON.stringify(log));
    const tunnel = allowed.find((r) => r.method === "CONNECT")!;
    assert.equal(tunnel.bytes_up, "ping-through-tunnel".length);
    assert.equal(tunnel.bytes_down, "ping-through-tunnel".length);
    assert.equal(tunnel.address, "127.0.0.1");
    assert.equal(tunnel.rule, `127.0.0.1:${echo.port}`);
    const metrics = await fx.metrics.text();
    assert.match(metrics, /paddock_egress_decisions_total\{agent="alpha",kind="http",decision="allowed",reason="allowed"\} [3-9]/);
  });

  it("applies an allowlist change to a running agent at once", async () => {
    const before = await raw(sock, `CONNECT 127.0.0.1:${origin.port + 0} HTTP/1.1\r\n\r\n`, 300);
    assert.match(before, /^HTTP\/1\.1 200/);
    fx.proxy.setAllowlist("alpha", [`127.0.0.1:${echo.port}`]);
    const afterChange = await raw(sock, get(`http://127.0.0.1:${origin.port}/gone`));
    assert.match(afterChange, /^HTTP\/1\.1 403 Forbidden/);
    assert.match(afterChange, /not_allowed/);
    fx.proxy.setAllowlist("alpha", [`origin.test:${origin.port}`, `127.0.0.1:${origin.port}`, `127.0.0.1:${echo.port}`]);
  });
});


describe("egress proxy: a CONNECT tunnel relays whole streams", () => {
  let fx: ProxyFixture;
  let sock: string;
  const servers: Server[] = [];
  const payload = randomBytes(8 * 1024 * 1024 + 12_345);
  const listen = async (onConnection: (socket: import("node:net").Socket) => void) => {
    const server = createServer(onConnection);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as AddressInfo).port;
  };
  let banner = 0;
  let bannerAndBye = 0;
  let bulk = 0;
  before(async () => {
    banner = await listen((s) => (s.write("220 origin speaks first\r\n"), s.on("data", (d) => s.write(d))));
    bannerAndBye = await listen((s) => s.end("221 and hangs up\r\n"));
    // Sends the payload once the client has said how it wants it, then closes.
    bulk = await listen((s) => s.once("data", () => s.end(payload)));
    fx = await startProxy();
    sock = await fx.proxy.addAgent("bravo", [banner, bannerAndBye, bulk].map((p) => `127.0.0.1:${p}`), fx.socketFor("bravo"));
  });
  after(async () => {
    await fx.close();
    for (const server of servers) server.close();
  });

  it("passes on what an origin says before the client has sent anything, and its hang-up", async () => {
    const first = await raw(sock, `CONNECT 127.0.0.1:${banner} HTTP/1.1\r\n\r\n`, 500);
    assert.equal(first, "HTTP/1.1 200 Connection Established\r\n\r\n220 origin speaks first\r\n");
    const closed = await raw(sock, `CONNECT 127.0.0.1:${bannerAndBye} HTTP/1.1\r\n\r\n`, 3000);
    assert.equal(closed, "HTTP/1.1 200 Connection Established\r\n\r\n221 and hangs up\r\n", "the tunnel must end when the origin does, with nothing lost");
  });

  it("relays megabytes to a client that reads slowly, byte for byte, and audits the exact counts", async () => {
    const received = await new Promise<Buffer>((resolve, reject) => {
      const client = connect(sock);
      const chunks: Buffer[] = [];
      let head = "";
      client.on("data", (d: Buffer) => {
        if (!head.endsWith("\r\n\r\n")) {
          const text = d.toString("latin1");
          const end = text.indexOf("\r\n\r\n");
          head += text.slice(0, end + 4);
          d = d.subarray(end + 4);
        }
        chunks.push(d);
        // A slow reader: the proxy must hold the origin back, not buffer the payload.
        client.pause();
        setTimeout(() => client.resume(), 1);
      });
      client.on("end", () => resolve(Buffer.concat(chunks)));
      client.on("error", reject);
      client.write(`CONNECT 127.0.0.1:${bulk} HTTP/1.1\r\n\r\nsend it`);
    });
    assert.equal(received.length, payload.length);
    assert.equal(createHash("sha256").update(received).digest("hex"), createHash("sha256").update(payload).digest("hex"));
    const row = await eventually(async () => {
      await fx.audit.flush();
      return (await fx.store.egressLog({ agentId: "bravo" })).find((r) => r.method === "CONNECT" && r.port === bulk);
    });
    assert.equal(row.bytes_down, payload.length);
    assert.equal(row.bytes_up, "send it".length);
  });
});
describe("egress proxy: attacks are denied for the right reason, and logged", () => {
  let fx: ProxyFixture;
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let sock: string;
  const reasons: string[] = [];
  before(async () => {
    origin = await startOrigin();
    fx = await startProxy({ "rebind.test": ["93.184.215.14", "127.0.0.1"], "api.example.com": ["127.0.0.1"], "loopy.test": ["127.0.0.1"] }, { headersTimeoutMs: 400, maxConnectionsPerAgent: 8 });
    sock = await fx.proxy.addAgent("mallory", ["*", "*.example.com", "example.com", `*.example.com:${origin.port}`, "loopy.test", "rebind.test"], fx.socketFor("mallory"));
  });
  after(async () => {
    await fx.close();
    origin.server.close();
  });

  async function denied(request: string, status: number, reason: string, pattern?: RegExp) {
    const res = await raw(sock, request);
    assert.match(res, new RegExp(`^HTTP/1\\.1 ${status} `), `${JSON.stringify(request)} got ${res.slice(0, 200)}`);
    assert.match(res, new RegExp(`X-Paddock-Deny-Reason: ${reason}`));
    if (pattern) assert.match(res, pattern);
    reasons.push(reason);
    assert.equal(origin.hits.length, 0, "the origin was reached");
    return res;
  }

  it("private, loopback, link-local and metadata IP literals", async () => {
    for (const ip of ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1"]) {
      await denied(get(`http://${ip}/`), 403, "blocked_address", new RegExp(`resolves to ${ip.replace(/\./g, "\\.")}`));
    }
  });

  it("the same loopback address in decimal, octal, hex and short forms", async () => {
    for (const form of ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "017700000001"]) {
      await denied(get(`http://${form}/`, form), 403, "blocked_address", /resolves to 127\.0\.0\.1, a loopback/);
    }
    await denied(`CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n`, 403, "blocked_address", /loopback/);
  });

  it("[::1], ::ffff:127.0.0.1 and unique-local IPv6", async () => {
    await denied(get("http://[::1]/"), 403, "blocked_address", /loopback/);
    await denied(get("http://[::ffff:127.0.0.1]/"), 403, "blocked_address", /loopback 127\.0\.0\.0\/8/);
    await denied(`CONNECT [::ffff:7f00:1]:443 HTTP/1.1\r\n\r\n`, 403, "blocked_address", /loopback/);
    await denied(`CONNECT [fd00:ec2::254]:443 HTTP/1.1\r\n\r\n`, 403, "blocked_address", /unique local/);
  });

  it("a name that resolves to loopback, and one with a loopback address among public ones (rebinding)", async () => {
    await denied(get("http://loopy.test/"), 403, "blocked_address", /loopy\.test resolves to 127\.0\.0\.1/);
    await denied(get("http://rebind.test/"), 403, "blocked_address", /rebind\.test resolves to 127\.0\.0\.1/);
  });

  it("a wildcard does not match the bare domain's lookalikes, nor another port", async () => {
    fx.proxy.setAllowlist("mallory", ["*.example.com"]);
    try {
      await denied(get("http://evilexample.com/"), 403, "not_allowed", /add "evilexample\.com:80"/);
      await denied(get("http://example.com.evil.net/"), 403, "not_allowed");
      await denied(get("http://example.com/"), 403, "not_allowed");
      await denied(`CONNECT api.example.com:22 HTTP/1.1\r\n\r\n`, 403, "not_allowed", /api\.example\.com:22/);
      // The wildcard does match a subdomain on its port; then the SSRF guard still refuses the loopback it resolves to.
      await denied(`CONNECT api.example.com:443 HTTP/1.1\r\n\r\n`, 403, "blocked_address");
    } finally {
      fx.proxy.setAllowlist("mallory", ["*", "*.example.com", "example.com", `*.example.com:${origin.port}`, "loopy.test", "rebind.test"]);
    }
  });

  it("CONNECT to a port the rule does not allow", async () => {
    fx.proxy.setAllowlist("mallory", ["example.com"]);
    try {
      await denied(`CONNECT example.com:22 HTTP/1.1\r\n\r\n`, 403, "not_allowed", /example\.com:22/);
      await denied(`CONNECT example.com:8443 HTTP/1.1\r\n\r\n`, 403, "not_allowed");
    } finally {
      fx.proxy.setAllowlist("mallory", ["*", "*.example.com", "example.com", `*.example.com:${origin.port}`, "loopy.test", "rebind.test"]);
    }
  });

  it("an absolute URI whose Host header names another host", async () => {
    await denied(get("http://example.com/", "169.254.169.254"), 400, "host_mismatch");
    await denied(get("http://example.com/", "example.com:8080"), 400, "host_mismatch");
  });

  it("request smuggling with both Content-Length and Transfer-Encoding", async () => {
    const smuggle = `POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://169.254.169.254/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n`;
    await denied(smuggle, 400, "ambiguous_length", /smuggle/);
  });

  it("oversized headers and too many headers", async () => {
    await denied(get("http://example.com/", "example.com", `X-Big: ${"a".repeat(20_000)}\r\n`), 431, "headers_too_large");
    const many = Array.from({ length: 150 }, (_, i) => `X-H${i}: v\r\n`).join("");
    await denied(get("http://example.com/", "example.com", many), 431, "too_many_headers");
  });

  it("a slow client that never finishes its headers is cut off", async () => {
    const started = Date.now();
    const res = await raw(sock, "GET http://example.com/ HTTP/1.1\r\nHost: exa", 5000);
    assert.match(res, /^HTTP\/1\.1 408 /);
    assert.match(res, /headers_timeout/);
    assert.ok(Date.now() - started < 2000, "the slow client held the connection too long");
    reasons.push("headers_timeout");
  });

  it("a connection that ended is never reported as a slow client", async () => {
    fx.proxy.setAllowlist("mallory", [`127.0.0.1:${origin.port}`]);
    try {
      const res = await raw(sock, get(`http://127.0.0.1:${origin.port}/quick`));
      assert.match(res, /^HTTP\/1\.1 200/);
      origin.hits.length = 0;
      await new Promise((resolve) => setTimeout(resolve, 700));
      await fx.audit.flush();
      const log = await fx.store.egressLog({ agentId: "mallory" });
      const after = log.slice(log.findIndex((r) => r.decision === "allowed") + 1);
      assert.deepEqual(after.filter((r) => r.reason === "headers_timeout"), [], "a closed connection was audited as a slow client");
    } finally {
      fx.proxy.setAllowlist("mallory", ["*", "*.example.com", "example.com", `*.example.com:${origin.port}`, "loopy.test", "rebind.test"]);
    }
  });

  it("an origin-form request, as to a web server", async () => {
    await denied("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 400, "origin_form");
  });

  it("more connections than an agent may hold", async () => {
    const held = await Promise.all(Array.from({ length: 8 }, () => new Promise<ReturnType<typeof connect>>((resolve) => {
      const s = connect(sock, () => resolve(s));
    })));
    try {
      await denied(get("http://example.com/"), 429, "too_many_connections");
    } finally {
      for (const s of held) s.destroy();
    }
  });

  it("an agent socket that no longer belongs to a running agent", async () => {
    const victimSocket = await fx.proxy.addAgent("short-lived", ["*"], fx.socketFor("short-lived"));
    const open = connect(victimSocket);
    await new Promise((resolve) => open.once("connect", resolve));
    const closed = new Promise((resolve) => open.once("close", resolve));
    await fx.proxy.removeAgent("short-lived");
    await closed;
    await assert.rejects(raw(victimSocket, get("http://example.com/")), /ENOENT|ECONNREFUSED/);
  });

  it("logged every denial with its reason", async () => {
    await fx.audit.flush();
    const log = await fx.store.egressLog({ agentId: "mallory", deniedOnly: true });
    const logged = new Set(log.map((r) => r.reason));
    for (const reason of new Set(reasons)) assert.ok(logged.has(reason), `no audit record for ${reason}`);
    assert.ok(log.every((r) => r.decision === "denied"));
    const metadata = log.find((r) => r.host === "169.254.169.254")!;
    assert.equal(metadata.reason, "blocked_address");
    assert.equal(metadata.address, "169.254.169.254");
  });
});

describe("egress proxy: standalone TCP listener", () => {
  it("identifies agents by Proxy-Authorization and refuses without it", async () => {
    const origin = await startOrigin();
    const fx = await startProxy({}, {}, (id, token) => id === "kube-agent" && token === "s3cret");
    try {
      await fx.proxy.addAgent("kube-agent", [`127.0.0.1:${origin.port}`], fx.socketFor("kube-agent"));
      const { port } = await fx.proxy.listenTcp(0, "127.0.0.1");
      const anonymous = await raw(port, get(`http://127.0.0.1:${origin.port}/`));
      assert.match(anonymous, /^HTTP\/1\.1 407 /);
      assert.match(anonymous, /Proxy-Authenticate: Basic realm="paddock"/);
      const wrong = await raw(port, get(`http://127.0.0.1:${origin.port}/`, undefined, `Proxy-Authorization: Basic ${Buffer.from("kube-agent:guess").toString("base64")}\r\n`));
      assert.match(wrong, /proxy_auth_failed/);
      const right = await raw(port, get(`http://127.0.0.1:${origin.port}/ok`, undefined, `Proxy-Authorization: Basic ${Buffer.from("kube-agent:s3cret").toString("base64")}\r\n`));
      assert.match(right, /origin saw GET \/ok/);
      assert.deepEqual(origin.hits, [`GET /ok host=127.0.0.1:${origin.port}`], "the credentials must not reach the origin");
    } finally {
      await fx.close();
      origin.server.close();
    }
  });
});
