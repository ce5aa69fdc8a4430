import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ScriptedModel, smokeTestScript } from "../src/scripted/index.js";
import type { RunRecord } from "../src/store/index.js";
import { paddock, ROOT, scratch } from "./helpers.js";

const EXAMPLE_CARD = join(ROOT, "examples", "cards", "opencode.yaml");

describe("paddock run: the main job from the command line", () => {
  const { dir, env } = scratch("paddock-run-");
  // No paddock.yaml where paddock looks: in the working folder, or in XDG_CONFIG_HOME.
  const cliEnv = { ...env, HOME: dir, XDG_CONFIG_HOME: join(dir, "config") };
  const workspace = (name: string) => {
    const target = join(dir, name);
    cpSync(join(ROOT, "examples", "workspace"), target, { recursive: true, filter: (source) => !source.endsWith("SMOKE-TEST.md") });
    return target;
  };

  it("runs the example OpenCode card end to end on the built-in scripted model, labelled as a smoke test", async () => {
    const ws = workspace("smoke");
    const r = await paddock(["run", "--card", EXAMPLE_CARD, "--workspace", ws, "--json", "--verify", "grep -q 'paddock smoke test' SMOKE-TEST.md", "Summarise README.md"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /SMOKE TEST/);
    // Progress for people on stderr; paddock's structured logs in its log file, not among them.
    assert.doesNotMatch(r.stderr, /^\{/m);
    assert.match(readFileSync(join(env.PADDOCK_HOME!, "data", "logs", "paddock.log"), "utf8"), /"agent_id":"demo-opencode".*"msg":"task finished"/);
    const run = JSON.parse(r.stdout) as RunRecord;
    assert.equal(run.outcome, "COMPLETE");
    assert.equal(run.model, "paddock-smoke-test");
    assert.deepEqual(run.changed_files, [{ path: "SMOKE-TEST.md", status: "added" }]);
    assert.deepEqual(run.verifications?.map((v) => [v.command, v.passed]), [["grep -q 'paddock smoke test' SMOKE-TEST.md", true]], "--verify ran after the COMPLETE");
    assert.match(readFileSync(join(ws, "SMOKE-TEST.md"), "utf8"), /paddock smoke test/);
    // The bash tool's real output: wc counted the lines of both files inside the sandbox.
    assert.match(run.conversation, /\d+ README\.md\s+3 SMOKE-TEST\.md/);
    assert.ok(run.requests >= 4);

    const shown = await paddock(["runs", run.run_id, "--json"], { env: cliEnv });
    assert.deepEqual(JSON.parse(shown.stdout), run);
    const listed = await paddock(["runs"], { env: cliEnv });
    assert.match(listed.stdout, new RegExp(`${run.run_id}\\s+demo-opencode\\s+finished\\s+COMPLETE`));
  });

  describe("with a paddock.yaml naming a model server", () => {
    let upstream: ScriptedModel;
    before(async () => {
      upstream = await new ScriptedModel({ model: "qwen-coder", maxModelLen: 32768, script: smokeTestScript() }).listen();
    });
    after(async () => upstream?.close());

    it("uses that server instead, and says nothing of a smoke test", async () => {
      const config = join(dir, "project");
      mkdirSync(config, { recursive: true });
      writeFileSync(join(config, "paddock.yaml"), `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${upstream.url}" }\nexecutor:\n  inactivity_timeout_seconds: 120\n`);
      const ws = workspace("configured");
      const r = await paddock(["run", "--card", EXAMPLE_CARD, "--workspace", ws, "--json", "Summarise README.md"], { env: { ...cliEnv, PADDOCK_LOG: "json" }, cwd: config });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /SMOKE TEST/);
      // PADDOCK_LOG=json: the structured logs on stderr, as JSON lines, with the agent id.
      const logged = r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(logged.some((l) => l.msg === "task finished" && l.agent_id === "demo-opencode"), r.stderr);
      const run = JSON.parse(r.stdout) as RunRecord;
      assert.equal(run.model, "qwen-coder");
      // The file names no master key: the run's own key was still checked, and every request billed to it.
      const chats = upstream.requests.filter((q) => q.path === "/v1/chat/completions").length;
      assert.ok(chats >= 4);
      assert.equal(run.requests, chats);
      assert.ok(upstream.requests.some((q) => q.path === "/v1/chat/completions"));
      assert.ok(existsSync(join(ws, "SMOKE-TEST.md")));
    });
  });

  it("does a task in a role of paddock.yaml: its card, instructions, sections and verification; an unknown role is refused with the known ones", async (t) => {
    const project = join(dir, "roles");
    mkdirSync(join(project, "prompts"), { recursive: true });
    const ws = workspace("role-ws");
    const script = `echo "told: $PADDOCK_SYSTEM_PROMPT"; echo looked > review.txt; echo '{"outcome":"COMPLETE","summary":"reviewed","sections":{"Risks":"none found"}}'`;
    writeFileSync(join(project, "reviewer.json"), JSON.stringify({ agent_id: "reviewer", workspace: ws, kind: "command", command: ["sh", "-c", script], tools: ["sh", "coreutils"] }));
    writeFileSync(join(project, "prompts", "reviewer.md"), "You review changes and name their risks.\n");
    const model = await new ScriptedModel({ model: "m" }).listen();
    t.after(() => model.close());
    writeFileSync(
      join(project, "paddock.yaml"),
      `model_list:\n  - model_name: m\n    litellm_params: { model: openai/m, api_base: "${model.url}" }\nroles:\n  reviewer:\n    card: reviewer.json\n    system_prompt_file: prompts/reviewer.md\n    sections: [Risks]\n    verify: test -s review.txt\n`,
    );
    // From another folder: the role's files are found beside paddock.yaml.
    const r = await paddock(["run", "--config", join(project, "paddock.yaml"), "--role", "reviewer", "--json", "Review the last change"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 0, `${r.stderr}${r.stdout}`);
    const run = JSON.parse(r.stdout) as RunRecord;
    assert.equal(run.role, "reviewer");
    assert.equal(run.agent_id, "reviewer");
    assert.deepEqual(run.sections, { Risks: "none found" });
    assert.match(run.conversation, /told: You review changes and name their risks\./);
    assert.deepEqual(run.verifications?.map((v) => [v.command, v.passed]), [["test -s review.txt", true]]);

    const unknown = await paddock(["run", "--config", join(project, "paddock.yaml"), "--role", "designer", "hi"], { env: cliEnv, cwd: dir });
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /no role 'designer'.*\n.*roles there: reviewer/);
    const neither = await paddock(["run", "hi"], { env: cliEnv, cwd: dir });
    assert.equal(neither.code, 125);
    assert.match(neither.stderr, /give the agent's card \(--card FILE\) or a role of paddock\.yaml \(--role NAME\)/);
  });

  it("refuses bad input with what is wrong and where, and runs nothing", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "agent_id: Bad_Id\nworkspace: .\nkind: opencode\n");
    let r = await paddock(["run", "--card", bad, "hi"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 125, "paddock could not run the agent, as --help says: not 1, an agent's ERROR");
    assert.match(r.stderr, /bad\.yaml:1:\d+.*agent_id/);
    const help = await paddock(["run", "--help"], { env: cliEnv });
    assert.match(help.stdout, /125 +paddock could not run the agent: an invalid card/);

    r = await paddock(["run", "--card", join(dir, "missing.yaml"), "hi"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /missing\.yaml: cannot read card: no such file/);

    // paddock.yaml is read as carefully as a card: file:line:column, the field, and the closest known key.
    const typo = join(dir, "typo.yaml");
    writeFileSync(typo, "model_list:\n  - model_name: m\n    litellm_params: { model: openai/m, api_base: http://127.0.0.1:9/v1 }\nexecutor:\n  timeout_secs: 5\n");
    r = await paddock(["run", "--card", EXAMPLE_CARD, "--config", typo, "hi"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 125);
    assert.equal(r.stderr.trim(), `paddock: ${typo}:5:3: executor.timeout_secs: unknown field (did you mean 'timeout_seconds'?)`);

    r = await paddock(["run", "--card", EXAMPLE_CARD, "--config", join(dir, "nope.yaml"), "hi"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /nope\.yaml does not exist/);

    const badConfig = join(dir, "bad-config.yaml");
    writeFileSync(badConfig, "model_list:\n  - model_name: m\n    litellm_params: { model: openai/m, api_base: http://127.0.0.1:9/v1 }\nexecutor:\n  timeout_seconds: -1\n");
    r = await paddock(["run", "--card", EXAMPLE_CARD, "--config", badConfig, "hi"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /bad-config\.yaml:5:3: executor\.timeout_seconds: /);

    r = await paddock(["run", "--card", EXAMPLE_CARD, "--workspace", workspace("unknown-model"), "--model", "gpt-9", "hi"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /serves no model 'gpt-9' \(it serves paddock-smoke-test\)/);

    r = await paddock(["run", "--card", EXAMPLE_CARD], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument 'prompt'/);
  });
});
