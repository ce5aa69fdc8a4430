import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { eventually } from "./egress-helpers.js";
import { hostProcessesWith, ROOT, scratch } from "./helpers.js";

const LAUNCHER = join(ROOT, "dist", "src", "kube", "task-start.js");

/** paddock's task launcher as pods/exec runs it: the container's environment, and its input from the controller. */
function startLauncher(env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [LAUNCHER], { env: { PATH: process.env.PATH, HOME: "/nonexistent", ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr, send: (text: string) => child.stdin!.write(text) };
}

const line = (launch: unknown) => `${JSON.stringify(launch)}\n`;

describe("paddock's task launcher (an A2A worker's task in its pod)", () => {
  it("runs the launch with its environment and nothing of the container's but PATH, HOME files written first, its exit status passed on", async () => {
    const { dir } = scratch("paddock-task-start-");
    const home = join(dir, "home");
    const launcher = startLauncher({ WORKER_GATEWAY_KEY: "sk-the-workers-own" });
    launcher.send(line({ argv: ["sh", "-c", 'echo "key=$OPENAI_API_KEY"; echo "worker=${WORKER_GATEWAY_KEY:-unset}"; cat "$HOME/.config/agent/x.json"; exit 7'], env: { OPENAI_API_KEY: "sk-task", HOME: home }, files: { ".config/agent/x.json": "{}" } }));
    assert.equal(await launcher.exited, 7, launcher.stderr());
    assert.equal(launcher.stdout(), "key=sk-task\nworker=unset\n{}");
  });

  it("ends the agent's whole group on a line of input: the agent and what it started in the background", async () => {
    const launcher = startLauncher();
    launcher.send(line({ argv: ["sh", "-c", "sleep 30.4242 & echo started; sleep 30.4243"], env: {}, files: {} }));
    await eventually(async () => (launcher.stdout().includes("started") ? true : undefined), 10_000);
    assert.equal(hostProcessesWith("30.424").length, 3, "the agent and its two sleeps run");
    launcher.send("stop\n");
    assert.equal(await launcher.exited, 143);
    await eventually(async () => (hostProcessesWith("30.424").length === 0 ? true : undefined), 5_000);
  });

  it("takes what the agent left running in its group with it when the agent exits", async () => {
    const launcher = startLauncher();
    launcher.send(line({ argv: ["sh", "-c", "sleep 30.5151 & echo done"], env: {}, files: {} }));
    assert.equal(await launcher.exited, 0);
    await eventually(async () => (hostProcessesWith("30.5151").length === 0 ? true : undefined), 5_000);
  });

  it("ends the agent at the launch's deadline with no word from the controller", async () => {
    const launcher = startLauncher();
    const started = performance.now();
    launcher.send(line({ argv: ["sleep", "30.6161"], env: {}, files: {}, timeout_ms: 300 }));
    assert.equal(await launcher.exited, 143);
    assert.ok(performance.now() - started < 5_000);
    assert.deepEqual(hostProcessesWith("30.6161"), []);
  });

  it("refuses a launch it cannot read, with the reason and exit 125, running nothing", async () => {
    const { dir } = scratch("paddock-task-start-bad-");
    const cases: Array<[string, RegExp]> = [
      [line({ argv: [], env: {}, files: {} }), /the launch is not \{argv, env, files\}/],
      ["not json\n", /the launch cannot be read/],
      [line({ argv: ["true"], env: {}, files: {}, timeout_ms: "soon" }), /timeout_ms is not a positive number/],
      [line({ argv: ["touch", join(dir, "ran")], env: { HOME: join(dir, "home") }, files: { "../escape": "x" } }), /HOME file '\.\.\/escape' is not inside HOME/],
      ["", /no launch on stdin/],
    ];
    for (const [input, reason] of cases) {
      const launcher = startLauncher();
      launcher.child.stdin!.end(input);
      assert.equal(await launcher.exited, 125, `${input}: ${launcher.stderr()}`);
      assert.match(launcher.stderr(), reason);
    }
    assert.equal(existsSync(join(dir, "ran")), false);
    assert.equal(existsSync(join(dir, "escape")), false);
  });

  it("refuses a launch line over 8 MiB", async () => {
    const launcher = startLauncher();
    launcher.child.stdin!.on("error", () => undefined);
    launcher.send("x".repeat((8 << 20) + 1024));
    assert.equal(await launcher.exited, 125);
    assert.match(launcher.stderr(), /the launch is over 8388608 bytes/);
  });
});
