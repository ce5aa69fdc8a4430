import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadCard } from "../src/card/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { createSandbox, prepareSandbox } from "../src/sandbox/index.js";
import { hostProcessesWith, scratch, writeCard } from "./helpers.js";

for (const backend of ["bwrap", "gvisor"] as const) describe(`sandbox: network exits (${backend})`, () => {
  it("bridges 127.0.0.1:PORT inside to a unix socket on the host, and nothing else", async () => {
    const { dir, env } = scratch();
    const workspace = join(dir, "ws");
    mkdirSync(workspace);
    const socket = join(dir, "exit.sock");
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end("through the exit\n");
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const file = writeCard(dir, "c.json", { agent_id: `exiter-${backend}`, backend, workspace, tools: ["sh", "curl"] });
      const spec = prepareSandbox((await loadCard(file)).card, {
        command: ["sh", "-c", "read -r kernel < /proc/version; echo \"$kernel\" >&2; curl -sS http://127.0.0.1:3128/hello; curl -sS --max-time 2 http://127.0.0.1:3129/ || echo other-port-closed"],
        egress: { socket },
        paths: paddockPaths(env),
      });
      const sandbox = createSandbox(spec, backend);
      await sandbox.start();
      let out = "";
      let kernel = "";
      sandbox.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      sandbox.stderr!.on("data", (d: Buffer) => (kernel += d.toString()));
      const exit = await sandbox.wait();
      // gVisor's kernel is its own: the agent's sockets went through it, not through the host's system calls.
      assert.equal(kernel.split("\n")[0] === readFileSync("/proc/version", "utf8").trim(), backend === "bwrap", kernel);
      assert.equal(exit.cause, "exited");
      assert.equal(out, "through the exit\nother-port-closed\n");
      assert.deepEqual(seen, ["GET /hello"]);
      assert.deepEqual(hostProcessesWith(socket), [], "a bridge outlived its sandbox");
    } finally {
      server.close();
    }
  });
});
