import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { paddock, paddockCgroups, scratch, cardMaker } from "./helpers.js";

const { dir, env } = scratch();
const workspace = join(dir, "ws");
mkdirSync(workspace, { recursive: true });
const secret = `gvisor-secret-${process.pid}`;
writeFileSync(join(dir, "outside.txt"), secret);

const card = cardMaker(dir, {
  workspace,
  backend: "gvisor",
  tools: ["sh", "coreutils", "grep"],
  resource_limits: { memory_mb: 256, max_processes: 20 },
});

// These run on the current runsc that .ci/peers builds (scratch() names it in PADDOCK_RUNSC).
describe("sandbox: the gvisor backend keeps the same contract", () => {
  it("runs the command with the workspace, the card's environment and its exit status", async () => {
    const r = await paddock(["exec", "--card", card("gv-basic", { environment: { GREETING: "hi" } }), "--", "sh", "-c", 'echo "$GREETING" > /workspace/g.txt; echo "$AGENT_ID"; exit 3'], {
      env: { ...env, PARENT_SECRET: secret },
    });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "gv-basic\n");
    assert.equal(readFileSync(join(workspace, "g.txt"), "utf8"), "hi\n");
  });

  it("writes every line when stdout is a regular file", async () => {
    const { run, CLI } = await import("./helpers.js");
    const out = join(dir, "out.txt");
    const file = card("gv-file");
    const r = await run(["sh", "-c", `"${process.execPath}" "${CLI}" exec --card "${file}" -- sh -c 'echo one; echo two; echo three' > "${out}"`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(out, "utf8"), "one\ntwo\nthree\n");
  });

  it("shows nothing of the host but the layout, has no capabilities and no network", async () => {
    const r = await paddock(
      ["exec", "--card", card("gv-attack"), "--", "sh", "-c", `cat ${join(dir, "outside.txt")}; env; grep CapEff /proc/self/status; echo x > /escaped; cat /etc/resolv.conf`],
      { env: { ...env, PARENT_SECRET: secret } },
    );
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret));
    assert.match(r.stderr, /outside\.txt: No such file or directory/);
    assert.match(r.stdout, /CapEff:\s+0000000000000000/);
    assert.match(r.stderr, /\/escaped: Read-only file system/);
    assert.match(r.stderr, /resolv\.conf: No such file or directory/);
    assert.ok(!existsSync("/escaped"));
  });

  it("enforces max_processes, memory_mb and ttl_seconds with the same exit causes", async () => {
    const forks = await paddock(["exec", "--card", card("gv-fork"), "--", "sh", "-c", 'n=0; while [ $n -lt 100 ]; do sleep 2 & n=$((n+1)); done; echo "started=$n"'], { env });
    assert.match(forks.stderr, /Cannot fork/);
    assert.doesNotMatch(forks.stdout, /started=100/);

    const report = join(dir, "gv-oom.json");
    const oom = await paddock(["exec", "--report", report, "--card", card("gv-oom"), "--", "sh", "-c", "head -c 1024M /dev/zero | tail -n 1 >/dev/null"], { env });
    assert.equal(oom.code, 137, oom.stderr);
    assert.equal((JSON.parse(readFileSync(report, "utf8")) as { cause: string }).cause, "oom");

    const ttl = await paddock(["exec", "--card", card("gv-ttl", { ttl_seconds: 1 }), "--", "sleep", "30"], { env });
    assert.equal(ttl.code, 124, ttl.stderr);
    assert.deepEqual(paddockCgroups(), []);
  });

  it("runs the agent as uid 1000, lists directories, runs git status, and filters system calls as under bwrap", async () => {
    const file = card("gv-git", { tools: ["sh", "coreutils", "grep", "git"] });
    const r = await paddock(["exec", "--card", file, "--", "sh", "-c", "echo uid=$(id -u); ls / && cd /workspace && rm -rf repo && git init -q repo && cd repo && echo x > a && git status --short && grep Seccomp: /proc/self/status"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^uid=1000$/m);
    assert.equal(statSync(join(workspace, "repo", "a")).uid, process.getuid!(), "what it writes is paddock's on the host, as under bwrap");
    assert.match(r.stdout, /^workspace$/m);
    assert.match(r.stdout, /^\?\? a$/m);
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
  });

  it("refuses a runsc that cannot list a directory on this kernel, and says how to fix it", async () => {
    // Debian's runsc (2022), which .ci/run installs, starts on this kernel but fails every listing: the ground truth comes from running it.
    const debian = "/usr/bin/runsc";
    assert.ok(existsSync(debian), "Debian's runsc package is needed for this test (.ci/run installs it)");
    const state = join(dir, "runsc-state");
    mkdirSync(state, { recursive: true });
    const truth = spawnSync(debian, ["--root", state, "--network=none", "do", "ls", "/"], { encoding: "utf8", timeout: 60_000 });
    const r = await paddock(["exec", "--card", card("gv-broken"), "--", "true"], { env: { ...env, PADDOCK_RUNSC: debian } });
    if (truth.status === 0 && /\bbin\b/.test(truth.stdout)) {
      assert.equal(r.code, 0, `this runsc lists directories here, so paddock must run it: ${r.stderr}`);
    } else {
      assert.equal(r.code, 125);
      assert.match(r.stderr, /runsc cannot list a directory on this kernel/);
      assert.match(r.stderr, /hint: install a current gVisor release/);
    }
  });
});
