import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { join } from "node:path";
import { describe, it } from "node:test";
import { eventually, get, raw, startOrigin } from "./egress-helpers.js";
import { CLI, freePort, paddock, scratch, waitForPort } from "./helpers.js";

describe("paddock egress serve", () => {
  it("refuses an invalid config, naming the file and field", async () => {
    const { dir, env } = scratch();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "listen: nowhere\nagents:\n  - agent_id: a\n    allowed_hosts: ['bad host!']\n");
    const r = await paddock(["egress", "serve", "--config", file], { env });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /bad\.yaml:1:1: listen: must be HOST:PORT/);
    assert.match(r.stderr, /bad\.yaml:4:21: agents\[0\]\.allowed_hosts\[0\]: 'bad host!' is not a host name/);
    assert.match(r.stderr, /bad\.yaml:3:5: agents\[0\]: give exactly one of token_sha256 and token_file/);
  });

  it("serves agents on TCP with their tokens, exposes metrics, and stops cleanly on SIGTERM", async () => {
    const { dir, env } = scratch();
    const origin = await startOrigin();
    const [port, metricsPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, "token"), "pod-token\n");
    const file = join(dir, "egress.yaml");
    writeFileSync(
      file,
      [
        `listen: 127.0.0.1:${port}`,
        `metrics_listen: 127.0.0.1:${metricsPort}`,
        "agents:",
        "  - agent_id: pod-a",
        `    token_file: ${join(dir, "token")}`,
        `    allowed_hosts: ["127.0.0.1:${origin.port}"]`,
        "  - agent_id: pod-b",
        `    token_sha256: ${createHash("sha256").update("other").digest("hex")}`,
        "    allowed_hosts: []",
      ].join("\n"),
    );
    const server = spawn(process.execPath, [CLI, "egress", "serve", "--config", file], { env, stdio: ["ignore", "ignore", "pipe"] });
    let logs = "";
    server.stderr.on("data", (d: Buffer) => (logs += d.toString()));
    try {
      await waitForPort(port);
      const auth = (who: string) => `Proxy-Authorization: Basic ${Buffer.from(who).toString("base64")}\r\n`;
      const allowed = await raw(port, get(`http://127.0.0.1:${origin.port}/via-tcp`, undefined, auth("pod-a:pod-token")));
      assert.match(allowed, /origin saw GET \/via-tcp/);
      const other = await raw(port, get(`http://127.0.0.1:${origin.port}/`, undefined, auth("pod-b:other")));
      assert.match(other, /^HTTP\/1\.1 403 [\s\S]*not_allowed/);
      await waitForPort(metricsPort);
      const metrics = await new Promise<string>((resolve) => httpGet(`http://127.0.0.1:${metricsPort}/metrics`, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve(body));
      }));
      assert.match(metrics, /paddock_egress_decisions_total\{agent="pod-a",kind="http",decision="allowed",reason="allowed"\} 1/);
      assert.match(metrics, /paddock_egress_decisions_total\{agent="pod-b",kind="http",decision="denied",reason="not_allowed"\} 1/);
      // A live change: pod-b may now reach the origin, after SIGHUP and without a restart.
      writeFileSync(file, readFileSync(file, "utf8").replace("    allowed_hosts: []", `    allowed_hosts: ["127.0.0.1:${origin.port}"]`));
      server.kill("SIGHUP");
      await eventually(async () => (logs.includes("egress config reloaded") ? true : undefined));
      const now = await raw(port, get(`http://127.0.0.1:${origin.port}/after-reload`, undefined, auth("pod-b:other")));
      assert.match(now, /origin saw GET \/after-reload/);
    } finally {
      server.kill("SIGTERM");
      origin.server.close();
    }
    const code = await new Promise((resolve) => server.once("exit", resolve));
    assert.equal(code, 0, logs);
    assert.match(logs, /"msg":"egress proxy listening"/);
    const log = await paddock(["egress", "log", "--json"], { env });
    assert.equal(log.stdout.trim().split("\n").length, 3, "every decision was stored before the server exited");
  });
});
