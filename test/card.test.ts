import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CardError, DEFAULT_TOOLS, loadCard } from "../src/card/index.js";
import { paddock, ROOT, scratch } from "./helpers.js";

const SEEDS = join(ROOT, "test", "fixtures", "seed-cards");

async function problemsOf(file: string) {
  try {
    await loadCard(file);
  } catch (err) {
    assert.ok(err instanceof CardError, `expected a CardError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail(`${file} was accepted`);
}

describe("agent cards", () => {
  it("accepts every example card of the seeds unchanged, with the seeds' defaults", async () => {
    const files = readdirSync(SEEDS);
    assert.ok(files.length >= 6);
    for (const file of files) {
      const { card } = await loadCard(join(SEEDS, file));
      assert.match(card.agent_id, /^[a-z0-9-]+$/);
    }
    const { card } = await loadCard(join(SEEDS, "dev-agent.json"));
    assert.equal(card.api_provider, "anthropic");
    assert.equal(card.proxy, "http://127.0.0.1:3128");
    assert.deepEqual(card.resource_limits, { memory_mb: 4096, cpu_shares: 1024, max_processes: 50, max_open_files: 1024 });
    assert.equal(card.ttl_seconds, 0);
    assert.deepEqual(card.environment, {});
    assert.deepEqual(card.tools, [...DEFAULT_TOOLS]);
    assert.equal(card.backend, "bwrap");
  });

  it("reads JSON, YAML and TOML into the same card, resolving relative paths against the card's folder", async () => {
    const { dir } = scratch();
    writeFileSync(join(dir, "a.json"), JSON.stringify({ agent_id: "same", workspace: "ws", resource_limits: { memory_mb: 512 } }));
    writeFileSync(join(dir, "a.yaml"), "agent_id: same\nworkspace: ws\nresource_limits:\n  memory_mb: 512\n");
    writeFileSync(join(dir, "a.toml"), 'agent_id = "same"\nworkspace = "ws"\n[resource_limits]\nmemory_mb = 512\n');
    const cards = await Promise.all(["a.json", "a.yaml", "a.toml"].map(async (f) => (await loadCard(join(dir, f))).card));
    assert.deepEqual(cards[1], cards[0]);
    assert.deepEqual(cards[2], cards[0]);
    assert.equal(cards[0]!.workspace, join(dir, "ws"));
  });

  it("locates each problem by file, line and field in YAML", async () => {
    const { dir } = scratch();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "agent_id: Bad_Name\nworkspace: /w\nresource_limits:\n  memory_mb: lots\n  max_proceses: 5\nkind: command\n");
    const problems = await problemsOf(file);
    const byField = Object.fromEntries(problems.map((p) => [p.field, p]));
    assert.equal(byField["agent_id"]?.line, 1);
    assert.match(byField["agent_id"]!.message, /\^\[a-z0-9-\]\+\$/);
    assert.equal(byField["resource_limits.memory_mb"]?.line, 4);
    assert.equal(byField["resource_limits.max_proceses"]?.line, 5);
    assert.match(byField["resource_limits.max_proceses"]!.message, /did you mean 'max_processes'/);
    writeFileSync(file, "agent_id: cmd\nworkspace: /w\nkind: command\n");
    assert.deepEqual((await problemsOf(file)).map((p) => [p.field, p.message]), [["command", "is required when kind is 'command'"]]);
  });

  it("locates problems in JSON and TOML, and syntax errors with their position", async () => {
    const { dir } = scratch();
    writeFileSync(join(dir, "bad.json"), '{\n  "agent_id": "ok",\n  "workspace": "/w",\n  "ttl_seconds": -1\n}\n');
    assert.deepEqual((await problemsOf(join(dir, "bad.json"))).map((p) => [p.field, p.line]), [["ttl_seconds", 4]]);
    writeFileSync(join(dir, "bad.toml"), 'agent_id = "ok"\nworkspace = "/w"\n\n[resource_limits]\nmemory_mb = 1\n');
    assert.deepEqual((await problemsOf(join(dir, "bad.toml"))).map((p) => [p.field, p.line]), [["resource_limits.memory_mb", 5]]);
    writeFileSync(join(dir, "syntax.json"), '{\n  "agent_id": "ok",\n  "workspace": "/w",\n}\n');
    const [syntax] = (await problemsOf(join(dir, "syntax.json")));
    assert.match(syntax!.message, /invalid JSON/);
    assert.equal(syntax!.line, 4);
    writeFileSync(join(dir, "syntax.toml"), 'agent_id = "ok"\nworkspace = \n');
    assert.equal((await problemsOf(join(dir, "syntax.toml")))[0]!.line, 2);
  });

  it("refuses mounts over the paths paddock builds, and unknown formats", async () => {
    const { dir } = scratch();
    writeFileSync(join(dir, "m.yaml"), "agent_id: m\nworkspace: /w\nmounts:\n  - { source: /etc, target: /workspace/etc }\n");
    assert.equal((await problemsOf(join(dir, "m.yaml")))[0]!.field, "mounts[0].target");
    writeFileSync(join(dir, "card.ini"), "agent_id=x");
    assert.match((await problemsOf(join(dir, "card.ini")))[0]!.message, /unknown card format/);
  });
});

describe("paddock card", () => {
  it("validate prints every problem with file:line and exits 1; valid cards exit 0", async () => {
    const { dir } = scratch();
    writeFileSync(join(dir, "bad.yaml"), "agent_id: x\nworkspce: /w\n");
    const bad = await paddock(["card", "validate", "--schema-only", join(SEEDS, "alpha-001.json"), join(dir, "bad.yaml")]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /alpha-001\.json: ok \(alpha-001\)/);
    assert.match(bad.stderr, /bad\.yaml:2:1: workspce: unknown field \(did you mean 'workspace'\?\)/);
    assert.match(bad.stderr, /bad\.yaml:1:1: workspace: is required/);
    // The seeds' workspaces are on their authors' hosts: checked as cards alone.
    const good = await paddock(["card", "validate", "--schema-only", "--json", ...readdirSync(SEEDS).map((f) => join(SEEDS, f))]);
    assert.equal(good.code, 0, good.stderr);
    const results = JSON.parse(good.stdout) as Array<{ valid: boolean }>;
    assert.ok(results.every((r) => r.valid));
  });

  it("validate checks the card against this host: a tool not installed, a missing workspace or mount source, each at its line", async () => {
    const { dir } = scratch();
    writeFileSync(join(dir, "host.yaml"), `agent_id: h\nworkspace: ${join(dir, "nowhere")}\ntools:\n  - sh\n  - no-such-tool-here\nmounts:\n  - { source: ${join(dir, "gone")}, target: /data }\n`);
    const r = await paddock(["card", "validate", join(dir, "host.yaml")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /host\.yaml:2:\d+: workspace: .*nowhere does not exist/);
    assert.match(r.stderr, /host\.yaml:5:\d+: tools\[1\]: unknown tool 'no-such-tool-here'/);
    assert.match(r.stderr, /host\.yaml:7:\d+: mounts\[0\]\.source: .*gone does not exist/);
    assert.equal((await paddock(["card", "validate", "--schema-only", join(dir, "host.yaml")])).code, 0);
  });

  it("refuses wildcards over a public suffix, and wants shared suffixes acknowledged (then warns)", async () => {
    const { dir } = scratch();
    const card = (hosts: string[], extra = "") => {
      writeFileSync(join(dir, "w.yaml"), `agent_id: w\nworkspace: ${dir}\ntools: [sh]\nallowed_hosts:\n${hosts.map((h) => `  - "${h}"\n`).join("")}${extra}`);
      return paddock(["card", "validate", join(dir, "w.yaml")]);
    };
    for (const rule of ["*.com", "*.co.uk"]) {
      const r = await card(["api.example.com", rule]);
      assert.equal(r.code, 1, rule);
      assert.match(r.stderr, new RegExp(`w\\.yaml:6:\\d+: allowed_hosts\\[1\\]: '\\${rule}' covers the public suffix '${rule.slice(2).replace(".", "\\.")}'`));
    }
    const shared = await card(["*.github.io"]);
    assert.equal(shared.code, 1);
    assert.match(shared.stderr, /allowed_hosts\[0\]: '\*\.github\.io' covers 'github\.io', a suffix where anyone can publish .* add 'github\.io' to acknowledge_shared_suffixes/);
    const acknowledged = await card(["*.github.io", "*.example.com", "*.internal"], "acknowledge_shared_suffixes: [github.io]\n");
    assert.equal(acknowledged.code, 0, acknowledged.stderr);
    assert.match(acknowledged.stderr, /w\.yaml:5:\d+: allowed_hosts\[0\]: warning: '\*\.github\.io' lets the agent reach every site published under github\.io/);
  });

  it("checks a token budget and its window, each at its line, and warns of a window without a budget", async () => {
    const { dir } = scratch();
    const card = (extra: string) => {
      writeFileSync(join(dir, "b.yaml"), `agent_id: b\nworkspace: ${dir}\ntools: [sh]\n${extra}`);
      return paddock(["card", "validate", join(dir, "b.yaml")]);
    };
    const bad = await card("max_tokens_budget: 0\nbudget_duration: 1 day\n");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /b\.yaml:4:\d+: max_tokens_budget: /);
    assert.match(bad.stderr, /b\.yaml:5:\d+: budget_duration: must look like 30s, 15m, 24h or 30d/);
    const good = await card("max_tokens_budget: 200000\nbudget_duration: 1d\n");
    assert.equal(good.code, 0, good.stderr);
    const idle = await card("budget_duration: 1d\n");
    assert.equal(idle.code, 0, idle.stderr);
    assert.match(idle.stderr, /b\.yaml:4:\d+: budget_duration: warning: has no effect without max_tokens_budget/);
  });

  it("checks caches: folders inside the workspace, each once, each at its line", async () => {
    const { dir } = scratch();
    writeFileSync(join(dir, "c.yaml"), `agent_id: c\nworkspace: ${dir}\ntools: [sh]\ncaches:\n  - ../outside\n  - /abs\n  - ./\n`);
    const bad = await paddock(["card", "validate", join(dir, "c.yaml")]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /c\.yaml:5:\d+: caches\[0\]: must be a path inside the workspace/);
    assert.match(bad.stderr, /c\.yaml:6:\d+: caches\[1\]: must be a path inside the workspace/);
    assert.match(bad.stderr, /c\.yaml:7:\d+: caches\[2\]: must name a folder inside the workspace, not the workspace itself/);
    writeFileSync(join(dir, "d.yaml"), `agent_id: d\nworkspace: ${dir}\ntools: [sh]\ncaches: [node_modules, node_modules/]\n`);
    const twice = await paddock(["card", "validate", join(dir, "d.yaml")]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /d\.yaml:4:\d+: caches: lists a folder twice/);
    writeFileSync(join(dir, "e.yaml"), `agent_id: e\nworkspace: ${dir}\ntools: [sh]\ncaches: [node_modules, .gradle, build/cache]\n`);
    const good = await paddock(["card", "validate", join(dir, "e.yaml")]);
    assert.equal(good.code, 0, good.stderr);
  });

  it("schema prints the JSON Schema generated from the validating schema", async () => {
    const out = await paddock(["card", "schema"]);
    assert.equal(out.code, 0);
    const schema = JSON.parse(out.stdout) as { required: string[]; properties: Record<string, { pattern?: string; default?: unknown }> };
    assert.deepEqual(schema.required.sort(), ["agent_id", "workspace"]);
    assert.equal(schema.properties.agent_id!.pattern, "^[a-z0-9-]+$");
    assert.equal(schema.properties.ttl_seconds!.default, 0);
    assert.equal(schema.properties.proxy!.default, "http://127.0.0.1:3128");
  });

  it("has --help on every command", async () => {
    for (const args of [[], ["card"], ["card", "validate"], ["card", "schema"], ["exec"]]) {
      const out = await paddock([...args, "--help"]);
      assert.equal(out.code, 0, `${args.join(" ")} --help`);
      assert.match(out.stdout, /Usage: paddock/);
    }
  });

  it("checks cluster.workspace and warm: one source, https through an allowed host, no workspace for a warm pod; each at its line", async () => {
    const { dir } = scratch();
    const file = join(dir, "c.yaml");
    const check = async (body: string) => Object.fromEntries((await problemsOf((writeFileSync(file, `agent_id: c\nworkspace: /w\n${body}`), file))).map((p) => [p.field, p]));
    let byField = await check("allowed_hosts: [github.com]\ncluster:\n  workspace:\n    pvc: Bad_Claim\n    ref: main\n");
    assert.match(byField["cluster.workspace.pvc"]!.message, /PersistentVolumeClaim's name/);
    assert.equal(byField["cluster.workspace.pvc"]!.line, 6);
    assert.match(byField["cluster.workspace.ref"]!.message, /needs git/);
    byField = await check("cluster:\n  workspace: {}\n");
    assert.match(byField["cluster.workspace"]!.message, /exactly one of pvc and git/);
    byField = await check("cluster:\n  workspace:\n    git: http://github.com/o/r.git\n");
    assert.match(byField["cluster.workspace.git"]!.message, /https:\/\/ URL/);
    byField = await check("allowed_hosts: [github.com]\ncluster:\n  workspace:\n    git: https://x-access-token:ghp_secret@github.com/o/r.git\n");
    assert.match(byField["cluster.workspace.git"]!.message, /must not carry a user or key: name the key in credentials/);
    byField = await check("allowed_hosts: [pypi.org]\ncluster:\n  workspace:\n    git: https://github.com/o/r.git\n");
    assert.match(byField["cluster.workspace.git"]!.message, /add "github.com" to allowed_hosts/);
    assert.equal(byField["cluster.workspace.git"]!.line, 6);
    byField = await check("warm: 2\ncluster:\n  workspace:\n    pvc: ws\n");
    assert.match(byField["warm"]!.message, /a warm pod starts before its agent/);
    assert.equal(byField["warm"]!.line, 3);
    writeFileSync(file, "agent_id: c\nworkspace: /w\nallowed_hosts: ['*.github.com', github.com]\nwarm: 3\ncluster:\n  workspace:\n    git: https://github.com/o/r.git\n    ref: release/1.2\n");
    await assert.rejects(loadCard(file), /warm/);
    writeFileSync(file, "agent_id: c\nworkspace: /w\nallowed_hosts: [github.com]\ncluster:\n  workspace:\n    git: https://github.com/o/r.git\n    ref: release/1.2\n");
    assert.deepEqual((await loadCard(file)).card.cluster, { workspace: { git: "https://github.com/o/r.git", ref: "release/1.2" } });
  });
});
