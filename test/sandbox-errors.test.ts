import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CLI, paddock, paddockCgroups, run, scratch, cardMaker } from "./helpers.js";

const { dir, env } = scratch();
const workspace = join(dir, "ws");
mkdirSync(workspace, { recursive: true });

const card = cardMaker(dir, { workspace, tools: ["sh", "coreutils"] });

function assertNothingLeft(): void {
  assert.deepEqual(paddockCgroups(), [], "a cgroup was left behind");
  const sandboxes = join(env.PADDOCK_HOME!, "run", "sandboxes");
  assert.deepEqual(safeList(sandboxes), [], "a sandbox folder was left behind");
}

function safeList(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

describe("paddock exec: bad input is refused clearly and leaves nothing behind", () => {
  it("an invalid card: every problem with file and line, exit 125", async () => {
    const file = join(dir, "broken.yaml");
    writeFileSync(file, `agent_id: Nope\nworkspace: ${workspace}\nresource_limits:\n  memory_mb: -5\n`);
    const r = await paddock(["exec", "--card", file, "--", "true"], { env });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /broken\.yaml:1:1: agent_id: must match/);
    assert.match(r.stderr, /broken\.yaml:4:3: resource_limits\.memory_mb: /);
    assertNothingLeft();
  });

  it("a missing workspace: says which and how to create it", async () => {
    const r = await paddock(["exec", "--card", card("lost", { workspace: join(dir, "nowhere") }), "--", "true"], { env });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /workspace: .*nowhere does not exist/);
    assert.match(r.stderr, /hint: create it \(mkdir -p /);
    assertNothingLeft();
  });

  it("an unknown tool: names it and lists the known bundles", async () => {
    const r = await paddock(["exec", "--card", card("toolless", { tools: ["sh", "frobnicate-9000"] }), "--", "true"], { env });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /tools: frobnicate-9000: unknown tool 'frobnicate-9000'/);
    assert.match(r.stderr, /known bundles: .*coreutils/);
    assertNothingLeft();
  });

  it("a command that does not exist inside: the runtime's message and its status", async () => {
    const r = await paddock(["exec", "--card", card("nocmd"), "--", "perl", "-e", "1"], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /perl: No such file or directory/);
    assertNothingLeft();
  });

  it("a host without bubblewrap: says how to install it", async () => {
    // Hide the real bwrap in a private mount namespace, as on a host that never installed it.
    const script = `mount --bind /dev/null "$(command -v bwrap)" && exec "$@"`;
    const r = await run(["unshare", "-m", "sh", "-c", script, "sh", process.execPath, CLI, "exec", "--card", card("nobwrap"), "--", "true"], { env });
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /bwrap is not installed/);
    assert.match(r.stderr, /apt-get install bubblewrap/);
    assertNothingLeft();
  });

  it("a host without user namespaces: names the switch and how to turn it on", async () => {
    // user.max_user_namespaces is per user namespace: setting it to 0 in a child namespace makes that host-in-miniature.
    const script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"';
    const file = card("nouserns");
    const r = await run(["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", process.execPath, CLI, "exec", "--allow-unenforced-limits", "--card", file, "--", "true"], { env });
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /user namespaces are disabled on this host \(user\.max_user_namespaces = 0\)/);
    assert.match(r.stderr, /hint: enable them: sysctl -w user\.max_user_namespaces=/);
    assertNothingLeft();
  });

  it("a user who cannot write cgroups: refuses, naming each limit and why; runs with --allow-unenforced-limits", async () => {
    // A real unprivileged user: bwrap works for it through user namespaces, cgroups do not.
    chmodSync(dir, 0o777);
    chmodSync(workspace, 0o777);
    const nobodyHome = join(dir, "nobody-home");
    mkdirSync(nobodyHome, { mode: 0o777 });
    chmodSync(nobodyHome, 0o777);
    const asNobody = (args: string[]) =>
      run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, CLI, ...args], { env: { ...env, PADDOCK_HOME: nobodyHome } });
    const file = card("unprivileged");
    chmodSync(file, 0o644);
    const refused = await asNobody(["exec", "--card", file, "--", "true"]);
    assert.equal(refused.code, 125, refused.stderr);
    assert.match(refused.stderr, /cannot enforce memory_mb, cpu_shares, max_processes: cannot create cgroups under \S+ \(EACCES\) as uid 65534/);
    assert.match(refused.stderr, /--allow-unenforced-limits/);
    const allowed = await asNobody(["exec", "--allow-unenforced-limits", "--card", file, "--", "sh", "-c", "id -u; echo ok > /workspace/by-nobody"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(allowed.stdout, "1000\n");
    assert.match(allowed.stderr, /warning: resource_limits\.memory_mb is not enforced/);
    assertNothingLeft();
  });

  it("exec without any command, or read-only without --output: clear errors; with none given, the card's own command", async () => {
    const none = await paddock(["exec", "--card", card("idle", { kind: "opencode", command: undefined })], { env });
    assert.equal(none.code, 125);
    assert.match(none.stderr, /command: no command to run: give one after `--`, or set `command` in the card/);
    const own = await paddock(["exec", "--card", card("self", { command: ["sh", "-c", "echo from the card"] })], { env });
    assert.equal(own.stdout, "from the card\n");
    const ro = await paddock(["exec", "--card", card("idle"), "--read-only-workspace", "--", "true"], { env });
    assert.equal(ro.code, 2);
    assert.match(ro.stderr, /--read-only-workspace needs --output/);
  });
});
