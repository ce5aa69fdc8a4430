import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { diagnose, parseContract, readStreamResult } from "../src/executor/index.js";
import { startAgentStack, type AgentStack } from "./agent-helpers.js";
import { hostProcessesWith } from "./helpers.js";

const CONTRACT = '{"outcome":"COMPLETE","summary":"done"}';

describe("the result contract", () => {
  it("is found in a fenced block (the last valid one), the whole output, or the last balanced object", () => {
    assert.equal(parseContract('text\n```json\n{"outcome":"ERROR","summary":"first"}\n```\nmore\n```json\n{"outcome":"COMPLETE","summary":"last"}\n```')?.summary, "last");
    assert.equal(parseContract('```json\n{"outcome":"NEEDS_INFO","summary":"s","questions":["which file?"]}\n```\n```json\nnot json\n```')?.questions?.[0], "which file?");
    assert.equal(parseContract(`  ${CONTRACT}\n`)?.outcome, "COMPLETE");
    assert.equal(parseContract('I did it. {"outcome": "COMPLETE", "summary": "braces } in \\"strings\\" {"} trailing words')?.summary, 'braces } in "strings" {');
    assert.equal(parseContract('{"note": 1} then {"outcome":"COMPLETE","summary":"nested {\\"a\\": {}}"}')?.outcome, "COMPLETE");
  });

  it("is read from Claude Code's stream-json (contract: schema): the checked structured output, and a failed run's reason for the diagnosis", () => {
    const lines = [
      JSON.stringify({ type: "system", subtype: "init" }),
      JSON.stringify({ type: "assistant", message: { content: [{ type: "text", text: "Working." }, { type: "tool_use", name: "Bash", input: { command: "ls" } }] } }),
      "not json, kept as it is",
      JSON.stringify({ type: "result", subtype: "success", is_error: false, result: "", structured_output: { outcome: "COMPLETE", summary: "done" } }),
    ].join("\n");
    const read = readStreamResult(lines);
    assert.deepEqual(read.contract, { outcome: "COMPLETE", summary: "done" });
    assert.match(read.transcript, /^Working\.\n→ Bash \{"command":"ls"\}\nnot json, kept as it is\n/);
    const failed = readStreamResult(JSON.stringify({ type: "result", subtype: "success", is_error: true, result: 'API Error: 401 {"error":{"type":"authentication_error","message":"invalid API key"}}' }));
    assert.equal(failed.contract, undefined);
    assert.equal(diagnose(failed.transcript)?.category, "Auth");
    assert.equal(readStreamResult(JSON.stringify({ type: "result", subtype: "error_max_structured_output_retries", structured_output: { outcome: "DONE" } })).contract, undefined, "a result that breaks the contract is none");
  });

  it("is refused when it does not follow the schema", () => {
    assert.equal(parseContract('{"outcome":"DONE","summary":"x"}'), undefined);
    assert.equal(parseContract('{"outcome":"COMPLETE"}'), undefined);
    assert.equal(parseContract("All done, everything COMPLETE."), undefined);
    assert.equal(parseContract(""), undefined);
  });
});

describe("failure diagnosis", () => {
  const cases: Array<[string, string, boolean]> = [
    ["Error: Unable to connect. Is the computer able to access the url?", "Network", true],
    ["APICallError: connect ECONNREFUSED 127.0.0.1:4000", "Network", true],
    ['API Error: 401 {"error":{"type":"authentication_error","message":"invalid API key"}}', "Auth", true],
    ["Error: Config file at /home/agent/.config/opencode/opencode.json is invalid: ConfigInvalidError", "Config", true],
    ['{"error":{"message":"no route POST /v1/chat/completion"}} status 404', "Path", true],
    ["bwrap: execvp opencode: No such file or directory", "Path", true],
    ["The model `qwen-huge` does not exist.", "Model", false],
    ["API Error: 429 rate limit: tpm limit reached", "RateLimit", false],
  ];
  for (const [line, category, fatal] of cases) {
    it(`${category}: ${line.slice(0, 50)}`, () => {
      const d = diagnose(`some progress\n${line}\nmore`);
      assert.equal(d?.category, category);
      assert.equal(d?.fatal, fatal);
      assert.equal(d?.evidence, line);
      assert.ok(d.hint.length > 20);
    });
  }
  it("does not see failures in ordinary narrative", () => {
    assert.equal(diagnose("Ran 404 tests, 502 passed; fixed the connection pool; the model is good"), undefined);
  });
});

describe("the executor, with command agents against the real gateway", () => {
  let stack: AgentStack;
  const sh = (script: string, extra: Record<string, unknown> = {}) => stack.card({ kind: "command", command: ["sh", "-c", script], ...extra });

  before(async () => {
    stack = await startAgentStack({
      model: {
        script: [
          { system: /Extract ONLY a JSON object/, when: /recover-me/, content: '{"outcome":"COMPLETE","summary":"refactored the parser (from the narrative)"}', repeat: true },
          { system: /Extract ONLY a JSON object/, content: "I cannot tell.", repeat: true },
        ],
      },
    });
  });
  after(async () => stack?.close());

  it("recovers a result from a narrative with one structurer call, and records the run", async () => {
    const card = sh("echo 'recover-me: I refactored the parser and all tests pass.'");
    const before = stack.model.requests.length;
    const run = await stack.executor.run({ card, prompt: "Refactor the parser" });
    assert.equal(run.outcome, "COMPLETE");
    assert.equal(run.recovered, true);
    assert.equal(run.summary, "refactored the parser (from the narrative)");
    assert.equal(run.attempts.length, 1);
    const calls = stack.model.requests.slice(before).filter((r) => r.path === "/v1/chat/completions");
    assert.equal(calls.length, 1, "one structurer call");
    assert.equal(calls[0]!.body.tools, undefined, "the structurer has no tools");
    assert.deepEqual(calls[0]!.body.response_format, { type: "json_object" });
    assert.equal(run.requests, 1);
    assert.ok(run.input_tokens > 0 && run.output_tokens > 0);
    const stored = await stack.store.getRun(run.run_id);
    assert.deepEqual(stored, run);
    assert.equal(stored?.prompt, "Refactor the parser");
    assert.match(stored!.conversation, /recover-me[\s\S]*structurer[\s\S]*Recovered via the structurer/);
  });

  it("retries with a stricter instruction when the structurer cannot help", async () => {
    const card = sh(`case "$PADDOCK_PROMPT" in *IMPORTANT*) echo '${CONTRACT}';; *) echo 'did things, forgot the result';; esac`);
    const run = await stack.executor.run({ card, prompt: "Do it" });
    assert.equal(run.outcome, "COMPLETE");
    assert.equal(run.recovered, false);
    assert.deepEqual(run.attempts.map((a) => a.result), ["unparsed", "parsed"]);
  });

  it("verifies a COMPLETE: a passing command keeps it, a failing one makes it an ERROR with its output as the hint; the command has no model and no network", async () => {
    const card = sh(`echo bad > out.txt; echo '${CONTRACT}'`);
    const passing = await stack.executor.run({ card, prompt: "Write out.txt", verify: { command: "grep -q bad out.txt", retries: 0 } });
    assert.equal(passing.outcome, "COMPLETE");
    assert.deepEqual(passing.verifications?.map((v) => [v.passed, v.exit_code]), [[true, 0]]);
    // What a verification sees: the agent's workspace, and neither the gateway's variables nor any way out.
    const failing = await stack.executor.run({ card, prompt: "Write out.txt", verify: { command: `echo "model: [$OPENAI_BASE_URL] proxy: [$HTTPS_PROXY]"; cat /proc/net/tcp | wc -l; echo "out.txt: $(cat out.txt)"; exit 3`, retries: 0 } });
    assert.equal(failing.outcome, "ERROR");
    assert.equal(failing.error?.category, "Verification");
    assert.match(failing.error!.message, /exited with 3/);
    assert.match(failing.error!.hint, /model: \[\] proxy: \[\]\n1\nout\.txt: bad/, "no gateway, no proxy, nothing listening: only /proc/net/tcp's header line");
    assert.equal(failing.verifications?.[0]?.exit_code, 3);
    assert.deepEqual(await stack.store.getRun(failing.run_id), failing);
  });

  it("gives the failed verification's output to one more attempt (retries), which can fix it", async () => {
    const card = sh(`if echo "$PADDOCK_PROMPT" | grep 'out.txt says'; then echo good > out.txt; else echo bad > out.txt; fi; echo '${CONTRACT}'`);
    const run = await stack.executor.run({ card, prompt: "Make out.txt good", verify: { command: `grep -q good out.txt || { echo "out.txt says: $(cat out.txt)"; exit 1; }`, retries: 1 } });
    assert.equal(run.outcome, "COMPLETE", JSON.stringify(run.error));
    assert.deepEqual(run.verifications?.map((v) => v.passed), [false, true]);
    assert.equal(run.attempts.length, 2);
    assert.match(run.conversation, /--- attempt 1 \(parsed\) ---[\s\S]*out\.txt says: bad/, "the second attempt was given what the verification printed");
    const stubborn = sh(`echo bad > out.txt; echo '${CONTRACT}'`);
    const failed = await stack.executor.run({ card: stubborn, prompt: "Make out.txt good", verify: { command: "grep -q good out.txt", retries: 1 } });
    assert.equal(failed.outcome, "ERROR");
    assert.deepEqual(failed.verifications?.map((v) => v.passed), [false, false]);
  });

  it("does a task in a role: its instructions reach the agent, and a result without the role's sections is asked for again", async () => {
    const card = sh(`echo "told: $PADDOCK_SYSTEM_PROMPT"; case "$PADDOCK_PROMPT" in *IMPORTANT*) echo '{"outcome":"COMPLETE","summary":"reviewed","sections":{"Risks":"none","Tests":"added one"}}';; *) echo '{"outcome":"COMPLETE","summary":"reviewed","sections":{"Risks":"none"}}';; esac`);
    const role = { name: "reviewer", systemPrompt: "You review; list risks.", sections: ["Risks", "Tests"] };
    const run = await stack.executorWith({ structurer: false }).run({ card, prompt: "Review the change", role });
    assert.equal(run.outcome, "COMPLETE", JSON.stringify(run.error));
    assert.equal(run.role, "reviewer");
    assert.deepEqual(run.sections, { Risks: "none", Tests: "added one" });
    assert.deepEqual(run.attempts.map((a) => a.result), ["incomplete (no Tests)", "parsed"]);
    assert.match(run.conversation, /told: You review; list risks\./);
    const never = sh(`echo '{"outcome":"COMPLETE","summary":"reviewed"}'`);
    const failed = await stack.executorWith({ structurer: false, max_retries: 1 }).run({ card: never, prompt: "Review", role });
    assert.equal(failed.outcome, "ERROR");
    assert.equal(failed.error?.category, "Contract");
    assert.match(failed.error!.message, /lacks the sections the role reviewer asks for: Risks, Tests/);
  });

  it("gives up after the bounded retries, with the output kept", async () => {
    const card = sh("echo 'never a contract'");
    const run = await stack.executorWith({ max_retries: 1, structurer: false }).run({ card, prompt: "Do it" });
    assert.equal(run.outcome, "ERROR");
    assert.equal(run.error?.category, "Contract");
    assert.equal(run.attempts.length, 2);
    assert.match(run.conversation, /never a contract[\s\S]*never a contract/);
  });

  it("fails at once on a Network failure: no structurer, no retry", async () => {
    const card = sh("echo 'working...'; echo 'Error: Unable to connect. Is the computer able to access the url?' >&2; exit 1");
    const before = stack.model.requests.filter((r) => r.path === "/v1/chat/completions").length;
    const run = await stack.executor.run({ card, prompt: "Do it" });
    assert.equal(run.outcome, "ERROR");
    assert.equal(run.error?.category, "Network");
    assert.match(run.error!.hint, /unreachable/);
    assert.deepEqual(run.attempts.map((a) => a.result), ["fatal"]);
    assert.equal(stack.model.requests.filter((r) => r.path === "/v1/chat/completions").length, before, "no model call was made");
  });

  it("keeps retrying a Model failure, which a slow-starting server may fix", async () => {
    const card = sh("echo 'The model `qwen-huge` does not exist.' >&2; exit 1");
    const run = await stack.executorWith({ max_retries: 2, structurer: false }).run({ card, prompt: "Do it" });
    assert.equal(run.attempts.length, 3);
    assert.equal(run.error?.category, "Model");
  });

  it("ends an agent that prints nothing for inactivity_timeout_seconds, with its whole tree", async () => {
    const card = sh("echo started; sleep 31.4159 & sleep 31.4159");
    const started = performance.now();
    const run = await stack.executorWith({ inactivity_timeout_seconds: 1 }).run({ card, prompt: "Do it" });
    assert.ok(performance.now() - started < 10_000);
    assert.equal(run.error?.category, "Timeout");
    assert.match(run.error!.message, /printed nothing for 1 s/);
    assert.deepEqual(run.attempts.map((a) => a.result), ["inactive"]);
    assert.deepEqual(hostProcessesWith("31.4159"), []);
  });

  it("ends an agent at timeout_seconds even while it prints", async () => {
    const card = sh("while true; do echo tick; sleep 0.2; done");
    const run = await stack.executorWith({ timeout_seconds: 1.5, inactivity_timeout_seconds: 1 }).run({ card, prompt: "Do it" });
    assert.equal(run.error?.category, "Timeout");
    assert.match(run.error!.message, /ran for 1.5 s/);
    assert.ok(run.conversation.split("tick").length > 4);
  });

  it("runs a tool named by its absolute host path, wherever it lives (here under /tmp, which is the sandbox's own)", async () => {
    const tool = join(stack.dir, "my-id");
    copyFileSync("/usr/bin/id", tool);
    const card = stack.card({ kind: "command", tools: ["sh", tool], command: ["sh", "-c", `my-id -u && /opt/paddock/bin/my-id -g && echo '${CONTRACT}'`] });
    const run = await stack.executor.run({ card, prompt: "Who am I?" });
    assert.equal(run.outcome, "COMPLETE", run.conversation);
    assert.match(run.conversation, /^1000\n1000\n/m);
  });

  it("reports the files a task changed, from the workspace's git state", async () => {
    const card = sh(`echo changed >> kept.txt && rm gone.txt && echo new > new.txt && mkdir -p out && echo x > out/a.txt && echo '${CONTRACT}'`);
    const git = (...args: string[]) => execFileSync("git", ["-C", card.workspace, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    git("init", "-q");
    writeFileSync(join(card.workspace, "kept.txt"), "kept\n");
    writeFileSync(join(card.workspace, "gone.txt"), "gone\n");
    writeFileSync(join(card.workspace, "untouched.txt"), "same\n");
    git("add", ".");
    git("commit", "-qm", "base");
    const run = await stack.executor.run({ card, prompt: "Change files" });
    assert.deepEqual(run.changed_files, [
      { path: "gone.txt", status: "deleted" },
      { path: "kept.txt", status: "modified" },
      { path: "new.txt", status: "added" },
      { path: "out/a.txt", status: "added" },
    ]);
    assert.equal(readFileSync(join(card.workspace, "kept.txt"), "utf8"), "kept\nchanged\n");
  });

  for (const backend of ["bwrap", "gvisor"] as const) it(`keeps a card's caches per agent, across runs, outside the workspace: never changed files, and the workspace's own copy untouched (${backend})`, async () => {
    const card = sh(`cat /proc/version; ls node_modules .gradle/ 2>&1 | sed 's/^/saw: /'; n=$(cat node_modules/count 2>/dev/null || echo 0); echo $((n + 1)) > node_modules/count; mkdir -p node_modules/pkg && echo 'module.exports = 1' > node_modules/pkg/index.js; echo kept > .gradle/state; echo '${CONTRACT}'`, { caches: ["node_modules", "./.gradle/"], backend });
    const git = (...args: string[]) => execFileSync("git", ["-C", card.workspace, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    git("init", "-q");
    mkdirSync(join(card.workspace, "node_modules"));
    writeFileSync(join(card.workspace, "node_modules", "host-copy"), "the workspace's own\n");
    writeFileSync(join(card.workspace, "README"), "r\n");
    git("add", "README");
    git("commit", "-qm", "base");
    const first = await stack.executor.run({ card, prompt: "Install" });
    assert.equal(first.outcome, "COMPLETE");
    assert.deepEqual(first.changed_files, [], "what went into the caches is no change of the workspace");
    assert.doesNotMatch(first.conversation, /saw: host-copy/, "the cache shadows the workspace's folder");
    // gVisor's kernel names itself, whatever the host runs: the run was in the backend the card asked for.
    assert.equal(/^Linux version \S+-gvisor /m.test(first.conversation), backend === "gvisor", first.conversation.split("\n")[1]);
    const second = await stack.executor.run({ card, prompt: "Install again" });
    assert.match(second.conversation, /saw: count[\s\S]*saw: pkg/, "the second run finds the first one's install");
    assert.deepEqual(second.changed_files, []);
    const cache = join(stack.paths.data, "caches", card.agent_id);
    assert.equal(readFileSync(join(cache, "node_modules", "count"), "utf8"), "2\n");
    assert.equal(readFileSync(join(cache, ".gradle", "state"), "utf8"), "kept\n");
    assert.deepEqual(readdirSync(join(card.workspace, "node_modules")), ["host-copy"], "the workspace's own folder is as it was");
  });
});

describe("the executor's pool per upstream deployment", () => {
  const interval = "date +%s%N > /workspace/start; sleep 1; date +%s%N > /workspace/end; echo '" + CONTRACT + "'";
  const times = (workspace: string) => [Number(readFileSync(join(workspace, "start"), "utf8")), Number(readFileSync(join(workspace, "end"), "utf8"))] as const;

  for (const [slots, overlap] of [[1, false], [2, true]] as const) {
    it(`${slots === 1 ? "runs two tasks one after the other against a one-slot upstream" : "runs them side by side when the upstream has two slots"}`, async () => {
      const stack = await startAgentStack({ deployment: { litellm_params: { max_parallel_requests: slots } } });
      try {
        const cards = [0, 1].map(() => stack.card({ kind: "command", command: ["sh", "-c", interval], model: "qwen-coder" }));
        const runs = await Promise.all(cards.map((card) => stack.executor.run({ card, prompt: "Take a second" })));
        assert.deepEqual(runs.map((r) => r.outcome), ["COMPLETE", "COMPLETE"]);
        const [a, b] = cards.map((c) => times(c.workspace)) as [readonly [number, number], readonly [number, number]];
        const overlapped = a[0] < b[1] && b[0] < a[1];
        assert.equal(overlapped, overlap, JSON.stringify({ a, b }));
      } finally {
        await stack.close();
      }
    });
  }
});

describe("the executor, when the model server is down", () => {
  it("does not start the agent when no server of its model takes connections, and says so at once", async () => {
    const stack = await startAgentStack({ deployment: { litellm_params: { api_base: "http://127.0.0.1:9/v1" } } });
    try {
      const card = stack.card({ kind: "command", command: ["sh", "-c", "echo started > /workspace/started"], tools: ["sh", "coreutils"] });
      const run = await stack.executor.run({ card, prompt: "Do it" });
      assert.equal(run.outcome, "ERROR");
      assert.equal(run.error?.category, "Network");
      assert.match(run.error!.message, /no deployment of 'qwen-coder' takes connections: 127\.0\.0\.1:9: ECONNREFUSED/);
      assert.match(run.error!.hint, /unreachable/);
      assert.deepEqual(run.attempts, []);
      assert.equal(existsSync(join(card.workspace, "started")), false, "the agent never ran");
    } finally {
      await stack.close();
    }
  });

  it("ends the attempt as soon as the gateway finds no server answering the run's key, instead of letting the agent retry", async () => {
    const stack = await startAgentStack({ model: { script: [{ fail: 503, repeat: true }] } });
    try {
      // An agent that retries a failed model call forever, as OpenCode does every few seconds.
      const ask = `curl -s -o /dev/null -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' -d '{"model":"qwen-coder","messages":[{"role":"user","content":"hi"}]}' "$OPENAI_BASE_URL/chat/completions"`;
      const card = stack.card({ kind: "command", command: ["sh", "-c", `while :; do ${ask}; echo asked; sleep 2; done`], tools: ["sh", "coreutils", "curl"] });
      const run = await stack.executor.run({ card, prompt: "Do it" });
      assert.equal(run.error?.category, "Network");
      assert.match(run.error!.message, /the model server did not answer: no deployment of 'qwen-coder' answered: .*503/);
      assert.deepEqual(run.attempts.map((a) => a.result), ["upstream"]);
      assert.ok(run.attempts[0]!.duration_ms < 10_000, `the agent ran ${run.attempts[0]!.duration_ms} ms`);
      assert.deepEqual(hostProcessesWith(card.workspace), [], "the agent's tree is gone");
    } finally {
      await stack.close();
    }
  });
});
