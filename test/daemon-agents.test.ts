import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ScriptedModel } from "../src/scripted/index.js";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { hostProcessesWith, paddock, paddockCgroups, scratch } from "./helpers.js";

/** The pid of bwrap's child: it holds the sandbox's namespaces, so /proc/PID/net/tcp is the sandbox's own. */
function sandboxInit(bwrapPid: number): number {
  return Number(readFileSync(`/proc/${bwrapPid}/task/${bwrapPid}/children`, "utf8").trim().split(/\s+/)[0]);
}

function listensInside(bwrapPid: number, port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync(`/proc/${sandboxInit(bwrapPid)}/net/tcp`, "utf8").split("\n").some((l) => l.trim().split(/\s+/)[1] === local && l.trim().split(/\s+/)[3] === "0A");
}

describe("real agents in the daemon: spawn, attach, stop", () => {
  const { dir, env } = scratch("paddock-daemon-agents-");
  let upstream: ScriptedModel;
  let daemon: Awaited<ReturnType<typeof startDaemon>>;

  before(async () => {
    upstream = await new ScriptedModel({ model: "qwen-coder", maxModelLen: 32768 }).listen();
    const config = join(dir, "paddock.yaml");
    writeFileSync(config, `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${upstream.url}" }\ngeneral_settings: { master_key: sk-daemon-test-master }\npaddock_settings: { listen: "127.0.0.1:0" }\n`);
    daemon = await startDaemon(env, ["--gateway", config]);
  });
  after(async () => {
    if (daemon) await stopDaemon(daemon.child);
    await upstream?.close();
    await eventually(async () => paddockCgroups().length === 0 || undefined, 60_000);
  });

  const card = (name: string, kind: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `agent_id: ${name}\nworkspace: ${dir}\nkind: ${kind}\ntools: [sh, bash, coreutils, grep, git, rg]\nresource_limits: { memory_mb: 2048, max_processes: 256, max_open_files: 4096 }\n`);
    return file;
  };

  it("keeps an OpenCode agent up as OpenCode's server in its sandbox, configured for the gateway, and lets a terminal in", async () => {
    const spawned = await paddock(["spawn", card("oc", "opencode")], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const status = async () => JSON.parse((await paddock(["status", "oc"], { env })).stdout) as { state: string; pid: number };
    const agent = await status();
    assert.equal(agent.state, "running");
    await eventually(async () => listensInside(agent.pid, 4096) || undefined, 20_000);

    // A command through attach runs inside: the agent's user, its workspace, its environment, no way to new privileges.
    const inside = await paddock(["attach", "oc", "--", "sh", "-c", "id -u; pwd; grep -E '^(NoNewPrivs|CapEff)' /proc/self/status; echo $OPENAI_BASE_URL; cat $HOME/.config/opencode/opencode.json; ls /root 2>&1; true"], { env });
    assert.equal(inside.code, 0, inside.stderr);
    const lines = inside.stdout.split("\n");
    assert.deepEqual(lines.slice(0, 5), ["1000", "/workspace", "CapEff:\t0000000000000000", "NoNewPrivs:\t1", "http://127.0.0.1:4000/v1"]);
    const config = JSON.parse(inside.stdout.slice(inside.stdout.indexOf("{"), inside.stdout.lastIndexOf("}") + 1)) as { model: string; provider: { paddock: { models: Record<string, { limit: { context: number } }> } } };
    assert.equal(config.model, "paddock/qwen-coder");
    assert.equal(config.provider.paddock.models["qwen-coder"]!.limit.context, 32768, "the window the gateway discovered");
    assert.match(inside.stdout, /ls: cannot access '\/root'|No such file/);

    const stopped = await paddock(["stop", "oc", "--grace", "2"], { env });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal((await status()).state, "stopped");
    const refused = await paddock(["attach", "oc", "--", "true"], { env });
    assert.equal(refused.code, 125);
    assert.match(refused.stderr, /agent oc is stopped/);
  });

  it("keeps a Claude Code agent ready in its sandbox, where Claude Code starts on attach", async () => {
    const spawned = await paddock(["spawn", card("cc", "claude-code")], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const version = await paddock(["attach", "cc", "--", "sh", "-c", 'echo "$ANTHROPIC_BASE_URL $ANTHROPIC_MODEL"; claude --version'], { env });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^http:\/\/127\.0\.0\.1:4000 qwen-coder\n\d+\.\d+\.\d+ \(Claude Code\)/);
    await paddock(["stop", "cc", "--grace", "1"], { env });
    assert.deepEqual(hostProcessesWith("sleep infinity"), []);
  });
});
