import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { eventually } from "./egress-helpers.js";
import { CLI, hostProcessesWith, paddock, paddockCgroups, scratch } from "./helpers.js";

function startDaemon(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [CLI, "up"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return eventually(async () => (out.includes("paddock is up") ? { child, output: () => out } : undefined), 10_000);
}

describe("paddock up: the daemon and its CLI", () => {
  const { dir, env } = scratch("paddock-daemon-");
  const workspace = join(dir, "ws");
  mkdirSync(workspace);
  const card = (name: string, command: string, extra = "") => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `agent_id: ${name}\nworkspace: ${workspace}\nkind: command\ncommand: [sh, -c, ${JSON.stringify(command)}]\ntools: [sh, coreutils]\n${extra}`);
    return file;
  };

  it("says how to start it when it is not running, with its own exit status", async () => {
    const r = await paddock(["list"], { env });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /the daemon is not running.*\n\s+hint: start it with `paddock up`/);
  });

  it("spawns, lists, shows logs, refuses duplicates and bad cards, stops, and shuts down cleanly", async () => {
    const daemon = await startDaemon(env);
    try {
      assert.match(daemon.output(), /api\s+unix:.*paddock\.sock/);
      const a = await paddock(["spawn", card("alpha", "for i in 1 2 3; do echo line $i; done; sleep 60")], { env });
      assert.equal(a.code, 0, a.stderr);
      assert.equal(a.stdout, "alpha\n");
      const b = await paddock(["spawn", card("alpha", "sleep 60"), "--name", "beta"], { env });
      assert.equal(b.stdout, "beta\n");
      const dup = await paddock(["spawn", card("alpha", "sleep 60")], { env });
      assert.equal(dup.code, 125);
      assert.match(dup.stderr, /agent alpha is already running \(pid \d+\)/);
      const bad = join(dir, "bad.yaml");
      writeFileSync(bad, "agent_id: Bad\nworkspace: /nowhere\n");
      const refused = await paddock(["spawn", bad], { env });
      assert.equal(refused.code, 125);
      assert.match(refused.stderr, /bad\.yaml:1: agent_id: must match/);

      const list = await paddock(["list"], { env });
      assert.match(list.stdout, /^ID\s+KIND\s+STATE\s+PID\s+UPTIME\s+MEMORY\s+TTL LEFT\s+RESTARTS$/m);
      assert.match(list.stdout, /^alpha\s+command\s+running\s+\d+/m);
      assert.match(list.stdout, /^beta\s+command\s+running\s+\d+/m);
      const json = JSON.parse((await paddock(["list", "--json"], { env })).stdout) as Array<{ agent_id: string; pid: number }>;
      assert.deepEqual(json.map((x) => x.agent_id).sort(), ["alpha", "beta"]);

      await eventually(async () => ((await paddock(["logs", "alpha"], { env })).stdout === "line 1\nline 2\nline 3\n" ? true : undefined));
      assert.equal((await paddock(["logs", "alpha", "--tail", "1"], { env })).stdout, "line 3\n");
      const follow = paddock(["logs", "-f", "alpha"], { env });
      const stopped = await paddock(["stop", "alpha", "--grace", "2"], { env });
      assert.equal(stopped.stdout, "alpha stopped\n");
      assert.match((await follow).stdout, /line 3\n$/, "logs -f ends when the agent does");

      daemon.child.kill("SIGTERM");
      assert.equal(await new Promise((resolve) => daemon.child.once("exit", resolve)), 0);
      assert.ok(!json.some((x) => existsSync(`/proc/${x.pid}`)), "an agent outlived the daemon's clean shutdown");
    } finally {
      daemon.child.kill("SIGKILL");
    }
  });

  it("after the daemon is SIGKILLed, the next one ends what it left running and records why", async () => {
    const first = await startDaemon(env);
    const marker = `sleep 61.${process.pid}`;
    await paddock(["spawn", card("orphan", marker)], { env });
    await eventually(async () => (hostProcessesWith(marker).length > 0 ? true : undefined)).catch(() => assert.fail("the agent never ran"));
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));
    assert.ok(hostProcessesWith(marker).length > 0, "the agent survives the daemon's death");
    const second = await startDaemon(env);
    try {
      assert.deepEqual(hostProcessesWith(marker), []);
      const status = JSON.parse((await paddock(["status", "orphan"], { env })).stdout) as { state: string; error: string };
      assert.equal(status.state, "failed");
      assert.match(status.error, /the daemon stopped while it ran/);
      // Removed once init has reaped the ended orphans.
      await eventually(async () => (paddockCgroups().length === 0 ? true : undefined), 30_000).catch(() => assert.fail(`cgroups left: ${paddockCgroups().join(", ")}`));
    } finally {
      second.child.kill("SIGTERM");
      await new Promise((resolve) => second.child.once("exit", resolve));
    }
  });
});
