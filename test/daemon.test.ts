import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { CLI, hostProcessesWith, paddock, paddockCgroups, scratch } from "./helpers.js";

describe("paddock up: the daemon and its CLI", () => {
  const { dir, env } = scratch("paddock-daemon-");
  const workspace = join(dir, "ws");
  mkdirSync(workspace);
  const status = async <T>(id: string): Promise<T> => JSON.parse((await paddock(["status", id], { env })).stdout) as T;
  /** Spawns an agent, SIGKILLs the daemon, then changes the agent's record as the test needs. */
  const crashWhileRunning = async (name: string, command: string, patch: Record<string, unknown>) => {
    const daemon = await startDaemon(env);
    await paddock(["spawn", card(name, command)], { env });
    daemon.child.kill("SIGKILL");
    await new Promise((resolve) => daemon.child.once("exit", resolve));
    const { openStoreAt } = await import("../src/store/index.js");
    const store = openStoreAt(join(env.PADDOCK_HOME!, "data", "paddock.db"));
    await store.updateAgent(name, patch);
    await store.close();
  };
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
      const badSince = await paddock(["logs", "alpha", "--since", "yesterday-ish"], { env });
      assert.match(badSince.stderr, /'yesterday-ish' is neither an ISO time nor an age/);
      const follow = paddock(["logs", "-f", "alpha"], { env });
      const stopped = await paddock(["stop", "alpha", "--grace", "2"], { env });
      assert.equal(stopped.stdout, "alpha stopped\n");
      assert.match((await follow).stdout, /line 3\n$/, "logs -f ends when the agent does");

      assert.equal(await stopDaemon(daemon.child), 0);
      assert.ok(!json.some((x) => existsSync(`/proc/${x.pid}`)), "an agent outlived the daemon's clean shutdown");
    } finally {
      daemon.child.kill("SIGKILL");
    }
  });

  it("after the daemon is SIGKILLed, the next one takes over the agents still running and records the exits it missed", async () => {
    const first = await startDaemon(env);
    const marker = `sleep 61.${process.pid}`;
    await paddock(["spawn", card("survivor", `i=0; while true; do i=$((i+1)); echo beat $i; sleep 0.2; done & ${marker}`, "ttl_seconds: 30\n")], { env });
    await paddock(["spawn", card("quitter", "sleep 1; exit 7")], { env });
    const before = await status<{ pid: number }>("survivor");
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));
    assert.ok(hostProcessesWith(marker).length > 0, "the agent survives the daemon's death");
    // The quitter ends while no daemon runs.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const second = await startDaemon(env);
    try {
      assert.match(second.output(), /"msg":"agent taken over from a previous daemon","agent_id":"survivor"/);
      const survivor = await status<{ state: string; pid: number }>("survivor");
      assert.deepEqual([survivor.state, survivor.pid], ["running", before.pid]);
      const quitter = await status<{ state: string; exit: { code: number } }>("quitter");
      assert.deepEqual([quitter.state, quitter.exit.code], ["failed", 7], "the exit code it had while no daemon watched");
      const list = await paddock(["list"], { env });
      assert.match(list.stdout, /^survivor\s+command\s+running\s+\d+\s+\S+\s+[\d.]+M\s+\d+s/m);
      const beats = (await paddock(["logs", "survivor"], { env })).stdout.split("beat").length;
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.ok((await paddock(["logs", "survivor"], { env })).stdout.split("beat").length > beats, "its output kept flowing into its log");
      // --since: only what it wrote after a moment, found to within the daemon's two-second sampling.
      const lastBeat = async () => Math.max(...[...(await paddock(["logs", "survivor"], { env })).stdout.matchAll(/beat (\d+)/g)].map((m) => Number(m[1])));
      const beatLongBefore = await lastBeat();
      // Twice the sampling interval: a sample lies between this beat and the mark even when a loaded machine runs timers late.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      const mark = new Date().toISOString();
      const beatAtMark = await lastBeat();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const recent = [...(await paddock(["logs", "survivor", "--since", mark], { env })).stdout.matchAll(/beat (\d+)/g)].map((m) => Number(m[1]));
      assert.ok(recent.length > 0, "nothing since the mark");
      assert.ok(recent[0]! > beatLongBefore && recent[0]! <= beatAtMark + 1, `since the mark (beat ${beatAtMark}) began at beat ${recent[0]}, before beat ${beatLongBefore} written 4 s earlier`);
      const stopped = await paddock(["stop", "survivor", "--grace", "2"], { env });
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.equal(stopped.stdout, "survivor stopped\n");
      assert.deepEqual(hostProcessesWith(marker), []);
      await eventually(async () => (paddockCgroups().length === 0 ? true : undefined), 30_000).catch(() => assert.fail(`cgroups left: ${paddockCgroups().join(", ")}`));
    } finally {
      await stopDaemon(second.child);
    }
  });

  it("leaves no exit bridge behind: the bridges live in the agent's cgroup and end with it, also when it ended while no daemon watched", async () => {
    const home = env.PADDOCK_HOME!;
    const bridges = () => hostProcessesWith("TCP-LISTEN").filter((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(home));
    const first = await startDaemon(env);
    const marker = `sleep 63.${process.pid}`;
    const spawned = await paddock(["spawn", card("netted", marker, "allowed_hosts: [example.org]\n")], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    assert.ok(bridges().length > 0, "the agent has its exit");
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));
    // The agent ends while no daemon runs: its bridges are still up, held in its cgroup.
    for (const pid of hostProcessesWith(marker)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch (err) {
        // The sandbox's own processes die with the bwrap killed before them.
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
      }
    }
    await eventually(async () => (hostProcessesWith(marker).length === 0 ? true : undefined));
    assert.ok(bridges().length > 0);
    const second = await startDaemon(env);
    try {
      assert.equal((await status<{ state: string }>("netted")).state, "failed");
      await eventually(async () => (bridges().length === 0 ? true : undefined), 10_000).catch(() => assert.fail(`bridges left: ${bridges().join(", ")}`));
      await eventually(async () => (paddockCgroups().length === 0 ? true : undefined), 30_000).catch(() => assert.fail(`cgroups left: ${paddockCgroups().join(", ")}`));
    } finally {
      await stopDaemon(second.child);
    }
  });

  it("ends the sandboxes of its own that a lost state leaves without a record: the agent, its bridges and its cgroup", async () => {
    const lost = scratch("paddock-daemon-lost-");
    const home = lost.env.PADDOCK_HOME!;
    const bridges = () => hostProcessesWith("TCP-LISTEN").filter((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(home));
    const first = await startDaemon(lost.env);
    const marker = `sleep 64.${process.pid}`;
    const file = join(lost.dir, "orphan.yaml");
    writeFileSync(file, `agent_id: orphan\nworkspace: ${workspace}\nkind: command\ncommand: [sh, -c, ${JSON.stringify(marker)}]\ntools: [sh, coreutils]\nallowed_hosts: [example.org]\n`);
    assert.equal((await paddock(["spawn", file], { env: lost.env })).code, 0);
    // A `paddock exec` beside it, under the same cgroup parent: not the daemon's, so never its to end.
    const neighbour = spawn(process.execPath, [CLI, "exec", "--card", card("neighbour", `sleep 65.${process.pid}`)], { env, stdio: "ignore" });
    await eventually(async () => (hostProcessesWith(`sleep 65.${process.pid}`).length > 0 ? true : undefined));
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));
    // The daemon's state is lost: its store, its runtime folder.
    rmSync(join(home, "data"), { recursive: true, force: true });
    rmSync(join(home, "run"), { recursive: true, force: true });
    assert.ok(hostProcessesWith(marker).length > 0 && bridges().length > 0, "the agent and its bridge run on, with nothing to lead to them");
    const second = await startDaemon(lost.env);
    try {
      await eventually(async () => (hostProcessesWith(marker).length === 0 && bridges().length === 0 ? true : undefined), 10_000).catch(() => assert.fail(`left: ${[...hostProcessesWith(marker), ...bridges()].join(", ")}`));
      assert.match(second.output(), /"msg":"a sandbox of this daemon's that no agent record leads to: ended"/);
      assert.ok(hostProcessesWith(`sleep 65.${process.pid}`).length > 0, "the neighbour's sandbox was not the daemon's to end");
    } finally {
      await stopDaemon(second.child);
      neighbour.kill("SIGTERM");
      await new Promise((resolve) => neighbour.once("exit", resolve));
    }
    await eventually(async () => (paddockCgroups().length === 0 ? true : undefined), 30_000).catch(() => assert.fail(`cgroups left: ${paddockCgroups().join(", ")}`));
  });

  it("never trusts a stored pid whose start time no longer matches (a recycled pid looks like that)", async () => {
    const marker = `sleep 62.${process.pid}`;
    await crashWhileRunning("imposter", marker, { pid_start: "1" });
    const second = await startDaemon(env);
    try {
      assert.doesNotMatch(second.output(), /taken over from a previous daemon","agent_id":"imposter"/);
      const record = await status<{ state: string; error: string }>("imposter");
      assert.deepEqual([record.state, record.error], ["failed", "it could not be taken over after the daemon stopped, and was ended"]);
      await eventually(async () => (hostProcessesWith(marker).length === 0 ? true : undefined));
    } finally {
      await stopDaemon(second.child);
    }
  });

  it("with --gateway, gives each agent its own key and a door to the model, and revokes the key when it ends", async () => {
    const { ScriptedModel } = await import("../src/scripted/index.js");
    const { openStoreAt } = await import("../src/store/index.js");
    const model = await new ScriptedModel({ model: "qwen-coder", script: [{ content: "hello agent", repeat: true }] }).listen();
    const gatewayConfig = join(dir, "gateway.yaml");
    const port = await (await import("./helpers.js")).freePort();
    writeFileSync(gatewayConfig, `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${model.url}" }\n  - model_name: other\n    litellm_params: { model: openai/qwen-coder, api_base: "${model.url}" }\ngeneral_settings: { master_key: sk-daemon-master }\npaddock_settings: { listen: "127.0.0.1:${port}" }\n`);
    const { child: daemon, output } = await startDaemon(env, ["--gateway", gatewayConfig]);
    try {
      assert.match(output(), /gateway\s+http:\/\/127\.0\.0\.1:\d+ \(agents: 127\.0\.0\.1:4000/);
      const file = join(dir, "caller.yaml");
      const ask = (m: string) => `curl -sS -w ' %{http_code}\\n' "$OPENAI_BASE_URL/chat/completions" -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' -d '{"model":"${m}","messages":[{"role":"user","content":"hi"}]}'`;
      writeFileSync(file, `agent_id: caller\nworkspace: ${workspace}\nkind: command\nmodel: qwen-coder\ncommand: [sh, -c, ${JSON.stringify(`${ask("qwen-coder")}; ${ask("other")}`)}]\ntools: [sh, curl]\n`);
      assert.equal((await paddock(["spawn", file], { env })).code, 0);
      const ended = await eventually(async () => {
        const s = await status<{ state: string }>("caller");
        return s.state === "exited" ? s : undefined;
      }, 10_000);
      assert.ok(ended);
      const log = (await paddock(["logs", "caller"], { env })).stdout;
      assert.match(log, /"content":"hello agent".* 200/, "the agent reached the model through the gateway");
      assert.match(log, /may not call 'other'.* 403/, "its key is scoped to its card's model");
      const store = openStoreAt(join(env.PADDOCK_HOME!, "data", "paddock.db"));
      try {
        await eventually(async () => ((await store.usage({ agentId: "caller" })).length === 2 ? true : undefined));
        assert.deepEqual((await store.listKeys()).filter((k) => k.metadata.agent_id === "caller"), [], "the agent's key outlived it");
      } finally {
        await store.close();
      }
    } finally {
      await stopDaemon(daemon);
      await model.close();
    }
  });

  it("cleans up a spawn the dead daemon had left half done", async () => {
    const marker = `sleep 63.${process.pid}`;
    // What a daemon killed between starting the sandbox and recording its pid leaves: "starting", a sandbox name, no pid.
    await crashWhileRunning("halfway", marker, { state: "starting", pid: null, pid_start: null });
    assert.ok(hostProcessesWith(marker).length > 0);
    const second = await startDaemon(env);
    try {
      await eventually(async () => (hostProcessesWith(marker).length === 0 ? true : undefined)).catch(() => assert.fail("the half-spawned sandbox was left running"));
      const record = await status<{ state: string; error: string }>("halfway");
      assert.deepEqual([record.state, record.error], ["failed", "the daemon stopped while it was starting it; what it had started was cleaned up"]);
      await eventually(async () => (paddockCgroups().length === 0 ? true : undefined), 30_000).catch(() => assert.fail(`cgroups left: ${paddockCgroups().join(", ")}`));
    } finally {
      await stopDaemon(second.child);
    }
  });

  it("serves its API on TCP only with its token", async () => {
    const { freePort } = await import("./helpers.js");
    const { readFileSync } = await import("node:fs");
    const port = await freePort();
    const { child: daemon, output } = await startDaemon(env, ["--listen", `127.0.0.1:${port}`]);
    try {
      const tokenFile = /api\s+http:\/\/\S+ \(token in (\S+)\)/.exec(output())?.[1];
      assert.ok(tokenFile, output());
      const token = readFileSync(tokenFile, "utf8").trim();
      const anonymous = await fetch(`http://127.0.0.1:${port}/v1/agents`);
      assert.equal(anonymous.status, 401);
      const wrong = await paddock(["list"], { env: { ...env, PADDOCK_DAEMON_URL: `http://127.0.0.1:${port}`, PADDOCK_DAEMON_TOKEN: "not-the-token-at-all" } });
      assert.equal(wrong.code, 125);
      assert.match(wrong.stderr, /the daemon refused the token/);
      const right = await paddock(["list", "--json"], { env: { ...env, PADDOCK_DAEMON_URL: `http://127.0.0.1:${port}`, PADDOCK_DAEMON_TOKEN: token } });
      assert.equal(right.code, 0, right.stderr);
      assert.ok(Array.isArray(JSON.parse(right.stdout)));
    } finally {
      await stopDaemon(daemon);
    }
  });
});
