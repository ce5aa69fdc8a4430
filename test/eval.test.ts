import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { compareCandidates, wilson, type EvalReport } from "../src/eval/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { openStore, runSummaryOf, type RunRecord } from "../src/store/index.js";
import { paddock, ROOT, scratch } from "./helpers.js";

const CONTRACT = '{"outcome":"COMPLETE","summary":"done"}';

/** A git repository with a bug for candidates to fix, and the example workspace's README for the smoke model's script. */
function repository(dir: string): { repo: string; git: (...args: string[]) => string } {
  const repo = join(dir, "repo");
  mkdirSync(repo, { recursive: true });
  const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" });
  git("init", "-q", "-b", "main");
  writeFileSync(join(repo, "date.sh"), "echo buggy\n");
  writeFileSync(join(repo, "README.md"), readFileSync(join(ROOT, "examples", "workspace", "README.md")));
  git("add", ".");
  git("commit", "-qm", "base");
  return { repo, git };
}

function commandCard(dir: string, name: string, script: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `agent_id: ${name}\nworkspace: .\nkind: command\ncommand: [sh, -c, ${JSON.stringify(`${script}\necho '${CONTRACT}'`)}]\n`);
  return file;
}

describe("paddock eval: one task, several candidates side by side, verified", () => {
  const { dir, env } = scratch("paddock-eval-");
  const cliEnv = { ...env, HOME: dir, XDG_CONFIG_HOME: join(dir, "config") };
  const { repo, git } = repository(dir);
  const fixer = commandCard(dir, "fixer", "sleep 1; echo 'echo fixed' > date.sh");
  const liar = commandCard(dir, "liar", "sleep 1; echo lies > liar.txt");
  const task = join(dir, "task.yaml");
  writeFileSync(task, `prompt: Fix date.sh so that it prints fixed\nverify: sh date.sh | grep -q fixed\nworkspace: repo\n`);

  it("runs each candidate in its own clone at one commit, in parallel, and names the one whose verification passed the winner", async () => {
    const r = await paddock(["eval", "--task", task, "--candidates", `${fixer},${liar}`, "--repeat", "2", "--json"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as EvalReport;
    assert.equal(report.winner, "fixer");
    assert.equal(report.base, git("rev-parse", "HEAD").trim());
    const [fixed, lied] = report.candidates;
    assert.deepEqual([fixed!.name, fixed!.runs, fixed!.passed, fixed!.verified, fixed!.outcomes], ["fixer", 2, 2, 2, { COMPLETE: 2 }]);
    assert.deepEqual([lied!.name, lied!.passed, lied!.verified, lied!.outcomes, lied!.pass_interval], ["liar", 0, 0, { ERROR: 2 }, wilson(0, 2)]);
    assert.equal(fixed!.changed_lines, 2, "the diff's one line out, one in");

    // Every run had its own clone: no candidate saw another's work, and the repository saw none.
    for (const ws of fixed!.workspaces) assert.deepEqual([readFileSync(join(ws, "date.sh"), "utf8"), existsSync(join(ws, "liar.txt"))], ["echo fixed\n", false]);
    for (const ws of lied!.workspaces) assert.deepEqual([readFileSync(join(ws, "date.sh"), "utf8"), existsSync(join(ws, "liar.txt"))], ["echo buggy\n", true]);
    assert.equal(new Set([...fixed!.workspaces, ...lied!.workspaces]).size, 4);
    assert.deepEqual([readFileSync(join(repo, "date.sh"), "utf8"), git("status", "--porcelain"), git("branch", "--format=%(refname:short)").trim()], ["echo buggy\n", "", "main"]);

    // Recorded as candidate runs; the liar's verification failed for the right reason.
    const runs: RunRecord[] = await Promise.all([...fixed!.run_ids, ...lied!.run_ids].map(async (id) => JSON.parse((await paddock(["runs", id, "--json"], { env: cliEnv })).stdout)));
    assert.deepEqual(runs.map((run) => [run.candidate?.name, run.candidate?.repeat, run.candidate?.eval_id]), [["fixer", 1, report.eval_id], ["fixer", 2, report.eval_id], ["liar", 1, report.eval_id], ["liar", 2, report.eval_id]]);
    assert.deepEqual([runs[2]!.error?.category, runs[2]!.verifications?.[0]?.exit_code], ["Verification", 1]);
    // The two candidates of a round ran at once (each sleeps 1 s).
    const span = (run: RunRecord) => [Date.parse(run.created_at), Date.parse(run.ended_at!)] as const;
    assert.ok(span(runs[0]!)[0] < span(runs[2]!)[1] && span(runs[2]!)[0] < span(runs[0]!)[1], "fixer #1 and liar #1 overlapped");
    // One-shot candidates leave no HOME behind.
    assert.deepEqual(readdirSync(join(env.PADDOCK_HOME!, "data", "homes")).filter((h) => h.startsWith("eval-")), []);

    const compared = await paddock(["runs", "compare"], { env: cliEnv });
    assert.equal(compared.code, 0, compared.stderr);
    assert.match(compared.stdout, /fixer\s+paddock-smoke-test\s+prompt\s+1\/1 100% \[21%–100%\]\s+2\/2 100%/);
  });

  it("runs the real OpenCode on the built-in model beside a candidate that does nothing: OpenCode's verified work wins", async () => {
    const smoke = join(dir, "smoke.yaml");
    writeFileSync(smoke, "prompt: Summarise README.md into SMOKE-TEST.md\nverify: grep -q 'paddock smoke test' SMOKE-TEST.md\nworkspace: repo\n");
    const candidate = join(dir, "opencode.yaml");
    writeFileSync(candidate, `name: opencode\ncard: ${join(ROOT, "examples", "cards", "opencode.yaml")}\n`);
    const r = await paddock(["eval", "--task", smoke, "--candidates", `${candidate},${commandCard(dir, "idle", "true")}`], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^opencode\s+demo-opencode\s+paddock-smoke-test\s+prompt\s+1\/1 100%/m);
    assert.match(r.stdout, /^idle\s+idle\s+\S+\s+prompt\s+0\/1 0%/m);
    assert.match(r.stdout, /^winner: opencode$/m);
    assert.match(r.stderr, /opencode #1: verification passed/);
    assert.match(r.stderr, /idle #1: ERROR \(Verification\)/);
  });

  it("exits 1 when no candidate passed", async () => {
    const r = await paddock(["eval", "--task", task, "--candidates", liar, "-q"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /no winner: no candidate's run passed/);
  });

  it("says what is wrong with a task or candidates, and where, before anything runs", async () => {
    const bad = join(dir, "bad-task.yaml");
    writeFileSync(bad, "verify: true\nworkspace: repo\nrepeats: 3\n");
    const noPrompt = await paddock(["eval", "--task", bad, "--candidates", fixer], { env: cliEnv });
    assert.equal(noPrompt.code, 125);
    assert.match(noPrompt.stderr, /bad-task\.yaml.*prompt/);
    assert.match(noPrompt.stderr, /bad-task\.yaml:3.*repeats/);
    const twice = await paddock(["eval", "--task", task, "--candidates", `${fixer},${fixer}`], { env: cliEnv });
    assert.equal(twice.code, 125);
    assert.match(twice.stderr, /two candidates are named fixer/);
    const missing = await paddock(["eval", "--task", task, "--candidates", join(dir, "nope.yaml")], { env: cliEnv });
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /nope\.yaml.*no such file/);
    const outside = await paddock(["eval", "--task", task, "--candidates", fixer, "--workspace", join(dir, "config")], { env: cliEnv });
    assert.equal(outside.code, 125);
    assert.match(outside.stderr, /in no git repository/);
    const schemaOnOpenCode = join(dir, "schema-opencode.yaml");
    writeFileSync(schemaOnOpenCode, `card: ${join(ROOT, "examples", "cards", "opencode.yaml")}\ncontract: schema\n`);
    const wrongMode = await paddock(["eval", "--task", task, "--candidates", schemaOnOpenCode], { env: cliEnv });
    assert.equal(wrongMode.code, 125);
    assert.match(wrongMode.stderr, /schema-opencode\.yaml: contract.*needs Claude Code's --json-schema/);
    const zero = await paddock(["eval", "--task", task, "--candidates", fixer, "--repeat", "0"], { env: cliEnv });
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--repeat.*at least 1/);
  });
});

describe("paddock runs compare: win rates from recorded evaluations", () => {
  const { dir, env } = scratch("paddock-compare-");
  const store = openStore(paddockPaths(env));
  after(() => store.close());

  let n = 0;
  const seed = (evalId: string, name: string, fields: Partial<RunRecord> & { role?: string }) =>
    store.saveRun({
      run_id: `run-${++n}`, agent_id: `eval-x-${name}-1`, state: "finished", prompt: "p", model: name === "a" ? "qwen" : "llama", outcome: "COMPLETE", summary: "s", questions: [], recovered: false,
      attempts: [], error: null, changed_files: [], input_tokens: 100, output_tokens: 10, requests: 1, duration_ms: 1000, conversation: "", created_at: `2026-12-01T10:00:${String(n).padStart(2, "0")}.000Z`, ended_at: null,
      candidate: { eval_id: evalId, name, card: `card-${name}`, repeat: 1 }, ...fields,
    });

  it("finds each evaluation's winner as eval does and gives rates with Wilson intervals, per role", async () => {
    // e1: only a passes; e2: both pass, a faster; e3: only b passes; e4 (another role): b; and a run of no evaluation.
    await seed("e1", "a", { role: "impl" });
    await seed("e1", "b", { role: "impl", outcome: "ERROR" });
    await seed("e2", "a", { role: "impl", duration_ms: 500 });
    await seed("e2", "b", { role: "impl", duration_ms: 900 });
    await seed("e3", "a", { role: "impl", outcome: "ERROR" });
    await seed("e3", "b", { role: "impl" });
    await seed("e4", "b", { role: "review" });
    await seed("e4", "a", { role: "review", outcome: "ERROR" });
    await store.saveRun({ ...(await store.getRun("run-1"))!, run_id: "plain", candidate: undefined });

    const rows = compareCandidates((await store.runSummaries({ candidates: true, limit: 100 })).filter((r) => r.role === "impl"));
    assert.deepEqual(rows.map((r) => [r.card, r.model, r.wins, r.evaluations, r.passed, r.runs]), [["card-a", "qwen", 2, 3, 2, 3], ["card-b", "llama", 1, 3, 2, 3]]);
    assert.deepEqual(rows[0]!.win_interval, [0.208, 0.939]);

    const r = await paddock(["runs", "compare", "--role", "impl"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^impl\s+card-a\s+qwen\s+prompt\s+2\/3 67% \[21%–94%\]\s+2\/3 67%/m);
    assert.match(r.stdout, /^impl\s+card-b\s+llama\s+prompt\s+1\/3 33% \[6%–79%\]/m);
    assert.doesNotMatch(r.stdout, /review/);
    const all = JSON.parse((await paddock(["runs", "compare", "--json"], { env })).stdout) as Array<{ role: string; card: string; wins: number }>;
    assert.deepEqual(all.filter((row) => row.role === "review").map((row) => [row.card, row.wins]), [["card-b", 1], ["card-a", 0]]);
    assert.equal(runSummaryOf((await store.getRun("plain"))!).candidate, undefined);
    void dir;
  });

  it("computes Wilson intervals that match the published values", () => {
    assert.deepEqual(wilson(5, 10), [0.237, 0.763]);
    assert.deepEqual(wilson(0, 10), [0, 0.278]);
    assert.deepEqual(wilson(10, 10), [0.722, 1]);
    assert.deepEqual(wilson(0, 0), [0, 1]);
  });
});
