import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { planCgroups } from "../src/cgroups/index.js";
import { cardMaker, paddock, paddockCgroups, scratch } from "./helpers.js";

const LIMITS = { memoryBytes: 64 << 20, cpuShares: 1024, maxProcesses: 16 };

/** Cgroups made under another parent than this test file's, as a crash or the user's own paddock leaves them. */
function under(parent: string) {
  const saved = process.env.PADDOCK_CGROUP_PARENT;
  process.env.PADDOCK_CGROUP_PARENT = parent;
  try {
    return planCgroups();
  } finally {
    process.env.PADDOCK_CGROUP_PARENT = saved;
  }
}

describe("cgroups: each paddock looks after its own", () => {
  const { dir, env } = scratch();
  const workspace = join(dir, "ws");
  mkdirSync(workspace);
  const card = cardMaker(dir, { workspace, tools: ["sh", "coreutils"] });

  it("a cgroup another paddock left (under the default parent) neither breaks a run nor is touched by it", async () => {
    const other = under("paddock");
    const stray = other.create(`stray-${process.pid}`, LIMITS)!;
    try {
      const r = await paddock(["exec", "--card", card("own"), "--", "true"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(paddockCgroups(), [], "this file's own parent is empty again");
      assert.ok(stray.dirs.every((d) => existsSync(d)), "the other paddock's cgroup is still there");
    } finally {
      await stray.remove();
    }
  });

  it("paddock gc removes the empty ones and lists, without touching, those with processes", async () => {
    const parent = `paddock-gc-${process.pid}`;
    const plan = under(parent);
    const empty = plan.create("left-empty", LIMITS)!;
    const busy = plan.create("left-busy", LIMITS)!;
    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    for (const f of busy.procsFiles) writeFileSync(f, String(sleeper.pid));
    const gcEnv = { ...env, PADDOCK_CGROUP_PARENT: parent };
    try {
      const r = await paddock(["gc", "--json"], { env: gcEnv });
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as { removed: string[]; empty_cgroups: string[]; in_use: unknown[] };
      assert.deepEqual([result.removed, result.empty_cgroups, result.in_use], [["cgroup left-empty"], ["left-empty"], [{ name: "left-busy", pids: [sleeper.pid] }]]);
      assert.ok(empty.dirs.every((d) => !existsSync(d)));
      assert.equal(sleeper.exitCode, null, "the process in the busy cgroup still runs");
      sleeper.kill("SIGKILL");
      await new Promise((resolve) => sleeper.once("exit", resolve));
      const again = await paddock(["gc"], { env: gcEnv });
      assert.match(again.stdout, /^removed cgroup left-busy$/m);
      assert.ok(busy.dirs.every((d) => !existsSync(d)));
    } finally {
      sleeper.kill("SIGKILL");
      await busy.remove().catch(() => undefined);
      for (const p of plan.parents) if (existsSync(p)) rmdirSync(p);
    }
  });

  it("refuses a PADDOCK_CGROUP_PARENT that is neither a folder name nor a path, and says what it wants", async () => {
    const r = await paddock(["exec", "--card", card("bad-parent"), "--", "true"], { env: { ...env, PADDOCK_CGROUP_PARENT: "../escape" } });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /PADDOCK_CGROUP_PARENT=\.\.\/escape is neither a folder name nor an absolute cgroup v2 path/);
  });
});
