import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";
import { after, before, describe, it } from "node:test";
import { paddock, scratch, writeCard } from "./helpers.js";

/** Serves a folder as static files: enough for git's dumb HTTP protocol. */
async function serveFolder(root: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url!, "http://x").pathname)));
    if (!path.startsWith(root) || !existsSync(path) || !statSync(path).isFile()) return void res.writeHead(404).end("not found\n");
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe("egress proxy wired into the sandbox: the agent's one way out", () => {
  const { dir, env } = scratch();
  const workspace = join(dir, "ws");
  let origin: { server: Server; port: number };
  let card: string;

  before(async () => {
    mkdirSync(workspace);
    const served = join(dir, "served");
    mkdirSync(served);
    const git = (...args: string[]) => execFileSync("git", args, { cwd: served, stdio: "pipe" });
    git("init", "-q", "--bare", "repo.git");
    const work = join(dir, "work");
    execFileSync("git", ["clone", "-q", join(served, "repo.git"), work], { stdio: "pipe" });
    execFileSync("sh", ["-c", "echo 'from the origin' > README && git add README && git -c user.email=a@b -c user.name=a commit -qm first && git push -q origin HEAD"], { cwd: work, stdio: "pipe" });
    git("--git-dir=repo.git", "update-server-info");
    execFileSync("sh", ["-c", "echo hello > hello.txt"], { cwd: served });
    origin = await serveFolder(served);
    card = writeCard(dir, "net.json", {
      agent_id: "netty",
      workspace,
      kind: "command",
      command: ["true"],
      tools: ["sh", "coreutils", "curl", "git"],
      allowed_hosts: [`127.0.0.1:${origin.port}`, "example.com"],
    });
  });
  after(() => origin.server.close());

  const inside = (script: string) => paddock(["exec", "--card", card, "--", "sh", "-c", script], { env });

  it("curl reaches an allowed origin through the proxy, by plain HTTP and through a CONNECT tunnel", async () => {
    // NO_PROXY normally sends 127.0.0.1 straight to the sandbox's own loopback (where the gateway will be); here the origin is on the host's.
    const r = await inside(`export NO_PROXY= no_proxy=; curl -sS http://127.0.0.1:${origin.port}/hello.txt && curl -sS -p http://127.0.0.1:${origin.port}/hello.txt`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hello\nhello\n");
  });

  it("git clones from an allowed origin", async () => {
    const r = await inside(`export NO_PROXY= no_proxy=; git clone -q http://127.0.0.1:${origin.port}/repo.git cloned && cat cloned/README`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "from the origin\n");
    assert.equal(readFileSync(join(workspace, "cloned", "README"), "utf8"), "from the origin\n");
  });

  it("a host that is not allowed gets the proxy's 403, naming the rule to add", async () => {
    const r = await inside("curl -sS -w '%{http_code}\\n' http://not-allowed.example.net/; curl -sS https://not-allowed.example.net/ 2>&1; true");
    assert.match(r.stdout, /refused GET http:\/\/not-allowed\.example\.net\/ for agent "netty"/);
    assert.match(r.stdout, /to allow it, add "not-allowed\.example\.net:80" to allowed_hosts/);
    assert.match(r.stdout, /^403$/m);
    assert.match(r.stdout, /CONNECT tunnel failed, response 403|Received HTTP code 403 from proxy after CONNECT/);
  });

  it("bypassing the proxy leads nowhere", async () => {
    const r = await inside(`curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:${origin.port}/hello.txt; curl -sS --noproxy '*' --max-time 5 http://example.com/`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /curl: \(7\) Failed to connect to 127\.0\.0\.1 port \d+.*(Connection refused|Couldn.t connect to server)/);
    assert.match(r.stderr, /Could not resolve host: example\.com/);
    assert.ok(!r.stdout.includes("hello"));
  });

  it("from inside: loopback and metadata addresses in any spelling, and CONNECT to another port, are refused", async () => {
    const open = writeCard(dir, "open.json", { agent_id: "opener", workspace, kind: "command", command: ["true"], tools: ["sh", "curl"], allowed_hosts: ["*"] });
    const targets = ["http://2130706433/", "http://0x7f.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"];
    // Without NO_PROXY, so that curl hands even loopback URLs to the proxy (with it, they hit the sandbox's empty loopback).
    const script = ["export NO_PROXY= no_proxy=", ...targets.map((t) => `curl -sS -o /dev/null -w '%{http_code} ${t}\n' '${t}'`), "curl -sS -p http://example.com:22/ 2>&1"].join("; ");
    const r = await paddock(["exec", "--card", open, "--", "sh", "-c", script], { env });
    for (const t of targets) assert.match(r.stdout, new RegExp(`^403 ${t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
    assert.match(r.stdout, /CONNECT tunnel failed, response 403|Received HTTP code 403 from proxy after CONNECT/);
    const log = await paddock(["egress", "log", "--agent", "opener", "--denied", "--json"], { env });
    const reasons = log.stdout.trim().split("\n").map((l) => JSON.parse(l) as { host: string; reason: string });
    assert.deepEqual(reasons.filter((x) => x.reason === "blocked_address").map((x) => x.host).sort(), ["10.0.0.1", "127.0.0.1", "127.0.0.1", "169.254.169.254", "::1", "::ffff:7f00:1"]);
    assert.ok(reasons.some((x) => x.host === "example.com" && x.reason === "not_allowed"));
  });

  it("every decision is in the audit, readable with paddock egress log", async () => {
    const all = await paddock(["egress", "log", "--agent", "netty", "--json"], { env });
    assert.equal(all.code, 0, all.stderr);
    const rows = all.stdout.trim().split("\n").map((l) => JSON.parse(l) as { decision: string; host: string; method: string; reason: string; bytes_down: number });
    assert.ok(rows.some((r) => r.decision === "allowed" && r.method === "GET" && r.host === "127.0.0.1" && r.bytes_down > 0));
    assert.ok(rows.some((r) => r.decision === "allowed" && r.method === "CONNECT"));
    assert.ok(rows.some((r) => r.decision === "denied" && r.host === "not-allowed.example.net" && r.reason === "not_allowed"));
    const denied = await paddock(["egress", "log", "--agent", "netty", "--denied"], { env });
    assert.match(denied.stdout, /DENY\s+netty\s+GET\s+not-allowed\.example\.net:80\s+not_allowed/);
    assert.doesNotMatch(denied.stdout, /ALLOW/);
    const jsonl = readFileSync(join(env.PADDOCK_HOME!, "data", "logs", "egress.jsonl"), "utf8").trim().split("\n");
    assert.equal(jsonl.filter((l) => (JSON.parse(l) as { agent_id: string }).agent_id === "netty").length, rows.length);
  });
});
