import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { CaptainReport } from "../src/captain/index.js";
import { ScriptedModel } from "../src/scripted/index.js";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { CLI, hostProcessesWith, paddock, paddockCgroups, scratch } from "./helpers.js";

const PLAN = { subtasks: [{ title: "alpha", prompt: "Write alpha.txt" }, { title: "beta", prompt: "Write beta.txt" }] };

describe("paddock captain: plan, workers in parallel over A2A, one report, no worker left", () => {
  const { dir, env } = scratch("paddock-captain-");
  const workspace = join(dir, "ws");
  mkdirSync(workspace);
  let upstream: ScriptedModel;
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  const template = join(dir, "worker.yaml");
  const config = join(dir, "paddock.yaml");

  before(async () => {
    upstream = await new ScriptedModel({ model: "qwen-coder", script: [{ system: /captain of 2 coding agents/, content: JSON.stringify(PLAN), repeat: true }] }).listen();
    writeFileSync(config, `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${upstream.url}" }\npaddock_settings: { listen: "127.0.0.1:0" }\nexecutor: { inactivity_timeout_seconds: 30 }\n`);
    // Each worker writes the file its subtask names, taking a second, and records when it ran.
    const script = 'f=$(printf %s "$PADDOCK_PROMPT" | grep -o "[a-z]*\\\\.txt" | head -n 1); date +%s%N > "$f.start"; sleep 1; echo "by $AGENT_ID" > "$f"; date +%s%N > "$f.end"; echo "{\\"outcome\\":\\"COMPLETE\\",\\"summary\\":\\"wrote $f\\"}"';
    writeFileSync(template, `agent_id: crew\nworkspace: ${workspace}\nkind: command\ncommand: [sh, -c, ${JSON.stringify(script)}]\ntools: [sh, coreutils, grep]\n`);
    daemon = await startDaemon(env, ["--gateway", config]);
  });
  after(async () => {
    if (daemon) await stopDaemon(daemon.child);
    await upstream?.close();
    await eventually(async () => paddockCgroups().length === 0 || undefined, 60_000);
  });

  it("runs the plan's two subtasks on two workers at once and stops them", async () => {
    const r = await paddock(["captain", "Write two files", "--workers", "2", "--card", template, "--json"], { env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout) as CaptainReport;
    assert.deepEqual(report.plan, PLAN);
    assert.deepEqual(report.results.map((x) => [x.title, x.state, x.summary]), [["alpha", "completed", "wrote alpha.txt"], ["beta", "completed", "wrote beta.txt"]]);
    for (const x of report.results) assert.ok(x.changed_files.some((f) => f.path === `${x.title}.txt` && f.status === "added"), JSON.stringify(x.changed_files));
    assert.notEqual(report.results[0]!.worker, report.results[1]!.worker);
    const times = ["alpha", "beta"].map((f) => [Number(readFileSync(join(workspace, `${f}.txt.start`), "utf8")), Number(readFileSync(join(workspace, `${f}.txt.end`), "utf8"))] as const);
    assert.ok(times[0]![0] < times[1]![1] && times[1]![0] < times[0]![1], "the two subtasks ran at the same time");
    assert.match(readFileSync(join(workspace, "alpha.txt"), "utf8"), /^by captain-[0-9a-f]+-w[12]\n$/);

    const agents = JSON.parse((await paddock(["list", "--json"], { env })).stdout) as Array<{ agent_id: string; state: string; a2a: unknown }>;
    const crew = agents.filter((a) => a.agent_id.startsWith("captain-"));
    assert.equal(crew.length, 2);
    assert.ok(crew.every((a) => a.state === "stopped" && a.a2a === null), JSON.stringify(crew));
    assert.deepEqual(hostProcessesWith("sleep infinity"), []);
  });

  it("gives each worker a clone and branch of its own when the workspace is a repository", async () => {
    const repo = join(dir, "repo");
    mkdirSync(join(repo, "sub"), { recursive: true });
    const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" });
    git("init", "-q");
    writeFileSync(join(repo, "sub", "README.md"), "base\n");
    git("add", ".");
    git("commit", "-qm", "base");
    const inRepo = join(dir, "in-repo.yaml");
    writeFileSync(inRepo, readFileSync(template, "utf8").replace(`workspace: ${workspace}`, `workspace: ${join(repo, "sub")}`));
    const r = await paddock(["captain", "Write two files", "--workers", "2", "--card", inRepo, "--json"], { env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout) as CaptainReport;
    const branches = git("branch", "--list", "--format=%(refname:short)", "paddock/*").split("\n").filter(Boolean).sort();
    assert.deepEqual(branches, report.results.map((x) => x.worktree!.branch).sort());
    for (const x of report.results) {
      assert.ok(x.worktree, "a worktree for each worker");
      assert.equal(readFileSync(join(x.worktree.path, "sub", `${x.title}.txt`), "utf8"), `by ${x.worker}\n`);
      // The worker's workspace is its clone of the repository, and it starts in the card's folder there: paths are the repository's.
      assert.deepEqual(x.changed_files.filter((f) => f.path === `sub/${x.title}.txt`), [{ path: `sub/${x.title}.txt`, status: "added" }]);
      assert.ok(!x.changed_files.some((f) => f.path.startsWith(x.title === "alpha" ? "sub/beta" : "sub/alpha")), "a worker sees only its own changes");
    }
    assert.equal(git("status", "--porcelain"), "", "the repository's own checkout is untouched");
  });

  for (const backend of ["bwrap", "gvisor"] as const) it(`a ${backend} worker's planted git config and links act on nothing of the host, through the captain's whole path`, async () => {
    const repo = join(dir, `attacked-${backend}`);
    mkdirSync(repo, { recursive: true });
    const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" });
    git("init", "-q");
    writeFileSync(join(repo, "README.md"), "base\n");
    git("add", ".");
    git("commit", "-qm", "base");
    const secret = `SECRET-${process.pid}-${Date.now()}`;
    const secretFile = join(dir, `captain-secret-${backend}.txt`);
    writeFileSync(secretFile, secret);
    const marker = `/tmp/paddock-captain-pwned-${process.pid}`;
    const script = `git config filter.ev.clean "sh -c 'id -u >> ${marker}; cat' --"; printf '*.md filter=ev\\n' > .gitattributes; echo more >> README.md; ln -s ${secretFile} leak.txt; echo '{"outcome":"COMPLETE","summary":"planted"}'`;
    const attacker = join(dir, `attacker-${backend}.yaml`);
    writeFileSync(attacker, `agent_id: attacker-${backend}\nbackend: ${backend}\nworkspace: ${repo}\nkind: command\ncommand: [sh, -c, ${JSON.stringify(script)}]\ntools: [sh, coreutils, git]\n`);
    const r = await paddock(["captain", "Write two files", "--workers", "2", "--card", attacker, "--json"], { env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout) as CaptainReport;
    for (const x of report.results) assert.ok(x.changed_files.some((f) => f.path === "leak.txt"), JSON.stringify(x.changed_files));
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), "the secret reached the captain");
    assert.equal(existsSync(marker), false, "the planted filter ran on the host");
    assert.equal(git("status", "--porcelain"), "", "the repository's own checkout is untouched");
  });

  it("on Ctrl-C cancels the workers' tasks, ends their processes and stops them", async () => {
    const slow = join(dir, "slow.yaml");
    writeFileSync(slow, `agent_id: slow\nworkspace: ${workspace}\nkind: command\ncommand: [sh, -c, "echo started; sleep 40.123"]\ntools: [sh, coreutils]\n`);
    const captain = spawn(process.execPath, [CLI, "captain", "Write two files", "--workers", "2", "--card", slow], { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    captain.stderr.on("data", (d: Buffer) => (output += d.toString()));
    await eventually(async () => (hostProcessesWith("40.123").length >= 2 || undefined), 20_000);
    captain.kill("SIGINT");
    const code = await new Promise((resolve) => captain.on("exit", resolve));
    assert.equal(code, 130, output);
    assert.deepEqual(hostProcessesWith("40.123"), []);
    const agents = JSON.parse((await paddock(["list", "--json"], { env })).stdout) as Array<{ agent_id: string; state: string; card: { agent_id: string } }>;
    const crew = agents.filter((a) => a.agent_id.startsWith("captain-") && a.card.agent_id !== "crew");
    assert.ok(crew.length >= 2 && crew.every((a) => a.state === "stopped"), JSON.stringify(crew.map((a) => [a.agent_id, a.state])));
  });

  it("serves a spawned worker over A2A, with its URL in its status", async () => {
    const r = await paddock(["spawn", template, "--name", "solo", "--a2a"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^a2a: http:\/\/127\.0\.0\.1:\d+\/ \(Authorization: Bearer \S+\)/);
    const status = JSON.parse((await paddock(["status", "solo"], { env })).stdout) as { state: string; a2a: { url: string } };
    assert.equal(status.state, "running");
    const card = await (await fetch(new URL(".well-known/agent-card.json", status.a2a.url))).json() as { name: string };
    assert.equal(card.name, "solo");
    await paddock(["stop", "solo", "--grace", "1"], { env });
    await assert.rejects(fetch(new URL(".well-known/agent-card.json", status.a2a.url)), "the worker's A2A server went with it");
  });

  it("serves a worker again after the daemon was killed and a new one took it over", async () => {
    assert.equal((await paddock(["spawn", template, "--name", "survivor", "--a2a"], { env })).code, 0);
    daemon.child.kill("SIGKILL");
    await new Promise((resolve) => daemon.child.once("exit", resolve));
    daemon = await startDaemon(env, ["--gateway", config]);
    const status = JSON.parse((await paddock(["status", "survivor"], { env })).stdout) as { state: string; a2a: { url: string; token: string } | null };
    assert.equal(status.state, "running");
    assert.ok(status.a2a, "the worker has an A2A server again");
    const res = await fetch(status.a2a.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${status.a2a.token}`, "A2A-Version": "1.0" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "none" } }) });
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32001);
    await paddock(["stop", "survivor", "--grace", "1"], { env });
    // Its exits' bridges were the previous daemon's children: they end with it all the same.
    assert.deepEqual(hostProcessesWith(`${env.PADDOCK_HOME}/run/gateway.sock`), []);
  });

  it("stops the workers that did start when another could not be spawned, and says why", async () => {
    const small = scratch("paddock-captain-small-");
    const limited = await startDaemon(small.env, ["--gateway", config, "--max-agents", "1"]);
    try {
      const r = await paddock(["captain", "Write two files", "--workers", "2", "--card", template], { env: small.env });
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, /already runs 1 agents \(the limit is 1\)/);
      const agents = JSON.parse((await paddock(["list", "--json"], { env: small.env })).stdout) as Array<{ agent_id: string; state: string }>;
      assert.ok(agents.length >= 1 && agents.every((a) => a.state !== "running" && a.state !== "starting"), JSON.stringify(agents));
      assert.deepEqual(hostProcessesWith("sleep infinity"), []);
    } finally {
      await stopDaemon(limited.child);
    }
  });

  it("says what is missing when the daemon runs no gateway", async () => {
    const bare = scratch("paddock-captain-bare-");
    const plain = await startDaemon(bare.env);
    try {
      const r = await paddock(["captain", "x", "--card", template], { env: bare.env });
      assert.equal(r.code, 125);
      assert.match(r.stderr, /planning needs a model, and this daemon runs no gateway[\s\S]*paddock up --gateway/);
    } finally {
      await stopDaemon(plain.child);
    }
  });
});

describe("paddock captain with paddock.yaml's roles: the planner assigns them, workers are spawned in them", () => {
  const { dir, env } = scratch("paddock-captain-roles-");
  const workspace = join(dir, "ws");
  mkdirSync(join(dir, "prompts"), { recursive: true });
  mkdirSync(workspace);
  let upstream: ScriptedModel;
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  const plan = { subtasks: [{ title: "alpha", prompt: "Write alpha.txt", role: "implementer" }, { title: "review", prompt: "Review alpha.txt into review.txt", role: "reviewer" }] };

  before(async () => {
    upstream = await new ScriptedModel({ model: "qwen-coder", script: [{ system: /captain of 2 coding agents/, content: JSON.stringify(plan), repeat: true }] }).listen();
    // The implementer writes the file; the reviewer writes what its role told it, and answers with the section the role asks for.
    const implementer = 'echo "by $AGENT_ID" > alpha.txt; echo "{\\"outcome\\":\\"COMPLETE\\",\\"summary\\":\\"wrote alpha.txt\\"}"';
    const reviewer = 'printf %s "$PADDOCK_SYSTEM_PROMPT" > review.txt; echo "{\\"outcome\\":\\"COMPLETE\\",\\"summary\\":\\"reviewed\\",\\"sections\\":{\\"Risks\\":\\"none\\"}}"';
    writeFileSync(join(dir, "implementer.yaml"), `agent_id: impl\nworkspace: ${workspace}\nkind: command\ncommand: [sh, -c, ${JSON.stringify(implementer)}]\n`);
    writeFileSync(join(dir, "reviewer.yaml"), `agent_id: rev\nworkspace: ${workspace}\nkind: command\ncommand: [sh, -c, ${JSON.stringify(reviewer)}]\n`);
    writeFileSync(join(dir, "prompts", "reviewer.md"), "You review. Name the risks.");
    writeFileSync(
      join(dir, "paddock.yaml"),
      `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${upstream.url}" }\npaddock_settings: { listen: "127.0.0.1:0" }\nexecutor: { inactivity_timeout_seconds: 30 }\nroles:\n  implementer:\n    card: implementer.yaml\n    description: writes code\n  reviewer:\n    card: reviewer.yaml\n    description: reviews changes and names their risks\n    system_prompt_file: prompts/reviewer.md\n    sections: [Risks]\n    verify: test -s review.txt\n`,
    );
    daemon = await startDaemon(env, ["--gateway", join(dir, "paddock.yaml")]);
  });
  after(async () => {
    if (daemon) await stopDaemon(daemon.child);
    await upstream?.close();
  });

  it("plans with the roles offered and runs each subtask on a worker of its role, with the role's instructions, sections and verification", async () => {
    const r = await paddock(["captain", "Write alpha.txt and review it", "--workers", "2", "--card", join(dir, "implementer.yaml"), "--json"], { env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout) as CaptainReport;
    assert.deepEqual(report.results.map((x) => [x.title, x.role, x.state]), [["alpha", "implementer", "completed"], ["review", "reviewer", "completed"]]);
    assert.notEqual(report.results[0]!.worker, report.results[1]!.worker);
    // The planner was offered the roles, by description and as the schema's only choices.
    const planning = upstream.requests.find((q) => q.path === "/v1/chat/completions" && JSON.stringify(q.body.messages).includes("captain of 2"))!;
    assert.match(JSON.stringify(planning.body.messages), /- reviewer: reviews changes and names their risks/);
    assert.match(JSON.stringify(planning.body.response_format), /"enum":\["implementer","reviewer"\]/);
    // The reviewer's task ran in its role: its instructions reached the agent, its section and verification are in the run.
    assert.equal(readFileSync(join(workspace, "review.txt"), "utf8"), "You review. Name the risks.");
    const run = JSON.parse((await paddock(["runs", report.results[1]!.run_id!, "--json"], { env })).stdout) as { role: string; sections: Record<string, string>; verifications: Array<{ command: string; passed: boolean }> };
    assert.deepEqual([run.role, run.sections, run.verifications.map((v) => [v.command, v.passed])], ["reviewer", { Risks: "none" }, [["test -s review.txt", true]]]);
  });

  it("spawns in a role from the command line, and names the roles there are when asked for another", async () => {
    const worker = await paddock(["spawn", "--role", "reviewer", "--name", "solo", "--a2a", "--json"], { env });
    assert.equal(worker.code, 0, worker.stderr);
    const record = JSON.parse(worker.stdout) as { card: { agent_id: string; paddock_role: { name: string; sections: string[] } } };
    assert.deepEqual([record.card.paddock_role.name, record.card.paddock_role.sections], ["reviewer", ["Risks"]]);
    await paddock(["stop", "solo", "--grace", "1"], { env });
    const unknown = await paddock(["spawn", "--role", "tester"], { env });
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no role 'tester'[\s\S]*roles there: implementer, reviewer/);
  });
});
